//! Failed sign-ins (K12_LOGIN_LOCKOUT): one address that guesses wrong is refused for
//! that account, the owner elsewhere still signs in, the lock expires, and failures from
//! many addresses slow the account and alert its admins. Addresses are set through
//! X-Forwarded-For from the loopback peer, which these apps trust as their proxy.

use std::time::{Duration, Instant};

use platform::config::Environment;
use platform::ratelimit::{LoginLockout, TrustedProxies};
use serde_json::{json, Value};
use testkit::{generous_limits, TestApp};

const PASSWORD: &str = "correct-horse-battery";

async fn app_with_lockout(lockout: &str) -> TestApp {
    let mut limits = generous_limits();
    limits.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    limits.lockout = LoginLockout::parse(lockout).unwrap();
    TestApp::spawn_with_limits(Environment::Development, limits, None).await
}

async fn login_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
) -> (u16, Option<String>, Value) {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .header("x-forwarded-for", ip)
        .json(&json!({"tenant": "alpha", "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

async fn events(app: &TestApp, tenant: i64, kind: &str) -> Vec<Value> {
    let mut tx = app.tenant_tx(tenant).await;
    let rows: Vec<(Value,)> =
        sqlx::query_as("SELECT metadata FROM audit_logs WHERE event_type = $1 ORDER BY id")
            .bind(kind)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn wrong_passwords_lock_out_that_address_only() {
    let app = app_with_lockout("10/900").await;
    let t = app.create_tenant("alpha", None).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    let attacker = "203.0.113.66";
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(
            login_from(&app, attacker, &user.email, "wrong-password")
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429; 10]);

    let (s, retry, body) = login_from(&app, attacker, &user.email, PASSWORD).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((800..=900).contains(&retry), "{retry}");

    let (s, _, body) = login_from(&app, "198.51.100.7", &user.email, PASSWORD).await;
    assert_eq!(s, 200, "the owner signs in from elsewhere: {body}");

    let locked = events(&app, t, "auth.login_locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0]["ip"], attacker);
    assert_eq!(locked[0]["email"], user.email);
}

#[tokio::test]
async fn the_lock_expires_after_the_period() {
    let app = app_with_lockout("3/2").await;
    app.create_tenant("alpha", None).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    for _ in 0..3 {
        assert_eq!(
            login_from(&app, "203.0.113.5", &user.email, "nope-nope-nope")
                .await
                .0,
            401
        );
    }
    assert_eq!(
        login_from(&app, "203.0.113.5", &user.email, PASSWORD)
            .await
            .0,
        429
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let (s, _, body) = login_from(&app, "203.0.113.5", &user.email, PASSWORD).await;
    assert_eq!(s, 200, "{body}");
    // A success starts that address afresh.
    assert_eq!(
        login_from(&app, "203.0.113.5", &user.email, "nope-nope-nope")
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn failures_from_many_addresses_slow_the_account_and_alert_admins() {
    let app = app_with_lockout("4/900").await;
    let t = app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    for i in 1..=6 {
        let ip = format!("203.0.113.{i}");
        assert_eq!(
            login_from(&app, &ip, &user.email, "wrong-password").await.0,
            401
        );
    }
    // Six failures from six addresses: nobody is locked out, but every attempt waits.
    let started = Instant::now();
    let (s, _, body) = login_from(&app, "198.51.100.200", &user.email, PASSWORD).await;
    let waited = started.elapsed();
    assert_eq!(s, 200, "{body}");
    assert!(
        waited >= Duration::from_millis(200),
        "no delay observed: {waited:?}"
    );

    let alerts = events(&app, t, "login.suspicious").await;
    assert_eq!(alerts.len(), 1, "one alert per window: {alerts:?}");
    assert_eq!(alerts[0]["email"], user.email);
    assert!(alerts[0]["addresses"].as_i64().unwrap() >= 2);
    assert!(events(&app, t, "auth.login_locked").await.is_empty());

    // The school's admins see it in their audit log.
    let (s, log) = app
        .get("/api/v1/admin/audit_logs?limit=200", &admin.token)
        .await;
    assert_eq!(s, 200, "{log}");
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "login.suspicious"),
        "{log}"
    );
}

#[tokio::test]
async fn operators_are_locked_out_per_address_too() {
    let app = app_with_lockout("3/900").await;
    app.create_operator("ops@example.org").await;
    let login = |ip: &'static str, password: &'static str| {
        app.client
            .post(format!("{}/api/v1/operator/login", app.base_url))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": "ops@example.org", "password": password}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            login("203.0.113.9", "wrong-password")
                .await
                .unwrap()
                .status(),
            401
        );
    }
    assert_eq!(login("203.0.113.9", PASSWORD).await.unwrap().status(), 429);
    assert_eq!(login("198.51.100.1", PASSWORD).await.unwrap().status(), 200);
    let mut sys = app.pool().system().await.unwrap();
    let (locked,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM platform_audit_logs WHERE event_type = 'operator.login_locked'",
    )
    .fetch_one(&mut *sys)
    .await
    .unwrap();
    assert_eq!(locked, 1);
}
