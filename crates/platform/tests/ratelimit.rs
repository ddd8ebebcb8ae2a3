//! Rate limits through the real router: the JSON 429, Retry-After and the RateLimit
//! headers, the named `auth` limit on the sign-in routes, trusted-proxy X-Forwarded-For,
//! and two API instances sharing one limit through a real Redis that may die.

use platform::config::Environment;
use platform::ratelimit::{Limit, RateLimiter, Settings, TrustedProxies};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use testkit::{generous_limits, RedisServer, TestApp};

fn limits(overrides: &str) -> Settings {
    let mut s = generous_limits();
    s.quotas = s.quotas.with_overrides(overrides).unwrap();
    s
}

async fn get(app: &TestApp, path: &str, forwarded_for: Option<&str>) -> (u16, HeaderMap, Value) {
    let mut req = app.client.get(format!("{}{path}", app.base_url));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, HeaderMap, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn api_limit_answers_json_429_with_retry_after_and_ratelimit_headers() {
    let app = TestApp::spawn_with_limits(Environment::Development, limits("api=3/60"), None).await;
    for remaining in [2, 1, 0] {
        let (s, h, _) = get(&app, "/api/v1/health", None).await;
        assert_eq!(s, 200);
        assert_eq!(header(&h, "ratelimit-policy"), "\"api\";q=3;w=60");
        let state = header(&h, "ratelimit");
        assert!(
            state.starts_with(&format!("\"api\";r={remaining};t=")),
            "{state}"
        );
    }
    let (s, h, body) = get(&app, "/api/v1/health", None).await;
    assert_eq!(s, 429);
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let retry: u64 = header(&h, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "one request's worth: {retry}");
    assert_eq!(body["error"]["details"]["retry_after_secs"], retry);
    assert_eq!(header(&h, "ratelimit-policy"), "\"api\";q=3;w=60");
    assert!(header(&h, "ratelimit").starts_with("\"api\";r=0;t="));
    assert!(
        h.get("x-request-id").is_some(),
        "429s are traced like the rest"
    );
    // Unknown routes under /api/v1 count too; the limit is per client, and still full.
    let (s, _, _) = get(&app, "/api/v1/nothing-here", None).await;
    assert_eq!(s, 429);
}

#[tokio::test]
async fn auth_limit_covers_login_setup_and_operator_login_together() {
    let app = TestApp::spawn_with_limits(
        Environment::Development,
        limits("auth=3/60,api=1000/60"),
        None,
    )
    .await;
    let wrong_login =
        json!({"tenant": "nowhere", "email": "a@b.test", "password": "wrong-password"});
    let (s, h, _) = post(&app, "/api/v1/auth/login", wrong_login.clone()).await;
    assert_eq!(s, 401);
    assert_eq!(
        header(&h, "ratelimit-policy"),
        "\"auth\";q=3;w=60, \"api\";q=1000;w=60",
        "both limits the request was counted against"
    );
    assert!(header(&h, "ratelimit").starts_with("\"auth\";r=2;t="));
    let (s, _, _) = post(
        &app,
        "/api/v1/operator/login",
        json!({"email": "o@b.test", "password": "wrong-password"}),
    )
    .await;
    assert_eq!(s, 401);
    let setup = json!({"token": "k12s_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                       "password": "violet cactus juggles quietly"});
    let (s, _, _) = post(&app, "/api/v1/auth/setup", setup.clone()).await;
    assert_eq!(s, 401);
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/setup",
        "/api/v1/operator/login",
    ] {
        let body = if path.ends_with("setup") {
            setup.clone()
        } else {
            wrong_login.clone()
        };
        let (s, h, b) = post(&app, path, body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (429, Some("rate_limited")),
            "{path}"
        );
        assert!(h.get("retry-after").is_some());
        assert!(header(&h, "ratelimit").starts_with("\"auth\";r=0;"));
    }
    // Routes without the auth limit are not affected.
    assert_eq!(get(&app, "/api/v1/health", None).await.0, 200);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let mut behind_proxy = limits("api=2/60");
    behind_proxy.trusted_proxies = TrustedProxies::parse("127.0.0.1/32").unwrap();
    let app = TestApp::spawn_with_limits(Environment::Development, behind_proxy, None).await;
    for _ in 0..2 {
        assert_eq!(
            get(&app, "/api/v1/health", Some("203.0.113.1")).await.0,
            200
        );
    }
    assert_eq!(
        get(&app, "/api/v1/health", Some("203.0.113.1")).await.0,
        429
    );
    assert_eq!(
        get(&app, "/api/v1/health", Some("203.0.113.2")).await.0,
        200,
        "another client behind the proxy has its own budget"
    );
    assert_eq!(
        get(&app, "/api/v1/health", Some("203.0.113.1, 203.0.113.3"))
            .await
            .0,
        200,
        "the right-most untrusted entry counts, not what the client wrote before it"
    );

    // The same requests straight from an untrusted peer: the header proves nothing.
    let direct =
        TestApp::spawn_with_limits(Environment::Development, limits("api=2/60"), None).await;
    assert_eq!(
        get(&direct, "/api/v1/health", Some("203.0.113.1")).await.0,
        200
    );
    assert_eq!(
        get(&direct, "/api/v1/health", Some("203.0.113.2")).await.0,
        200
    );
    assert_eq!(
        get(&direct, "/api/v1/health", Some("203.0.113.3")).await.0,
        429
    );
}

#[tokio::test]
async fn the_forwarded_client_address_is_what_audit_rows_record() {
    let mut behind_proxy = generous_limits();
    behind_proxy.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
    let app = TestApp::spawn_with_limits(Environment::Development, behind_proxy, None).await;
    let t = app.create_tenant("alpha", None).await;
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .header("x-forwarded-for", "198.51.100.23")
        .json(&json!({"tenant": "alpha", "email": "x@alpha.test", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let mut tx = app.tenant_tx(t).await;
    let (ip,): (String,) = sqlx::query_as("SELECT host(ip) FROM audit_logs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(ip, "198.51.100.23");
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_limit() {
    let redis = RedisServer::start();
    let url = redis.url();
    let a =
        TestApp::spawn_with_limits(Environment::Development, limits("api=10/60"), Some(&url)).await;
    let b =
        TestApp::spawn_with_limits(Environment::Development, limits("api=10/60"), Some(&url)).await;
    let mut allowed = 0;
    let mut refused = 0;
    for i in 0..40 {
        let app = if i % 2 == 0 { &a } else { &b };
        match get(app, "/api/v1/health", None).await.0 {
            200 => allowed += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        (10..=11).contains(&allowed),
        "one limit of 10 across both instances, overshoot at most one: {allowed} allowed"
    );
    assert_eq!(allowed + refused, 40);

    // Concurrently, too: two limiters at once, one budget.
    let limiter_a = RateLimiter::with_redis(limits("ai=10/60"), &url).unwrap();
    let limiter_b = RateLimiter::with_redis(limits("ai=10/60"), &url).unwrap();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let limiter = if i % 2 == 0 {
            limiter_a.clone()
        } else {
            limiter_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            limiter.check(Limit::Ai, "user:1:1").await.allowed
        }));
    }
    let mut concurrent_allowed = 0;
    for t in tasks {
        concurrent_allowed += usize::from(t.await.unwrap());
    }
    assert!(
        (10..=11).contains(&concurrent_allowed),
        "{concurrent_allowed} allowed concurrently"
    );
    assert!(limiter_a.is_healthy());
}

#[tokio::test]
async fn redis_dying_mid_test_fails_open_without_5xx() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let app =
        TestApp::spawn_with_limits(Environment::Development, limits("api=5/60"), Some(&url)).await;
    let limiter = RateLimiter::with_redis(limits("api=5/60"), &url).unwrap();
    assert!(limiter.check(Limit::Ai, "k").await.allowed);
    for _ in 0..3 {
        assert_eq!(get(&app, "/api/v1/health", None).await.0, 200);
    }
    redis.kill();
    for i in 0..20 {
        let (s, _, body) = get(&app, "/api/v1/health", None).await;
        assert_eq!(s, 200, "request {i} after Redis died: {body}");
    }
    let d = limiter.check(Limit::Ai, "k").await;
    assert!(d.allowed, "fails open");
    let health = limiter.health();
    assert_eq!(health.backend, "redis");
    assert!(!health.healthy);
    assert!(health.last_error.is_some());

    // A Redis that was never there: the limiter starts and lets requests through.
    let nowhere =
        RateLimiter::with_redis(Settings::defaults(Environment::Production), &url).unwrap();
    assert!(nowhere.check(Limit::Auth, "ip:1.2.3.4").await.allowed);
    assert!(!nowhere.is_healthy());
}
