//! `probe`: a diagnostic job for checking the worker fleet end to end.
//!
//! It records one row in `job_probes` per probe key (which worker, which attempt) and
//! then holds its lease for `hold_ms`, so operators can see which workers pick up work
//! and how fast, and tests can kill a worker in the middle of a job. The write is
//! idempotent (`ON CONFLICT DO NOTHING`), as every job's effect must be. The
//! `fleet-probe` schedule enqueues one every minute: the latest probe's age is the
//! dead-man's switch of the monitoring capability (no recent probe = no live scheduler
//! or no worker on the default queue).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::jobs::{Job, JobContext};

/// The longest a probe may hold its job.
pub const MAX_HOLD: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    /// Names the probe's effect; one `job_probes` row per key.
    pub key: String,
    /// Milliseconds to hold the job after recording the effect.
    #[serde(default)]
    pub hold_ms: u64,
    /// Hold only during the first N attempts (default: every attempt).
    #[serde(default)]
    pub hold_attempts: Option<i32>,
    /// Fail every attempt (exercises retries, the failed state and alerting).
    #[serde(default)]
    pub fail: bool,
    /// Deduplicate on `key` while pending.
    #[serde(default)]
    pub unique: bool,
}

impl Probe {
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            hold_ms: 0,
            hold_attempts: None,
            fail: false,
            unique: false,
        }
    }
}

impl Job for Probe {
    const KIND: &'static str = "probe";
    const MAX_ATTEMPTS: i32 = 3;

    fn unique_key(&self) -> Option<String> {
        self.unique.then(|| self.key.clone())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        if self.fail {
            anyhow::bail!(
                "probe {} failed on purpose (attempt {} on {})",
                self.key,
                ctx.attempt,
                ctx.worker
            );
        }
        let mut tx = ctx.db.system().await?;
        sqlx::query(
            "INSERT INTO job_probes (probe, job_id, attempt, worker) VALUES ($1, $2, $3, $4)
             ON CONFLICT (probe) DO NOTHING",
        )
        .bind(&self.key)
        .bind(ctx.job_id)
        .bind(ctx.attempt)
        .bind(&*ctx.worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if self.hold_attempts.is_none_or(|n| ctx.attempt <= n) {
            tokio::time::sleep(Duration::from_millis(self.hold_ms).min(MAX_HOLD)).await;
        }
        Ok(())
    }
}
