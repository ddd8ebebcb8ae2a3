//! Durable background jobs and cron schedules, on PostgreSQL (spec 03).
//!
//! Our own small queue on `FOR UPDATE SKIP LOCKED`, like crates.io's: a job is a Rust
//! type implementing [`Job`]; [`enqueue`] adds it in the caller's transaction (system or
//! tenant), so it exists only if that transaction commits. [`Worker`] claims jobs in short
//! transactions and runs them outside any transaction under a lease (`jobs.locked_until`)
//! that a heartbeat keeps alive; a job whose worker died is claimed again once its lease
//! expires. Failures retry with exponential backoff and jitter up to the kind's maximum,
//! then the job is `failed` and waits for an operator. [`Schedule`]s fire their job once
//! per cron tick across any number of workers: the tick is decided under the schedule's
//! row lock and recorded under a unique (schedule, tick) key.
//!
//! Adding a job kind: a type implementing [`Job`], one line in [`catalog::registry`];
//! adding a schedule: one entry in [`catalog::schedules`].

pub mod admin;
pub mod catalog;
pub mod clock;
pub mod kinds;
mod registry;
pub mod routes;
mod schedule;
mod store;
mod worker;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgConnection;

use crate::db::Db;

pub use clock::{Clock, ManualClock, ScaledClock, SystemClock};
pub use registry::Registry;
pub use schedule::{run_schedule_now, sync_schedules, tick_schedules, Schedule, TickDecision};
pub use worker::{clock_from_vars, Worker, WorkerConfig};

/// The named queues. Workers serve a list of them (`K12_WORKER_QUEUES`) and claim from
/// `critical` before `default` before `low`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    Critical,
    Default,
    Low,
}

impl Queue {
    pub const ALL: [Queue; 3] = [Queue::Critical, Queue::Default, Queue::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Default => "default",
            Self::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }
}

/// A kind of background job: a serialisable payload and the code that runs it.
///
/// `run` may be called more than once for one enqueued job (at-least-once delivery: a
/// worker can die after the effect and before recording success), so it must be
/// idempotent.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The stable name stored in `jobs.kind`; never rename a kind that may be queued.
    const KIND: &'static str;
    const QUEUE: Queue = Queue::Default;
    /// Higher runs first within a queue.
    const PRIORITY: i16 = 0;
    /// Attempts before the job is `failed` (1 = no retry).
    const MAX_ATTEMPTS: i32 = 5;
    /// An attempt running longer than this fails (and is retried).
    const TIMEOUT: Duration = Duration::from_secs(30 * 60);

    /// Deduplication: while a job of this kind with the same key is pending (scheduled or
    /// ready), enqueueing another is a no-op.
    fn unique_key(&self) -> Option<String> {
        None
    }

    fn run(&self, ctx: &JobContext) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a running job gets: the database (open a [`crate::db::SystemTx`] or a
/// [`crate::db::TenantTx`] as the work needs) and which attempt this is.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub db: Db,
    pub job_id: i64,
    pub attempt: i32,
    pub worker: std::sync::Arc<str>,
    /// The guarded HTTP client and the sealing key, when the worker was given them.
    pub outbound: Option<crate::outbound::Outbound>,
    /// The service's state (what the health report and alert notifications need), when
    /// the worker was given it ([`Worker::with_state`]).
    pub state: Option<crate::http::AppState>,
    /// The backup service (store, backup role, pg binaries), when the worker was given it.
    pub backups: Option<crate::backups::Backups>,
}

/// An error that no retry can fix (a payload that no longer parses, a record that is
/// gone): the job fails at once instead of using up its attempts.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Permanent(pub String);

/// A job ready to be inserted, type-erased (what [`enqueue`] and schedules insert).
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: &'static str,
    pub queue: Queue,
    pub priority: i16,
    pub payload: serde_json::Value,
    pub max_attempts: i32,
    pub unique_key: Option<String>,
    pub run_at: Option<DateTime<Utc>>,
    pub schedule: Option<&'static str>,
}

impl NewJob {
    pub fn of<J: Job>(job: &J) -> Result<Self, serde_json::Error> {
        Ok(Self {
            kind: J::KIND,
            queue: J::QUEUE,
            priority: J::PRIORITY,
            payload: serde_json::to_value(job)?,
            max_attempts: J::MAX_ATTEMPTS,
            unique_key: job.unique_key(),
            run_at: None,
            schedule: None,
        })
    }

    /// Runs no earlier than `at` (the job is `scheduled` until then).
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }
}

/// The result of an enqueue: the job's id, and whether a new row was inserted (false when
/// a pending job with the same unique key already existed; `id` is that job's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    pub inserted: bool,
}

/// Enqueues `job` in the caller's transaction: pass `&mut *tx` for a
/// [`crate::db::SystemTx`] or a [`crate::db::TenantTx`]. The job becomes visible to
/// workers when that transaction commits, and never if it rolls back.
///
/// Tenant transactions cannot see the system table `jobs` (row-level security), so the
/// insert goes through the SQL function `enqueue_job`, which raises `app.system` for that
/// one statement only: tenant code can add jobs but not read or change the queue.
pub async fn enqueue<J: Job>(conn: &mut PgConnection, job: &J) -> Result<Enqueued, sqlx::Error> {
    let new = NewJob::of(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    enqueue_new(conn, &new).await
}

/// [`enqueue`] for a type-erased job.
#[tracing::instrument(skip_all, fields(kind = job.kind))]
pub async fn enqueue_new(conn: &mut PgConnection, job: &NewJob) -> Result<Enqueued, sqlx::Error> {
    let (id, inserted): (i64, bool) =
        sqlx::query_as("SELECT job_id, inserted FROM enqueue_job($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(job.kind)
            .bind(job.queue.as_str())
            .bind(job.priority)
            .bind(&job.payload)
            .bind(job.max_attempts)
            .bind(&job.unique_key)
            .bind(job.run_at)
            .bind(job.schedule)
            .fetch_one(conn)
            .await?;
    Ok(Enqueued { id, inserted })
}

/// The delay before retry number `attempt` (1 = the first retry): exponential from
/// `base`, capped at `max`, with "equal jitter" (half fixed, half random) so that jobs
/// failing together do not retry together. `unit` is a random number in [0, 1).
pub fn backoff(attempt: i32, base: Duration, max: Duration, unit: f64) -> Duration {
    let exp = attempt.clamp(1, 31) as u32 - 1;
    let full = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let half = full / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A random number in [0, 1) from the operating system.
pub(crate) fn random_unit() -> f64 {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    (OsRng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(3600);
        assert_eq!(backoff(1, base, max, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(1, base, max, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(3, base, max, 0.0), Duration::from_secs(20));
        assert_eq!(backoff(3, base, max, 1.0), Duration::from_secs(40));
        assert_eq!(backoff(30, base, max, 1.0), max);
        assert_eq!(backoff(i32::MAX, base, max, 0.5), max.mul_f64(0.75));
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn queues_parse_back() {
        for q in Queue::ALL {
            assert_eq!(Queue::parse(q.as_str()), Some(q));
        }
        assert_eq!(Queue::parse("urgent"), None);
    }
}
