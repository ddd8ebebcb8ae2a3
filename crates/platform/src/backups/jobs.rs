//! The backup job kinds and the daily schedule (`K12_BACKUP_CRON` in `K12_BACKUP_TZ`).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::anyhow;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{BackupError, Backups, Status};
use crate::config::{ConfigError, ProcessEnv, VarSource};
use crate::jobs::{enqueue, Job, JobContext, Permanent, Queue};

pub const CRON_VAR: &str = "K12_BACKUP_CRON";
pub const TZ_VAR: &str = "K12_BACKUP_TZ";
pub const DEFAULT_CRON: &str = "0 2 * * *";

/// When the daily backup runs: a cron expression and its timezone.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSchedule {
    pub cron: String,
    pub timezone: Tz,
}

impl BackupSchedule {
    /// `K12_BACKUP_CRON` (default `0 2 * * *`) in `K12_BACKUP_TZ` (default UTC).
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let cron = vars
            .get(CRON_VAR)
            .unwrap_or_else(|| DEFAULT_CRON.to_owned());
        cron.parse::<croner::Cron>().map_err(|e| ConfigError {
            var: CRON_VAR,
            message: format!("{cron:?} is not a cron expression: {e}"),
        })?;
        let timezone = match vars.get(TZ_VAR) {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| ConfigError {
                var: TZ_VAR,
                message: format!("{name:?} is not an IANA timezone like Europe/Paris"),
            })?,
        };
        Ok(Self { cron, timezone })
    }

    /// The process's schedule, read once; an invalid setting falls back to the default
    /// here (the worker refuses to start with it: see [`BackupSchedule::from_vars`]).
    pub fn current() -> &'static (&'static str, Tz) {
        static CURRENT: OnceLock<(&'static str, Tz)> = OnceLock::new();
        CURRENT.get_or_init(|| match Self::from_vars(&ProcessEnv) {
            Ok(s) => (Box::leak(s.cron.into_boxed_str()), s.timezone),
            Err(e) => {
                tracing::error!(error = %e, "using the default backup schedule");
                (DEFAULT_CRON, Tz::UTC)
            }
        })
    }
}

fn backups(ctx: &JobContext) -> anyhow::Result<&Backups> {
    ctx.backups.as_ref().ok_or_else(|| {
        anyhow!(
            "this worker has no backup configuration (K12_STORAGE_URL and \
             K12_BACKUP_DATABASE_URL); see README, Backups"
        )
    })
}

/// `database_backup`: takes a full backup; a completed one enqueues its verification.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseBackup {}

impl Job for DatabaseBackup {
    const KIND: &'static str = "database_backup";
    const QUEUE: Queue = Queue::Low;
    /// A failed backup is recorded; one more attempt, not a storm of dumps.
    const MAX_ATTEMPTS: i32 = 2;
    const TIMEOUT: Duration = Duration::from_secs(6 * 3600);

    /// One pending backup at a time, however often it is asked for.
    fn unique_key(&self) -> Option<String> {
        Some("database_backup".into())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let backups = backups(ctx)?;
        let record = backups.create().await?;
        if record.status() != Some(Status::Completed) {
            anyhow::bail!(
                "backup {} failed: {}",
                record.id,
                record.error_message.as_deref().unwrap_or("unknown error")
            );
        }
        let mut tx = ctx.db.system().await?;
        enqueue(
            &mut tx,
            &BackupVerification {
                backup_id: record.id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// `backup_verification`: restores a completed backup into a temporary database and
/// compares every table. A store that cannot be reached retries; a backup that is bad is
/// recorded `verification_failed` and the job ends (the record is the outcome).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupVerification {
    pub backup_id: i64,
}

impl Job for BackupVerification {
    const KIND: &'static str = "backup_verification";
    const QUEUE: Queue = Queue::Low;
    const MAX_ATTEMPTS: i32 = 5;
    const TIMEOUT: Duration = Duration::from_secs(6 * 3600);

    fn unique_key(&self) -> Option<String> {
        Some(self.backup_id.to_string())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let backups = backups(ctx)?;
        match backups.verify(self.backup_id).await {
            Ok(record) => {
                if record.status() == Some(Status::VerificationFailed) {
                    tracing::error!(
                        id = record.id,
                        reason = record.error_message.as_deref().unwrap_or(""),
                        "backup verification failed"
                    );
                }
                Ok(())
            }
            // Verified or judged already (an earlier attempt finished): nothing to do.
            Err(BackupError::WrongState { .. }) => Ok(()),
            Err(BackupError::NotFound(id)) => {
                Err(Permanent(format!("backup {id} not found")).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `backup_retention`: applies `K12_BACKUP_RETENTION`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRetention {}

impl Job for BackupRetention {
    const KIND: &'static str = "backup_retention";
    const QUEUE: Queue = Queue::Low;
    const MAX_ATTEMPTS: i32 = 3;

    fn unique_key(&self) -> Option<String> {
        Some("backup_retention".into())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let report = backups(ctx)?.prune(chrono::Utc::now(), false).await?;
        tracing::info!(
            kept = report.kept,
            deleted = report.deleted,
            policy = %report.policy,
            "backup retention applied"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_schedule_reads_cron_and_timezone() {
        let d = BackupSchedule::from_vars(&vars(&[])).unwrap();
        assert_eq!(d.cron, "0 2 * * *");
        assert_eq!(d.timezone, Tz::UTC);
        let s = BackupSchedule::from_vars(&vars(&[
            ("K12_BACKUP_CRON", "30 1 * * 1-5"),
            ("K12_BACKUP_TZ", "America/New_York"),
        ]))
        .unwrap();
        assert_eq!(s.timezone, chrono_tz::America::New_York);
        let e =
            BackupSchedule::from_vars(&vars(&[("K12_BACKUP_CRON", "every night")])).unwrap_err();
        assert_eq!(e.var, "K12_BACKUP_CRON");
        let e = BackupSchedule::from_vars(&vars(&[("K12_BACKUP_TZ", "Mars/Olympus")])).unwrap_err();
        assert_eq!(e.var, "K12_BACKUP_TZ");
    }
}
