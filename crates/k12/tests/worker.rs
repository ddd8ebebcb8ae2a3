//! `k12 worker` as real processes on a real PostgreSQL: sharing 1,000 jobs, recovering a
//! job from a SIGKILLed worker after its lease, firing each cron tick once across three
//! workers with a simulated clock, failing a job for good and retrying it from the API,
//! and stopping gracefully on SIGTERM. Each test prints its figures (`--nocapture`).

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use platform::db::Db;
use platform::jobs::kinds::Probe;
use platform::jobs::{enqueue, enqueue_new, NewJob};
use testkit::{Actor, TestApp, TestDb};

/// A `k12 worker` child process; killed if the test ends while it runs.
struct WorkerProcess {
    id: String,
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    fn spawn(db_url: &str, id: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join("k12-worker-tests");
        std::fs::create_dir_all(&dir).expect("log dir");
        let log = dir.join(format!("{id}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_k12"))
            .arg("worker")
            .env("DATABASE_URL", db_url)
            .env("K12_WORKER_ID", id)
            .env("K12_WORKER_POLL_MS", "100")
            .env("K12_WORKER_SCHEDULES", "off")
            .env("K12_DB_POOL_SIZE", "8")
            .env("RUST_LOG", "info,sqlx=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("starting k12 worker");
        Self {
            id: id.to_string(),
            child,
            log,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {}", self.id);
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn scalar(db: &Db, sql: &str) -> i64 {
    let mut tx = db.system().await.expect("tx");
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(&mut *tx)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.expect("commit");
    n
}

/// Polls `sql` (a count) until it reaches `want`, for at most `limit`.
async fn wait_for_count(
    db: &Db,
    sql: &str,
    want: i64,
    limit: Duration,
    what: &str,
    workers: &[&WorkerProcess],
) {
    let start = Instant::now();
    loop {
        let n = scalar(db, sql).await;
        if n >= want {
            return;
        }
        if start.elapsed() > limit {
            let logs: Vec<String> = workers
                .iter()
                .map(|w| format!("--- {} ---\n{}", w.id, w.log_tail()))
                .collect();
            panic!("{what}: {n} of {want} after {limit:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_workers_share_1000_jobs_and_run_each_exactly_once() {
    let test = TestDb::new().await;
    let db = &test.db;
    let mut tx = db.system().await.unwrap();
    for n in 0..1000 {
        let probe = Probe {
            hold_ms: 5,
            ..Probe::new(format!("bulk-{n}"))
        };
        enqueue(&mut tx, &probe).await.unwrap();
    }
    tx.commit().await.unwrap();

    let start = Instant::now();
    let env = [("K12_WORKER_CONCURRENCY", "4")];
    let a = WorkerProcess::spawn(&test.app_url(), "worker-a", &env);
    let b = WorkerProcess::spawn(&test.app_url(), "worker-b", &env);
    wait_for_count(
        db,
        "SELECT count(*) FROM jobs WHERE state = 'completed'",
        1000,
        Duration::from_secs(120),
        "completed jobs",
        &[&a, &b],
    )
    .await;
    let elapsed = start.elapsed();

    // Each job was claimed once (attempts = 1), so none ran twice, concurrently or not;
    // each applied its effect once.
    assert_eq!(
        scalar(db, "SELECT count(*) FROM jobs WHERE attempts <> 1").await,
        0
    );
    assert_eq!(scalar(db, "SELECT count(*) FROM job_probes").await, 1000);
    assert_eq!(
        scalar(db, "SELECT count(DISTINCT job_id) FROM job_probes").await,
        1000
    );
    let by_a = scalar(
        db,
        "SELECT count(*) FROM job_probes WHERE worker = 'worker-a'",
    )
    .await;
    let by_b = scalar(
        db,
        "SELECT count(*) FROM job_probes WHERE worker = 'worker-b'",
    )
    .await;
    assert_eq!(by_a + by_b, 1000);
    assert!(
        by_a > 0 && by_b > 0,
        "both workers should take a share: a={by_a} b={by_b}"
    );
    assert_eq!(
        scalar(
            db,
            "SELECT completed FROM job_counters WHERE kind = 'probe'"
        )
        .await,
        1000
    );
    eprintln!(
        "figures: 1000 jobs over 2 workers (concurrency 4 each, 5 ms per job) in {:.2} s; \
         worker-a {by_a}, worker-b {by_b}; jobs run twice: 0",
        elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn a_sigkilled_workers_job_completes_elsewhere_after_its_lease_exactly_once() {
    let test = TestDb::new().await;
    let db = &test.db;
    let lease = [("K12_WORKER_LEASE_SECS", "2")];
    let mut doomed = WorkerProcess::spawn(&test.app_url(), "doomed", &lease);
    let mut tx = db.system().await.unwrap();
    let job = enqueue(
        &mut tx,
        &Probe {
            hold_ms: 60_000,
            hold_attempts: Some(1),
            ..Probe::new("kill-me")
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The effect is applied, the job is running on `doomed`: kill it mid-job.
    wait_for_count(
        db,
        "SELECT count(*) FROM job_probes WHERE probe = 'kill-me'",
        1,
        Duration::from_secs(30),
        "the probe's effect",
        &[&doomed],
    )
    .await;
    doomed.signal("-KILL");
    doomed
        .wait_exit(Duration::from_secs(10))
        .expect("SIGKILL ends the worker");
    let killed_at = Instant::now();

    let rescuer = WorkerProcess::spawn(&test.app_url(), "rescuer", &lease);
    wait_for_count(
        db,
        &format!(
            "SELECT count(*) FROM jobs WHERE id = {} AND state = 'completed'",
            job.id
        ),
        1,
        Duration::from_secs(30),
        "the killed worker's job completed",
        &[&rescuer],
    )
    .await;
    let recovered = killed_at.elapsed();

    let mut tx = db.system().await.unwrap();
    let (attempts, worker, last_error): (i32, String, Option<String>) =
        sqlx::query_as("SELECT attempts, worker, last_error FROM jobs WHERE id = $1")
            .bind(job.id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let effects: Vec<(String, i32)> =
        sqlx::query_as("SELECT worker, attempt FROM job_probes WHERE probe = 'kill-me'")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(worker, "rescuer");
    assert!(
        last_error
            .as_deref()
            .unwrap_or_default()
            .contains("lease expired"),
        "{last_error:?}"
    );
    assert_eq!(
        effects,
        vec![("doomed".to_string(), 1)],
        "the effect is applied exactly once (the second run's write is a no-op)"
    );
    eprintln!(
        "figures: SIGKILL mid-job, lease 2 s: completed by another worker {:.2} s after the kill; effects: 1",
        recovered.as_secs_f64()
    );
}

#[tokio::test]
async fn three_workers_fire_each_tick_of_an_every_minute_schedule_once() {
    let test = TestDb::new().await;
    let db = &test.db;
    // Simulated time: 30x, so a minute passes every 2 s; 00:00:40 at the anchor, which
    // is shortly after the workers start.
    let anchor = Utc::now() + chrono::Duration::milliseconds(500);
    let anchor_ms = anchor.timestamp_millis().to_string();
    let env = [
        ("K12_WORKER_SCHEDULES", "on"),
        ("K12_WORKER_CLOCK_START", "2030-01-01T00:00:40Z"),
        ("K12_WORKER_CLOCK_RATE", "30"),
        ("K12_WORKER_CLOCK_ANCHOR_MS", anchor_ms.as_str()),
    ];
    let mut workers: Vec<WorkerProcess> = (1..=3)
        .map(|n| WorkerProcess::spawn(&test.app_url(), &format!("ticker-{n}"), &env))
        .collect();
    let refs: Vec<&WorkerProcess> = workers.iter().collect();
    let ticks = 5;
    wait_for_count(
        db,
        "SELECT count(*) FROM job_schedule_ticks WHERE schedule_name = 'fleet-probe'",
        ticks,
        Duration::from_secs(60),
        "fleet-probe ticks",
        &refs,
    )
    .await;
    wait_for_count(
        db,
        "SELECT count(*) FROM jobs WHERE schedule_name = 'fleet-probe' AND state = 'completed'",
        ticks,
        Duration::from_secs(30),
        "fleet-probe jobs completed",
        &refs,
    )
    .await;
    for w in &workers {
        w.signal("-TERM");
    }
    for w in &mut workers {
        let status = w
            .wait_exit(Duration::from_secs(30))
            .expect("worker exits on SIGTERM");
        assert!(status.success(), "{}: {status}", w.id);
    }

    let mut tx = db.system().await.unwrap();
    let fired: Vec<(DateTime<Utc>, Option<i64>)> = sqlx::query_as(
        "SELECT tick_at, job_id FROM job_schedule_ticks WHERE schedule_name = 'fleet-probe'
          ORDER BY tick_at",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let per_tick: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload->>'key', count(*) FROM jobs WHERE schedule_name = 'fleet-probe'
          GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let skipped: (i64,) =
        sqlx::query_as("SELECT skipped_ticks FROM job_schedules WHERE name = 'fleet-probe'")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    let runners: Vec<(String, i64)> = sqlx::query_as(
        "SELECT worker, count(*) FROM jobs WHERE schedule_name = 'fleet-probe' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let first: DateTime<Utc> = "2030-01-01T00:01:00Z".parse().unwrap();
    for (i, (tick, job)) in fired.iter().enumerate() {
        assert_eq!(
            *tick,
            first + chrono::Duration::minutes(i as i64),
            "ticks: {fired:?}"
        );
        assert!(job.is_some(), "tick {tick} has no job");
    }
    assert_eq!(
        per_tick.len(),
        fired.len(),
        "one job per tick: {per_tick:?}"
    );
    assert!(
        per_tick.iter().all(|(_, n)| *n == 1),
        "one job per tick: {per_tick:?}"
    );
    assert_eq!(skipped.0, 0, "no tick was missed");
    eprintln!(
        "figures: 3 workers, every-minute schedule at 30x: {} ticks ({} to {}), {} jobs, \
         duplicates 0, skipped 0; jobs run by {runners:?}",
        fired.len(),
        fired[0].0.format("%H:%M"),
        fired[fired.len() - 1].0.format("%H:%M"),
        per_tick.len(),
    );
}

#[tokio::test]
async fn an_always_failing_job_ends_failed_and_an_api_retry_runs_it_again() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let db = app.pool();
    let worker = WorkerProcess::spawn(
        &app.db.app_url(),
        "retrier",
        &[("K12_WORKER_RETRY_BASE_MS", "50")],
    );
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
    let failed_sql = format!(
        "SELECT count(*) FROM jobs WHERE id = {} AND state = 'failed'",
        job.id
    );
    wait_for_count(
        db,
        &failed_sql,
        1,
        Duration::from_secs(30),
        "job failed",
        &[&worker],
    )
    .await;

    let path = format!("/api/v1/operator/jobs/{}", job.id);
    let (status, first) = app.get(&path, &op).await;
    assert_eq!(status, 200);
    assert_eq!(first["state"], "failed");
    assert_eq!(first["attempts"], 3);
    let error = first["last_error"].as_str().unwrap();
    assert!(
        error.contains("failed on purpose (attempt 3 on retrier)"),
        "{error}"
    );

    let (status, body) = app
        .request(
            reqwest::Method::POST,
            &format!("{path}/retry"),
            Actor::Token(&op),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // It runs again: three more attempts, failed again, later.
    let again_sql = format!(
        "SELECT count(*) FROM jobs WHERE id = {} AND state = 'failed' AND finished_at > '{}'",
        job.id,
        first["finished_at"].as_str().unwrap()
    );
    wait_for_count(
        db,
        &again_sql,
        1,
        Duration::from_secs(30),
        "retried job failed again",
        &[&worker],
    )
    .await;
    let (_, overview) = app.get("/api/v1/operator/jobs", &op).await;
    let default = &overview["queues"][1];
    assert_eq!(default["queue"], "default");
    assert_eq!(default["failed_total"], 2, "{overview}");
    assert_eq!(default["retried_total"], 4, "{overview}");
    assert_eq!(default["failed_last_hour"], 1);
    assert_eq!(overview["failed"][0]["id"], job.id);
    eprintln!("figures: always-failing probe: failed after 3 attempts; API retry ran 3 more and failed again");
}

#[tokio::test]
async fn sigterm_stops_claiming_finishes_or_gives_back_and_exits_zero() {
    let test = TestDb::new().await;
    let db = &test.db;
    let mut tx = db.system().await.unwrap();
    let long = enqueue(
        &mut tx,
        &Probe {
            hold_ms: 60_000,
            ..Probe::new("long")
        },
    )
    .await
    .unwrap();
    let short = enqueue(
        &mut tx,
        &Probe {
            hold_ms: 1_500,
            ..Probe::new("short")
        },
    )
    .await
    .unwrap();
    // Queued behind them, with a later run_at so the two above are claimed first.
    for n in 0..5 {
        let later = NewJob::of(&Probe::new(format!("queued-{n}")))
            .unwrap()
            .run_at(Utc::now() + chrono::Duration::milliseconds(200));
        enqueue_new(&mut tx, &later).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut worker = WorkerProcess::spawn(
        &test.app_url(),
        "graceful",
        &[
            ("K12_WORKER_CONCURRENCY", "2"),
            ("K12_WORKER_SHUTDOWN_SECS", "3"),
        ],
    );
    wait_for_count(
        db,
        "SELECT count(*) FROM job_probes WHERE probe IN ('long', 'short')",
        2,
        Duration::from_secs(30),
        "both jobs running",
        &[&worker],
    )
    .await;
    let sent = Instant::now();
    worker.signal("-TERM");
    let status = worker
        .wait_exit(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no exit within 15 s of SIGTERM\n{}", worker.log_tail()));
    let took = sent.elapsed();
    assert!(
        status.success(),
        "exit status {status}\n{}",
        worker.log_tail()
    );

    let mut tx = db.system().await.unwrap();
    let states: Vec<(i64, String, i32)> =
        sqlx::query_as("SELECT id, state, attempts FROM jobs ORDER BY id")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    let state_of = |id: i64| {
        states
            .iter()
            .find(|s| s.0 == id)
            .map(|s| (s.1.as_str(), s.2))
    };
    assert_eq!(
        state_of(short.id),
        Some(("completed", 1)),
        "finished within the deadline"
    );
    assert_eq!(
        state_of(long.id),
        Some(("pending", 0)),
        "given back, attempt not counted"
    );
    let untouched = states
        .iter()
        .filter(|s| s.0 != long.id && s.0 != short.id)
        .all(|s| s.1 == "pending" && s.2 == 0);
    assert!(untouched, "nothing claimed after SIGTERM: {states:?}");
    eprintln!(
        "figures: SIGTERM with 2 jobs running, deadline 3 s: short job completed, long job \
         given back, 5 queued jobs untouched, exit 0 after {:.2} s",
        took.as_secs_f64()
    );
}
