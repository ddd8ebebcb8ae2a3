//! The request path's database use (issue 11): a GET runs its session lookup and its
//! handler in one tenant transaction, a request never holds two connections because of
//! that, and a pooled connection that died while idle (no ping before use) answers a
//! JSON 503 with `Retry-After` at worst — never a 500 — and leaves the pool.

use std::time::Duration;

use platform::config::PoolConfig;
use platform::db::{Db, TenantId};
use sqlx::Connection;
use testkit::{TestApp, TestDb};

async fn txid(tx: &mut platform::db::TenantTx) -> i64 {
    sqlx::query_scalar("SELECT txid_current()")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

async fn tenant_setting(tx: &mut platform::db::TenantTx) -> String {
    sqlx::query_scalar("SELECT current_setting('app.tenant_id')")
        .fetch_one(&mut **tx)
        .await
        .unwrap()
}

/// A pool of one connection: anything that needed a second would wait out the acquire
/// timeout and fail.
fn one_connection(test_db: &TestDb) -> Db {
    Db::connect_lazy(
        &test_db.app_url(),
        &PoolConfig {
            size: 1,
            acquire_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_handed_on_transaction_is_continued_for_its_tenant_only() {
    let test_db = TestDb::new().await;
    let db = one_connection(&test_db);
    let (a, b) = (TenantId(1), TenantId(2));
    Db::with_hand_on(async {
        // The same tenant continues the handed-on transaction: same id, tenant still set.
        let mut tx = db.tenant(a).await.unwrap();
        let first = txid(&mut tx).await;
        Db::hand_on(tx).await.unwrap();
        let mut tx = db.tenant(a).await.unwrap();
        assert_eq!(txid(&mut tx).await, first, "one transaction");
        assert_eq!(tenant_setting(&mut tx).await, "1");
        tx.commit().await.unwrap();
        // The next one is new.
        let mut tx = db.tenant(a).await.unwrap();
        assert_ne!(txid(&mut tx).await, first);
        tx.commit().await.unwrap();

        // Another tenant: the handed-on transaction is given back first (one connection
        // suffices) and the new one is scoped to that tenant only.
        let mut tx = db.tenant(a).await.unwrap();
        let handed = txid(&mut tx).await;
        Db::hand_on(tx).await.unwrap();
        let mut tx = db.tenant(b).await.unwrap();
        assert_ne!(txid(&mut tx).await, handed);
        assert_eq!(tenant_setting(&mut tx).await, "2");
        tx.commit().await.unwrap();

        // A system transaction, likewise; it sees no tenant.
        let tx = db.tenant(a).await.unwrap();
        Db::hand_on(tx).await.unwrap();
        let mut sys = db.system().await.unwrap();
        let tenant: Option<String> =
            sqlx::query_scalar("SELECT nullif(current_setting('app.tenant_id', true), '')")
                .fetch_one(&mut *sys)
                .await
                .unwrap();
        assert_eq!(tenant, None);
        sys.commit().await.unwrap();

        // Left unused: the request's end gives it back.
        let tx = db.tenant(a).await.unwrap();
        Db::hand_on(tx).await.unwrap();
    })
    .await;
    // Outside a request, hand_on commits at once and nothing is kept.
    let mut tx = db.tenant(a).await.unwrap();
    let first = txid(&mut tx).await;
    Db::hand_on(tx).await.unwrap();
    let mut tx = db.tenant(a).await.unwrap();
    assert_ne!(txid(&mut tx).await, first);
    tx.commit().await.unwrap();
    assert_eq!(db.pool_stats().acquire_timeouts_total, 0);
}

#[tokio::test]
async fn a_get_runs_its_session_lookup_and_handler_in_one_transaction() {
    let app = TestApp::spawn().await;
    app.create_tenant("onetx", None).await;
    let teacher = app.create_user("onetx", "t", &["teacher"], false).await;
    let (status, _) = app.get("/api/v1/courses", &teacher.token).await;
    assert_eq!(status, 200);
    // Development answers the statement count: the lookup, the list and one COMMIT (BEGIN
    // and set_config travel together as one simple query, outside the statement log);
    // two transactions would log a second COMMIT.
    let res = app
        .client
        .get(format!("{}/api/v1/courses", app.base_url))
        .bearer_auth(&teacher.token)
        .send()
        .await
        .unwrap();
    let timing = res.headers()["server-timing"].to_str().unwrap().to_string();
    assert!(timing.contains("desc=\"3 statements\""), "{timing}");
    // A POST keeps two transactions (no connection held while its body arrives).
    let res = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.base_url))
        .bearer_auth(&teacher.token)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

#[tokio::test]
async fn a_connection_that_died_while_idle_answers_503_at_worst_and_leaves_the_pool() {
    let app = TestApp::spawn().await;
    app.create_tenant("recycle", None).await;
    let teacher = app.create_user("recycle", "t", &["teacher"], false).await;
    // Several idle connections in the pool.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(
            app.pool()
                .tenant(TenantId(teacher.tenant_id))
                .await
                .unwrap(),
        );
    }
    for tx in held {
        tx.commit().await.unwrap();
    }
    let (status, _) = app.get("/api/v1/courses", &teacher.token).await;
    assert_eq!(status, 200);
    // The server ends every backend of the service role (a restart, a failover).
    let mut su = sqlx::PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE usename = 'k12_app' AND datname = current_database()",
    )
    .fetch_all(&mut su)
    .await
    .unwrap();
    assert!(ended.len() >= 3, "{ended:?}");
    let size = app.pool().pool_stats().size as usize;
    let mut answers = Vec::new();
    for _ in 0..=size {
        let res = app
            .client
            .get(format!("{}/api/v1/courses", app.base_url))
            .bearer_auth(&teacher.token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if status == 503 {
            assert_eq!(res.headers()["retry-after"], "1");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        } else {
            assert_eq!(status, 200, "{}", res.text().await.unwrap());
        }
        answers.push(status);
        if status == 200 {
            break;
        }
    }
    assert_eq!(
        answers.last(),
        Some(&200),
        "a fresh connection replaces the dead ones: {answers:?}"
    );
}
