//! The worker: claims jobs, runs them under a lease with a heartbeat, records the
//! outcome, fires schedules, and shuts down gracefully.
//!
//! Shutdown: when the `shutdown` future resolves the worker stops claiming, waits up to
//! the deadline for running jobs, then aborts the rest and gives them back (pending,
//! the interrupted attempt not counted), and returns.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::store::{self, AfterFailure, Claimed};
use super::{
    backoff, catalog, random_unit, schedule, Clock, JobContext, Permanent, Queue, Registry,
    ScaledClock, Schedule, SystemClock,
};
use crate::config::{ConfigError, VarSource};
use crate::db::Db;
use crate::outbound::Outbound;

/// How a worker process behaves; see [`WorkerConfig::from_vars`] for the variables.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Recorded in `jobs.worker` and `job_probes.worker`.
    pub id: String,
    /// Jobs run at the same time by this process.
    pub concurrency: usize,
    /// Queues served, claimed in this order.
    pub queues: Vec<Queue>,
    /// How often an idle worker looks for jobs (it is also woken by NOTIFY).
    pub poll_interval: Duration,
    /// How long a claim holds a job without a heartbeat; heartbeats every third of it.
    pub lease: Duration,
    /// How long shutdown waits for running jobs before giving them back.
    pub shutdown_deadline: Duration,
    /// First retry delay (doubled per attempt, with jitter).
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Whether this worker fires schedules (any number may; each tick fires once).
    pub run_schedules: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: default_worker_id(),
            concurrency: 4,
            queues: Queue::ALL.to_vec(),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            shutdown_deadline: Duration::from_secs(25),
            retry_base: Duration::from_secs(10),
            retry_max: Duration::from_secs(3600),
            run_schedules: true,
        }
    }
}

fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

fn config_err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    vars: &dyn VarSource,
    var: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    let Some(v) = vars.get(var) else {
        return Ok(default);
    };
    match v.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(config_err(
            var,
            format!(
                "{v:?} is not a number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

impl WorkerConfig {
    /// Reads `K12_WORKER_*`; each unset variable keeps the default shown.
    ///
    /// `K12_WORKER_ID` (host:pid), `K12_WORKER_CONCURRENCY` (4),
    /// `K12_WORKER_QUEUES` (`critical,default,low`), `K12_WORKER_POLL_MS` (1000),
    /// `K12_WORKER_LEASE_SECS` (60), `K12_WORKER_SHUTDOWN_SECS` (25),
    /// `K12_WORKER_RETRY_BASE_MS` (10000), `K12_WORKER_RETRY_MAX_SECS` (3600),
    /// `K12_WORKER_SCHEDULES` (`on`; `off` for a worker that only runs jobs).
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let d = Self::default();
        let queues = match vars.get("K12_WORKER_QUEUES") {
            None => d.queues,
            Some(v) => {
                let mut queues = Vec::new();
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let q = Queue::parse(name).ok_or_else(|| {
                        config_err(
                            "K12_WORKER_QUEUES",
                            format!("unknown queue {name:?}; use critical, default, low"),
                        )
                    })?;
                    if !queues.contains(&q) {
                        queues.push(q);
                    }
                }
                if queues.is_empty() {
                    return Err(config_err("K12_WORKER_QUEUES", "names no queue"));
                }
                queues
            }
        };
        let run_schedules = match vars.get("K12_WORKER_SCHEDULES").as_deref() {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(v) => {
                return Err(config_err(
                    "K12_WORKER_SCHEDULES",
                    format!("{v:?} is not on or off"),
                ))
            }
        };
        Ok(Self {
            id: vars.get("K12_WORKER_ID").unwrap_or(d.id),
            concurrency: number(vars, "K12_WORKER_CONCURRENCY", d.concurrency, 1..=256)?,
            queues,
            poll_interval: Duration::from_millis(number(
                vars,
                "K12_WORKER_POLL_MS",
                1000,
                10..=60_000,
            )?),
            lease: Duration::from_secs(number(vars, "K12_WORKER_LEASE_SECS", 60, 1..=3600)?),
            shutdown_deadline: Duration::from_secs(number(
                vars,
                "K12_WORKER_SHUTDOWN_SECS",
                25,
                0..=3600,
            )?),
            retry_base: Duration::from_millis(number(
                vars,
                "K12_WORKER_RETRY_BASE_MS",
                10_000,
                1..=3_600_000,
            )?),
            retry_max: Duration::from_secs(number(
                vars,
                "K12_WORKER_RETRY_MAX_SECS",
                3600,
                1..=86_400,
            )?),
            run_schedules,
        })
    }
}

/// The schedules' clock: the system clock, or for tests a [`ScaledClock`] from
/// `K12_WORKER_CLOCK_START` (RFC 3339), `K12_WORKER_CLOCK_RATE` (default 1) and
/// `K12_WORKER_CLOCK_ANCHOR_MS` (the real Unix time in ms at which the clock shows the
/// start; default: now).
pub fn clock_from_vars(vars: &dyn VarSource) -> Result<Arc<dyn Clock>, ConfigError> {
    let Some(start) = vars.get("K12_WORKER_CLOCK_START") else {
        return Ok(Arc::new(SystemClock));
    };
    let start = chrono::DateTime::parse_from_rfc3339(&start)
        .map_err(|e| config_err("K12_WORKER_CLOCK_START", format!("not RFC 3339: {e}")))?
        .to_utc();
    let rate: f64 = number(vars, "K12_WORKER_CLOCK_RATE", 1.0, 0.001..=100_000.0)?;
    let anchor = match vars.get("K12_WORKER_CLOCK_ANCHOR_MS") {
        None => chrono::Utc::now(),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .ok_or_else(|| config_err("K12_WORKER_CLOCK_ANCHOR_MS", "not a Unix time in ms"))?,
    };
    tracing::warn!(%start, rate, "schedules use a simulated clock (K12_WORKER_CLOCK_START)");
    Ok(Arc::new(ScaledClock {
        start,
        anchor,
        rate,
    }))
}

/// A worker process's job loop.
#[derive(Debug)]
pub struct Worker {
    db: Db,
    config: WorkerConfig,
    registry: Registry,
    schedules: Vec<Schedule>,
    clock: Arc<dyn Clock>,
    outbound: Option<Outbound>,
    state: Option<crate::http::AppState>,
    backups: Option<crate::backups::Backups>,
}

/// What the job tasks share.
#[derive(Debug)]
struct Shared {
    db: Db,
    id: Arc<str>,
    config: WorkerConfig,
    registry: Registry,
    outbound: Option<Outbound>,
    state: Option<crate::http::AppState>,
    backups: Option<crate::backups::Backups>,
}

impl Worker {
    /// A worker running every kind and schedule of the [`catalog`].
    pub fn new(db: Db, config: WorkerConfig) -> Self {
        Self {
            db,
            config,
            registry: catalog::registry(),
            schedules: catalog::schedules(),
            clock: Arc::new(SystemClock),
            outbound: None,
            state: None,
            backups: None,
        }
    }

    /// Gives jobs the guarded HTTP client and the sealing key (webhook delivery needs
    /// them; without them such jobs fail and retry).
    pub fn with_outbound(mut self, outbound: Outbound) -> Self {
        self.outbound = Some(outbound);
        self
    }

    /// Gives jobs the service's state: alert evaluation builds the health report from
    /// it and notification delivery reads its client and settings.
    pub fn with_state(mut self, state: crate::http::AppState) -> Self {
        self.state = Some(state);
        self
    }

    /// Gives jobs the backup service (backup, verification and retention jobs need it;
    /// without it they fail). The worker sweeps what a crash left behind at start
    /// (verification databases, abandoned backups).
    pub fn with_backups(mut self, backups: crate::backups::Backups) -> Self {
        self.backups = Some(backups);
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    pub fn with_schedules(mut self, schedules: Vec<Schedule>) -> Self {
        self.schedules = schedules;
        self
    }

    /// Runs until `shutdown` resolves, then stops as described in the module docs.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            db,
            config,
            registry,
            schedules,
            clock,
            outbound,
            state,
            backups,
        } = self;
        if let Some(b) = backups.clone() {
            // Verification databases and backups a crash left behind.
            tokio::spawn(async move {
                if let Err(e) = b.sweep().await {
                    tracing::warn!(error = %e, "sweeping what a crash left behind");
                }
            });
        }
        tracing::info!(
            worker = %config.id,
            concurrency = config.concurrency,
            queues = ?config.queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
            kinds = ?registry,
            "worker started"
        );
        let pool_size = db.pool().options().get_max_connections() as usize;
        if config.concurrency + 3 > pool_size {
            tracing::warn!(
                concurrency = config.concurrency,
                pool_size,
                "K12_WORKER_CONCURRENCY leaves too few connections in the pool \
                 (K12_DB_POOL_SIZE) for heartbeats and claims; raise the pool size"
            );
        }
        let (stop_tx, stop) = watch::channel(false);
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let wake = Arc::new(Notify::new());
        let mut helpers = JoinSet::new();
        helpers.spawn(listen(db.clone(), wake.clone(), stop.clone()));
        if config.run_schedules && !schedules.is_empty() {
            let mut tx = db.system().await?;
            schedule::sync_schedules(&mut tx, &schedules, clock.now()).await?;
            tx.commit().await?;
            helpers.spawn(fire_schedules(db.clone(), schedules, clock, stop.clone()));
        }
        let shared = Arc::new(Shared {
            db,
            id: config.id.clone().into(),
            config,
            registry,
            outbound,
            state,
            backups,
        });
        claim_loop(shared, wake, stop).await;
        signal.abort();
        while helpers.join_next().await.is_some() {}
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// Claims while there is room, runs what it claims, and drains on stop.
async fn claim_loop(sh: Arc<Shared>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let (release_tx, release) = watch::channel(false);
    let reclaim_every = sh.config.poll_interval.max(Duration::from_millis(500));
    let mut next_reclaim = Instant::now();
    while !*stop.borrow() {
        while let Some(done) = tasks.try_join_next() {
            log_join(done);
        }
        if Instant::now() >= next_reclaim {
            match store::reclaim_expired(&sh.db).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(jobs = n, "reclaimed jobs whose lease expired"),
                Err(e) => tracing::warn!(error = %e, "reclaiming expired leases failed"),
            }
            next_reclaim = Instant::now() + reclaim_every;
        }
        let free = sh.config.concurrency.saturating_sub(tasks.len());
        let mut claimed = 0;
        if free > 0 {
            for &queue in &sh.config.queues {
                let want = (free - claimed) as i64;
                if want == 0 {
                    break;
                }
                match store::claim(&sh.db, queue, &sh.id, sh.config.lease, want).await {
                    Ok(jobs) => {
                        claimed += jobs.len();
                        for job in jobs {
                            tasks.spawn(execute(sh.clone(), job, release.clone()));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, queue = queue.as_str(), "claiming failed");
                        break;
                    }
                }
            }
            if claimed == free {
                continue; // full batch: there may be more ready right now
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = wake.notified() => {}
            Some(done) = tasks.join_next(), if !tasks.is_empty() => log_join(done),
            () = tokio::time::sleep(sh.config.poll_interval) => {}
        }
    }
    tracing::info!(
        running = tasks.len(),
        deadline = ?sh.config.shutdown_deadline,
        "shutting down: no new claims"
    );
    let drain = async {
        while let Some(done) = tasks.join_next().await {
            log_join(done);
        }
    };
    if tokio::time::timeout(sh.config.shutdown_deadline, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            jobs = tasks.len(),
            "shutdown deadline passed: giving jobs back"
        );
        let _ = release_tx.send(true);
        while let Some(done) = tasks.join_next().await {
            log_join(done);
        }
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "job supervisor task failed");
    }
}

enum Outcome {
    Done,
    Error(anyhow::Error),
    LeaseLost,
    Release,
}

/// Runs one claimed job in its own task, heartbeating, and records the outcome.
async fn execute(sh: Arc<Shared>, job: Claimed, mut release: watch::Receiver<bool>) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    async move {
        let ctx = JobContext {
            db: sh.db.clone(),
            job_id: job.id,
            attempt: job.attempts,
            worker: sh.id.clone(),
            outbound: sh.outbound.clone(),
            state: sh.state.clone(),
            backups: sh.backups.clone(),
        };
        let started = Instant::now();
        let outcome = match sh.registry.start(&job.kind, job.payload.clone(), ctx) {
            None => Outcome::Error(anyhow!(
                "worker {} does not know the job kind {:?}",
                sh.id,
                job.kind
            )),
            Some((future, limit)) => {
                let mut handle = tokio::spawn(future);
                let timeout = tokio::time::sleep(limit);
                tokio::pin!(timeout);
                let mut beat = tokio::time::interval(sh.config.lease / 3);
                beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                beat.tick().await;
                loop {
                    tokio::select! {
                        joined = &mut handle => break match joined {
                            Ok(Ok(())) => Outcome::Done,
                            Ok(Err(e)) => Outcome::Error(e),
                            Err(e) if e.is_panic() => Outcome::Error(anyhow!("the job panicked: {}", panic_message(e.into_panic()))),
                            Err(e) => Outcome::Error(anyhow!("the job was cancelled: {e}")),
                        },
                        () = &mut timeout => {
                            handle.abort();
                            break Outcome::Error(anyhow!("timed out after {limit:?}"));
                        }
                        _ = beat.tick() => match store::heartbeat(&sh.db, &job, sh.config.lease).await {
                            Ok(true) => {}
                            Ok(false) => {
                                handle.abort();
                                break Outcome::LeaseLost;
                            }
                            Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                        },
                        Ok(()) = release.changed() => {
                            handle.abort();
                            break Outcome::Release;
                        }
                    }
                }
            }
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        record(&sh, &job, outcome, elapsed_ms).await;
    }
    .instrument(span)
    .await
}

/// Records the outcome, retrying briefly if the database is unreachable; if it stays
/// unreachable the lease expires and the job runs again (at-least-once).
async fn record(sh: &Shared, job: &Claimed, outcome: Outcome, elapsed_ms: u64) {
    for attempt in 1..=3 {
        let result = match &outcome {
            Outcome::Done => store::complete(&sh.db, job).await.map(|held| {
                if held {
                    tracing::info!(elapsed_ms, "job completed");
                } else {
                    tracing::warn!("job finished after its lease passed to another worker");
                }
            }),
            Outcome::Error(e) => {
                let permanent = e.downcast_ref::<Permanent>().is_some();
                let delay = backoff(
                    job.attempts,
                    sh.config.retry_base,
                    sh.config.retry_max,
                    random_unit(),
                );
                let message = format!("{e:#}");
                store::fail(&sh.db, job, &message, permanent, delay)
                    .await
                    .map(|after| match after {
                        AfterFailure::Retry => tracing::warn!(
                            error = %message, retry_in = ?delay, max_attempts = job.max_attempts,
                            "job failed; will retry"
                        ),
                        AfterFailure::Failed => {
                            tracing::error!(error = %message, queue = %job.queue, "job failed for good")
                        }
                        AfterFailure::LeaseLost => {
                            tracing::warn!(error = %message, "job failed after losing its lease")
                        }
                    })
            }
            Outcome::LeaseLost => {
                tracing::warn!("lease lost (heartbeats missed); another worker has the job");
                Ok(())
            }
            Outcome::Release => store::release(&sh.db, job).await.map(|released| {
                tracing::warn!(released, "job interrupted by shutdown and given back");
            }),
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, attempt, "recording the job's outcome failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Wakes the claim loop when a job is enqueued (`NOTIFY k12_jobs` from `enqueue_job`),
/// so idle workers start new jobs at once; polling remains the fallback (e.g. behind a
/// transaction-pooling PgBouncer, where LISTEN does not work).
async fn listen(db: Db, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    if db.pgbouncer() == crate::config::PgBouncerMode::Transaction {
        tracing::info!("K12_DB_PGBOUNCER=transaction: no LISTEN; polling only");
        return;
    }
    let mut listener = match sqlx::postgres::PgListener::connect_with(db.pool()).await {
        Ok(l) => l,
        Err(e) => {
            tracing::info!(error = %e, "LISTEN unavailable; polling only");
            return;
        }
    };
    if let Err(e) = listener.listen("k12_jobs").await {
        tracing::info!(error = %e, "LISTEN unavailable; polling only");
        return;
    }
    loop {
        tokio::select! {
            n = listener.recv() => match n {
                Ok(_) => wake.notify_one(),
                Err(e) => {
                    tracing::warn!(error = %e, "job notifications interrupted");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// Fires due schedules, sleeping until the next tick by the (injectable) clock.
async fn fire_schedules(
    db: Db,
    schedules: Vec<Schedule>,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let wait = match schedule::tick_schedules(&db, &schedules, &*clock).await {
            Ok(Some(next)) => clock.real_until(next) + Duration::from_millis(5),
            Ok(None) => Duration::from_secs(10),
            Err(e) => {
                tracing::warn!(error = %e, "firing schedules failed");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait.min(Duration::from_secs(10))) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let d = WorkerConfig::from_vars(&vars(&[])).unwrap();
        assert_eq!(d.concurrency, 4);
        assert_eq!(d.queues, Queue::ALL.to_vec());
        assert_eq!(d.lease, Duration::from_secs(60));
        assert!(d.run_schedules);
        let c = WorkerConfig::from_vars(&vars(&[
            ("K12_WORKER_CONCURRENCY", "16"),
            ("K12_WORKER_QUEUES", "low, critical"),
            ("K12_WORKER_LEASE_SECS", "5"),
            ("K12_WORKER_SCHEDULES", "off"),
        ]))
        .unwrap();
        assert_eq!(c.concurrency, 16);
        assert_eq!(c.queues, vec![Queue::Low, Queue::Critical]);
        assert_eq!(c.lease, Duration::from_secs(5));
        assert!(!c.run_schedules);
    }

    #[test]
    fn each_invalid_variable_is_named() {
        for (var, value) in [
            ("K12_WORKER_CONCURRENCY", "0"),
            ("K12_WORKER_QUEUES", "urgent"),
            ("K12_WORKER_POLL_MS", "soon"),
            ("K12_WORKER_LEASE_SECS", "0"),
            ("K12_WORKER_SHUTDOWN_SECS", "-1"),
            ("K12_WORKER_RETRY_BASE_MS", "x"),
            ("K12_WORKER_SCHEDULES", "maybe"),
        ] {
            let e = WorkerConfig::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(e.var, var);
        }
        let e = clock_from_vars(&vars(&[("K12_WORKER_CLOCK_START", "tomorrow")])).unwrap_err();
        assert_eq!(e.var, "K12_WORKER_CLOCK_START");
    }
}
