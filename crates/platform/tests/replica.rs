//! The read replica (`DATABASE_REPLICA_URL`, spec 05): a real hot standby built from the
//! test cluster with `pg_basebackup -R`. The analytics routes read from it, a write and
//! the read that follows stay on the primary, and a dead replica means reads from the
//! primary, never an error.

use chrono::{DateTime, Utc};
use platform::config::{Environment, PoolConfig};
use platform::db::Db;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use testkit::{test_egress, test_outbound, School, Standby, TestApp};

/// Serves the real router on `db` (a pool with a replica); answers the base URL.
async fn serve(db: Db, store: storage::Store) -> String {
    let config =
        platform::http::ServiceConfig::new(Environment::Development, test_outbound(test_egress()));
    let state = platform::http::AppState::new(db, config, store).with_limiter(
        platform::ratelimit::RateLimiter::from_config(testkit::generous_limits(), None).unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(platform::app::serve(
        listener,
        platform::app::router(state),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

async fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn refreshed_at(base: &str, token: &str) -> DateTime<Utc> {
    let (status, body) = get(base, "/api/v1/admin/analytics/daily?days=7", token).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body["refreshed_at"].clone()).unwrap()
}

/// Waits until the standby has replayed everything the primary has committed so far
/// (the whole shared test cluster's WAL, which a loaded machine replays slowly: up to
/// three minutes).
async fn caught_up(primary: &mut PgConnection, standby: &mut PgConnection) {
    let (lsn,): (String,) = sqlx::query_as("SELECT pg_current_wal_lsn()::text")
        .fetch_one(&mut *primary)
        .await
        .unwrap();
    for _ in 0..3600 {
        let (done,): (bool,) = sqlx::query_as("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
            .bind(&lsn)
            .fetch_one(&mut *standby)
            .await
            .unwrap();
        if done {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (replayed, receiver): (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT pg_last_wal_replay_lsn()::text, (SELECT status FROM pg_stat_wal_receiver)",
    )
    .fetch_one(&mut *standby)
    .await
    .unwrap();
    panic!("the standby did not replay up to {lsn} in 3 minutes: at {replayed:?}, WAL receiver {receiver:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_read_the_replica_writes_stay_on_the_primary_and_a_dead_replica_is_not_an_error()
{
    if std::env::var("K12_TEST_PGBOUNCER_URL").is_ok_and(|v| !v.is_empty()) {
        // The standby is of the cluster, not of PgBouncer; this test is about replication.
        eprintln!("skipped through PgBouncer: the replica test runs in the direct run");
        return;
    }
    let app = TestApp::spawn().await;
    let school = School::build(&app, "replica-high").await;
    let first = platform::analytics::refresh(app.pool()).await.unwrap();

    let standby = Standby::start();
    let mut primary = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let mut replica = PgConnection::connect(&standby.superuser_url(&app.db))
        .await
        .unwrap();
    let (in_recovery,): (bool,) = sqlx::query_as("SELECT pg_is_in_recovery()")
        .fetch_one(&mut replica)
        .await
        .unwrap();
    assert!(in_recovery, "the replica is a hot standby");
    caught_up(&mut primary, &mut replica).await;

    // A busy test machine may take more than the default second to open a connection to
    // the standby; the fallback it would take then is what the end of the test shows.
    let pool = PoolConfig {
        replica_acquire_timeout: std::time::Duration::from_secs(15),
        ..PoolConfig::default()
    };
    let db = Db::connect_lazy(&app.db.app_url(), &pool)
        .unwrap()
        .with_replica(&standby.app_url(&app.db), &pool)
        .unwrap();
    assert!(db.has_replica());
    let base = serve(db, app.store.clone()).await;
    let admin = &school.admin.token;
    assert_eq!(refreshed_at(&base, admin).await, first);

    // Replay paused: the primary moves on, the replica stays where it was.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica)
        .await
        .unwrap();
    let second = platform::analytics::refresh(app.pool()).await.unwrap();
    assert!(second > first);
    assert_eq!(
        refreshed_at(&base, admin).await,
        first,
        "the analytics route read the (paused) replica"
    );
    assert_eq!(
        refreshed_at(&app.base_url, admin).await,
        second,
        "the primary has the new refresh"
    );
    // The teacher's course analytics read the replica too.
    let (status, body) = get(
        &base,
        &format!("/api/v1/courses/{}/analytics", school.course_id),
        &school.teacher.token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let at: DateTime<Utc> = serde_json::from_value(body["refreshed_at"].clone()).unwrap();
    assert_eq!(at, first);

    // A write, then the read that follows it: both on the primary, consistent even with
    // the replica behind.
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/courses"))
        .bearer_auth(admin)
        .json(&json!({"name": "Written Now", "code": "WN-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let course: Value = r.json().await.unwrap();
    let (status, body) = get(&base, &format!("/api/v1/courses/{}", course["id"]), admin).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Written Now")));

    // Another tenant never sees these rows through the replica either.
    let other = School::build(&app, "replica-other").await;
    let (status, body) = get(&base, "/api/v1/admin/analytics/courses", &other.admin.token).await;
    assert_eq!(status, 200);
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["course_id"] != school.course_id),
        "{body}"
    );

    // The replica goes down: reads fall back to the primary, with a warning, no error.
    drop(replica);
    standby.stop();
    for _ in 0..3 {
        assert_eq!(refreshed_at(&base, admin).await, second);
    }
}
