//! An exhausted connection pool: a request waits `K12_DB_ACQUIRE_TIMEOUT_MS` for a
//! connection, then answers a JSON 503 with `Retry-After` — never a hang or a 500 — and
//! the pool's figures count the wait and the timeout.

use std::time::{Duration, Instant};

use platform::config::{Environment, PoolConfig};
use platform::db::Db;
use platform::http::{AppState, ServiceConfig};
use testkit::{test_egress, test_outbound, TestDb};

#[tokio::test]
async fn an_exhausted_pool_answers_503_with_retry_after() {
    let test_db = TestDb::new().await;
    let db = Db::connect_lazy(
        &test_db.app_url(),
        &PoolConfig {
            size: 1,
            acquire_timeout: Duration::from_millis(300),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("k12-pool-timeout-{}", std::process::id()));
    let store = storage::Store::open(
        &storage::StorageConfig::from_lookup(|_| None, Some(format!("file://{}", dir.display())))
            .unwrap(),
    )
    .unwrap();
    let state = AppState::new(
        db.clone(),
        ServiceConfig::new(Environment::Development, test_outbound(test_egress())),
        store,
    );
    let router = platform::app::router(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(platform::app::serve(
        listener,
        router,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    // Signing in looks the school up in the database: it needs a connection.
    let me = || {
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"tenant": "nowhere", "email": "a@b.test", "password": "wrong-password"}))
            .send()
    };

    // The only connection is taken.
    let held = db.system().await.unwrap();
    let started = Instant::now();
    let res = me().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        waited >= Duration::from_millis(300),
        "queued for the acquire timeout first ({waited:?})"
    );
    let stats = db.pool_stats();
    assert_eq!((stats.max_size, stats.size, stats.in_use), (1, 1, 1));
    assert!(stats.waits_total >= 1, "{stats:?}");
    assert_eq!(stats.acquire_timeouts_total, 1, "{stats:?}");
    assert_eq!(stats.waiting, 0, "{stats:?}");

    // Released: the same request gets a connection and is judged on its merits.
    held.commit().await.unwrap();
    let res = me().await.unwrap();
    assert_eq!(res.status(), 401);
    server.abort();
    let _ = std::fs::remove_dir_all(dir);
}
