//! Restoring a backup into a target database (`k12 restore ID --target-url URL`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::anyhow;
use serde::Serialize;

use super::pg::{self, PgTarget};
use super::verify::{compare, FeedError, TableCheck};
use super::{BackupError, Backups, Status};

/// Where and how to restore.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub target: PgTarget,
    /// Replace the contents of a target that already has tables (`pg_restore --clean`).
    pub force: bool,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RestoreReport {
    pub backup_id: i64,
    /// The target, without its password.
    pub target: String,
    pub storage_key: String,
    /// SHA-256 of the object as read; it matched the record.
    pub sha256: String,
    /// Tables in the target before the restore (replaced with `--force`).
    pub replaced_tables: usize,
    /// Tables and rows restored.
    pub tables: usize,
    pub rows: i64,
    /// Every table's count equals the count recorded at backup time.
    pub all_match: bool,
    pub seconds: f64,
    pub table_counts: BTreeMap<String, TableCheck>,
}

impl Backups {
    /// Restores a `completed` or `verified` backup into `options.target` in one
    /// transaction, then compares every table's count with the record. Refuses a target
    /// that has tables unless `options.force`.
    pub async fn restore(
        &self,
        id: i64,
        options: &RestoreOptions,
    ) -> Result<RestoreReport, BackupError> {
        let started = Instant::now();
        let record = self.get(id).await?;
        if !matches!(record.status(), Some(Status::Completed | Status::Verified)) {
            return Err(BackupError::WrongState {
                id,
                status: record.status.clone(),
                message: "only completed or verified backups can be restored",
            });
        }
        if record.deleted_at.is_some() {
            return Err(BackupError::WrongState {
                id,
                status: record.status.clone(),
                message: "its object was deleted by retention",
            });
        }
        let key = self.key_for(&record).map_err(|m| anyhow!(m))?;
        let target = &options.target;
        let existing = {
            let mut conn = target.connect().await?;
            pg::tables(&mut conn).await?.len()
        };
        if existing > 0 && !options.force {
            return Err(BackupError::TargetNotEmpty {
                tables: existing as i64,
            });
        }
        let args: &[&str] = if existing > 0 {
            &["--clean", "--if-exists"]
        } else {
            &[]
        };
        let fed = match self
            .feed_restore(&record.storage_key, key.as_ref(), target, args)
            .await
        {
            Ok(fed) => fed,
            Err(FeedError::Missing) => {
                return Err(anyhow!(
                    "the object {} is missing from the store; nothing was restored",
                    record.storage_key
                )
                .into())
            }
            Err(FeedError::Store(e)) => {
                return Err(e.context("nothing was restored (one transaction)").into())
            }
        };
        let expected_sha = record.sha256.clone().unwrap_or_default();
        if let Some(e) = fed.decrypt_error {
            return Err(anyhow!("decryption failed: {e}; nothing was restored").into());
        }
        if !fed.status.success() {
            return Err(anyhow!(
                "pg_restore failed ({}): {}; nothing was restored (one transaction)",
                fed.status,
                fed.stderr
            )
            .into());
        }
        if fed.sha256 != expected_sha {
            return Err(anyhow!(
                "SHA-256 mismatch: the object's is {}, the backup recorded {expected_sha}; \
                 the restored data in {} must not be trusted",
                fed.sha256,
                target.redacted()
            )
            .into());
        }
        let counts = {
            let mut conn = target.connect().await?;
            pg::count_rows(&mut conn).await?
        };
        let (table_counts, differ) = compare(&record.row_counts(), &counts);
        Ok(RestoreReport {
            backup_id: id,
            target: target.redacted(),
            storage_key: record.storage_key,
            sha256: fed.sha256,
            replaced_tables: existing,
            tables: counts.len(),
            rows: counts.values().sum(),
            all_match: differ.is_empty(),
            seconds: started.elapsed().as_secs_f64(),
            table_counts,
        })
    }
}
