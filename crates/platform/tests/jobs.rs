//! The job queue in process, on real PostgreSQL: transactional enqueue (from system and
//! tenant transactions), unique jobs, schedules with an injectable clock, the cleanup job,
//! and the operator API. The multi-process tests are in `crates/k12/tests/worker.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use platform::db::{Db, TenantId};
use platform::jobs::kinds::{CleanupExpired, Probe};
use platform::jobs::{self, enqueue, Clock, ManualClock, Schedule, Worker, WorkerConfig};
use testkit::{Actor, TestApp, TestDb};

async fn count(db: &Db, sql: &str) -> i64 {
    let mut tx = db.system().await.unwrap();
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

async fn job_state(db: &Db, id: i64) -> (String, i32, Option<String>) {
    let mut tx = db.system().await.unwrap();
    let row = sqlx::query_as("SELECT state, attempts, last_error FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    row
}

#[tokio::test]
async fn enqueue_belongs_to_the_callers_transaction_even_a_tenants() {
    let app = TestApp::spawn().await;
    let tenant = app.create_tenant("alpha", None).await;
    let db = app.pool();

    // Rolled back: never visible.
    let mut tx = db.system().await.unwrap();
    enqueue(&mut tx, &Probe::new("rolled-back")).await.unwrap();
    drop(tx);
    assert_eq!(count(db, "SELECT count(*) FROM jobs").await, 0);

    // From a tenant transaction: inserted, yet the tenant sees no job rows and cannot
    // change the queue.
    let mut tx = db.tenant(TenantId(tenant)).await.unwrap();
    let first = enqueue(&mut tx, &Probe::new("from-tenant")).await.unwrap();
    assert!(first.inserted);
    let (seen,): (i64,) = sqlx::query_as("SELECT count(*) FROM jobs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0, "a tenant transaction must not see the queue");
    let (system,): (String,) =
        sqlx::query_as("SELECT coalesce(current_setting('app.system', true), '')")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(system, "", "enqueue_job must restore app.system");
    let changed = sqlx::query("UPDATE jobs SET priority = 9")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    tx.commit().await.unwrap();
    assert_eq!(count(db, "SELECT count(*) FROM jobs").await, 1);
    let (state, attempts, _) = job_state(db, first.id).await;
    assert_eq!((state.as_str(), attempts), ("pending", 0));
}

#[tokio::test]
async fn unique_jobs_are_deduplicated_while_pending() {
    let test = TestDb::new().await;
    let db = &test.db;
    let unique = Probe {
        unique: true,
        ..Probe::new("refresh")
    };
    let mut tx = db.system().await.unwrap();
    let a = enqueue(&mut tx, &unique).await.unwrap();
    let b = enqueue(&mut tx, &unique).await.unwrap();
    let other = enqueue(&mut tx, &Probe::new("refresh")).await.unwrap();
    tx.commit().await.unwrap();
    assert!(a.inserted && !b.inserted && other.inserted);
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, other.id);

    // Once it ran, the same key enqueues again.
    run_until_idle(db).await;
    let mut tx = db.system().await.unwrap();
    let c = enqueue(&mut tx, &unique).await.unwrap();
    tx.commit().await.unwrap();
    assert!(c.inserted && c.id != a.id);
}

/// Runs an in-process worker until no job is pending or running.
async fn run_until_idle(db: &Db) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        run_schedules: false,
        retry_base: Duration::from_millis(10),
        ..WorkerConfig::default()
    };
    let worker = tokio::spawn(Worker::new(db.clone(), config).run(async {
        let _ = stopped.await;
    }));
    for _ in 0..500 {
        let busy = count(
            db,
            "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')",
        )
        .await;
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    let busy = count(
        db,
        "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')",
    )
    .await;
    assert_eq!(busy, 0, "jobs still pending after 10 s");
}

#[tokio::test]
async fn a_failing_job_retries_with_backoff_then_fails_with_its_last_error() {
    let test = TestDb::new().await;
    let db = &test.db;
    let mut tx = db.system().await.unwrap();
    let job = enqueue(
        &mut tx,
        &Probe {
            fail: true,
            ..Probe::new("always-fails")
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    run_until_idle(db).await;
    let (state, attempts, error) = job_state(db, job.id).await;
    assert_eq!(state, "failed");
    assert_eq!(attempts, 3, "the probe's maximum");
    assert!(
        error.as_deref().unwrap_or_default().contains("attempt 3"),
        "{error:?}"
    );
    let totals: (i64, i64, i64) = {
        let mut tx = db.system().await.unwrap();
        let row = sqlx::query_as(
            "SELECT completed, retried, failed FROM job_counters WHERE kind = 'probe'",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        row
    };
    assert_eq!(totals, (0, 2, 1));
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test]
async fn each_tick_fires_once_across_schedulers_and_missed_ticks_follow_catch_up() {
    let test = TestDb::new().await;
    let db = &test.db;
    let schedules = vec![
        Schedule::new("every-minute", "* * * * *", |tick| {
            Probe::new(format!("m:{tick}"))
        }),
        Schedule::new("hourly-catch-up", "0 * * * *", |tick| {
            Probe::new(format!("h:{tick}"))
        })
        .with_catch_up(),
        Schedule::new("hourly-skip", "0 * * * *", |tick| {
            Probe::new(format!("s:{tick}"))
        }),
    ];
    let clock = Arc::new(ManualClock::new(at("2030-01-01T00:00:30Z")));
    let mut tx = db.system().await.unwrap();
    jobs::sync_schedules(&mut tx, &schedules, clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Five minutes, four schedulers racing at every step.
    for _ in 0..10 {
        clock.advance(chrono::Duration::seconds(30));
        let racers = (0..4).map(|_| jobs::tick_schedules(db, &schedules, &*clock));
        for r in futures::future::join_all(racers).await {
            r.unwrap();
        }
    }
    let per_tick = count(
        db,
        "SELECT count(*) FROM job_schedule_ticks WHERE schedule_name = 'every-minute'",
    )
    .await;
    assert_eq!(per_tick, 5, "ticks 00:01 to 00:05");
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM jobs WHERE schedule_name = 'every-minute'"
        )
        .await,
        5
    );
    assert_eq!(
        count(
            db,
            "SELECT count(DISTINCT payload->>'key') FROM jobs WHERE schedule_name = 'every-minute'"
        )
        .await,
        5
    );

    // Every worker down for five hours: the catch-up schedule fires once, the other
    // skips; the every-minute schedule's missed ticks are skipped too.
    clock.advance(chrono::Duration::hours(5));
    jobs::tick_schedules(db, &schedules, &*clock).await.unwrap();
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM jobs WHERE schedule_name = 'hourly-catch-up'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM jobs WHERE schedule_name = 'hourly-skip'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            db,
            "SELECT skipped_ticks FROM job_schedules WHERE name = 'hourly-skip'"
        )
        .await,
        5
    );
    // The every-minute tick that is due now fired (it is on time).
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM jobs WHERE schedule_name = 'every-minute'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn cleanup_deletes_what_expired_in_every_tenant_and_is_idempotent() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    app.create_tenant("beta", None).await;
    let a = app.create_user("alpha", "ann", &["teacher"], false).await;
    let b = app.create_user("beta", "bob", &["teacher"], false).await;
    app.create_operator("ops@example.org").await;
    let db = app.pool();
    for user in [&a, &b] {
        let mut tx = db.tenant(TenantId(user.tenant_id)).await.unwrap();
        for (n, expired) in [(1, true), (2, true), (3, false)] {
            let interval = if expired { "-1 hour" } else { "1 hour" };
            sqlx::query(&format!(
                "INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at)
                 VALUES (current_tenant_id(), $1, $2, now() + interval '{interval}')"
            ))
            .bind(user.id)
            .bind(format!("s{}-{n}", user.email).into_bytes())
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(&format!(
                "INSERT INTO setup_tokens (tenant_id, user_id, token_hash, expires_at)
                 VALUES (current_tenant_id(), $1, $2, now() + interval '{interval}')"
            ))
            .bind(user.id)
            .bind(format!("t{}-{n}", user.email).into_bytes())
            .execute(&mut *tx)
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut tx = db.system().await.unwrap();
    sqlx::query(
        "INSERT INTO operator_sessions (operator_id, token_hash, expires_at)
         SELECT id, 'expired-op'::bytea, now() - interval '1 minute' FROM operators",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let first = jobs::kinds::cleanup(db).await.unwrap();
    assert_eq!(first.tenants, 2);
    assert_eq!(first.sessions, 4);
    assert_eq!(first.setup_tokens, 4);
    assert_eq!(first.operator_sessions, 1);
    let again = jobs::kinds::cleanup(db).await.unwrap();
    assert_eq!(
        (again.sessions, again.setup_tokens, again.operator_sessions),
        (0, 0, 0)
    );
    // Live sessions survive: both users' logins still work.
    for user in [&a, &b] {
        let (status, _) = app.get("/api/v1/me", &user.token).await;
        assert_eq!(status, 200);
    }

    // And as a job through the queue.
    let mut tx = db.system().await.unwrap();
    let job = enqueue(&mut tx, &CleanupExpired {}).await.unwrap();
    tx.commit().await.unwrap();
    run_until_idle(db).await;
    assert_eq!(job_state(db, job.id).await.0, "completed");
}

#[tokio::test]
async fn operator_api_lists_shows_retries_deletes_and_runs_schedules() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let db = app.pool();

    let mut tx = db.system().await.unwrap();
    let failing = enqueue(
        &mut tx,
        &Probe {
            fail: true,
            ..Probe::new("api-fail")
        },
    )
    .await
    .unwrap();
    let later = jobs::enqueue_new(
        &mut tx,
        &jobs::NewJob::of(&Probe::new("later"))
            .unwrap()
            .run_at(Utc::now() + chrono::Duration::hours(1)),
    )
    .await;
    tx.commit().await.unwrap();
    let later = later.unwrap();
    run_until_idle_except_scheduled(db).await;

    let (status, body) = app.get("/api/v1/operator/jobs", &op).await;
    assert_eq!(status, 200, "{body}");
    let queues: Vec<&str> = body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queue"].as_str().unwrap())
        .collect();
    assert_eq!(queues, ["critical", "default", "low"]);
    let default = &body["queues"][1];
    assert_eq!(default["failed_last_hour"], 1);
    assert_eq!(default["scheduled"], 1);
    assert_eq!(default["depth"], 0);
    assert_eq!(default["failed_total"], 1);
    assert_eq!(body["failed"][0]["id"], failing.id);
    assert_eq!(body["failed"][0]["state"], "failed");

    let (status, job) = app
        .get(&format!("/api/v1/operator/jobs/{}", failing.id), &op)
        .await;
    assert_eq!(status, 200);
    assert_eq!(job["attempts"], 3);
    assert!(job["last_error"]
        .as_str()
        .unwrap()
        .contains("failed on purpose"));
    let (status, job) = app
        .get(&format!("/api/v1/operator/jobs/{}", later.id), &op)
        .await;
    assert_eq!((status, job["state"].as_str()), (200, Some("scheduled")));

    // Bad ids and names answer JSON 404s; retrying a job that has not failed is a 409.
    for path in [
        "/api/v1/operator/jobs/999999".to_string(),
        "/api/v1/operator/jobs/abc".to_string(),
    ] {
        let (status, body) = app.get(&path, &op).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/operator/jobs/999999/retry",
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/operator/schedules/nope/run",
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/operator/jobs/{}/retry", later.id),
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("job_state")),
        "{body}"
    );

    // Retry: ready again with fresh attempts.
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/operator/jobs/{}/retry", failing.id),
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "ready");
    assert_eq!(body["attempts"], 0);

    // Delete: gone, then 404.
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/operator/jobs/{}", later.id),
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .get(&format!("/api/v1/operator/jobs/{}", later.id), &op)
        .await;
    assert_eq!(status, 404);

    // Schedules: listed, run now answers 202 with the job id.
    let (status, body) = app.get("/api/v1/operator/schedules", &op).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "backup-retention",
            "check-uptime",
            "cleanup-expired",
            "database-backup",
            "evaluate-alerts",
            "feature-flag-schedules",
            "fleet-probe",
            "refresh-analytics"
        ]
    );
    let by_name = |body: &serde_json::Value, name: &str| -> serde_json::Value {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let cleanup = &by_name(&body, "cleanup-expired");
    assert_eq!(cleanup["name"], "cleanup-expired");
    assert_eq!(cleanup["cron"], "0 * * * *");
    assert_eq!(cleanup["timezone"], "UTC");
    assert!(cleanup["next_run_at"].is_string());
    let (status, body) = app
        .request(
            reqwest::Method::POST,
            "/api/v1/operator/schedules/cleanup-expired/run",
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job_id = body["job_id"].as_i64().unwrap();
    let (_, body) = app.get("/api/v1/operator/schedules", &op).await;
    let cleanup = by_name(&body, "cleanup-expired");
    assert_eq!(cleanup["last_run"]["job_id"], job_id);
    assert_eq!(cleanup["last_run"]["state"], "ready");
    let (_, job) = app
        .get(&format!("/api/v1/operator/jobs/{job_id}"), &op)
        .await;
    assert_eq!(
        (job["kind"].as_str(), job["schedule"].as_str()),
        (Some("cleanup_expired"), Some("cleanup-expired"))
    );

    // Audited; and tenant admins may not touch the queue.
    assert_eq!(
        count(
            db,
            "SELECT count(*) FROM platform_audit_logs
              WHERE event_type IN ('job.retried', 'job.deleted', 'schedule.run')"
        )
        .await,
        3
    );
    let (status, _) = app.get("/api/v1/operator/jobs", &admin.token).await;
    assert_eq!(status, 403);
}

/// Like [`run_until_idle`], but leaves jobs scheduled an hour ahead alone.
async fn run_until_idle_except_scheduled(db: &Db) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        run_schedules: false,
        retry_base: Duration::from_millis(10),
        ..WorkerConfig::default()
    };
    let worker = tokio::spawn(Worker::new(db.clone(), config).run(async {
        let _ = stopped.await;
    }));
    let busy_sql = "SELECT count(*) FROM jobs WHERE (state = 'pending' AND run_at <= now() + interval '1 minute') OR state = 'running'";
    for _ in 0..500 {
        if count(db, busy_sql).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    assert_eq!(count(db, busy_sql).await, 0, "jobs still ready after 10 s");
}
