//! Retention: deletes the objects `K12_BACKUP_RETENTION` does not keep and marks their
//! records (`deleted_at`); the newest verified backup is always kept.

use backupkit::retention::{self, Candidate};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{records, BackupError, Backups, Status};

/// One backup's retention decision.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PruneItem {
    pub id: i64,
    pub storage_key: String,
    pub created_at: DateTime<Utc>,
    pub status: String,
    /// `keep` or `delete` (or `deleted` once done).
    pub action: String,
    /// Why it is kept: `daily`, `weekly`, `monthly`, `latest_verified`, …
    pub reasons: Vec<&'static str>,
}

/// What retention decided and did.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PruneReport {
    pub policy: String,
    pub dry_run: bool,
    pub kept: usize,
    pub deleted: usize,
    pub items: Vec<PruneItem>,
}

impl Backups {
    /// Applies the retention policy at `now`; with `dry_run`, only reports.
    pub async fn prune(
        &self,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<PruneReport, BackupError> {
        let stored = records::stored(&self.db).await?;
        let candidates: Vec<Candidate> = stored
            .iter()
            .map(|r| Candidate {
                id: r.id,
                created_at: r.created_at,
                verified: r.status() == Some(Status::Verified),
                failed_verification: r.status() == Some(Status::VerificationFailed),
            })
            .collect();
        let plan = retention::plan(self.config.retention, &candidates, now);
        let mut items = Vec::new();
        let mut deleted = 0;
        for r in &stored {
            let reasons: Vec<&'static str> = plan
                .keep
                .iter()
                .find(|(id, _)| *id == r.id)
                .map(|(_, rs)| rs.iter().map(|x| x.as_str()).collect())
                .unwrap_or_default();
            let delete = plan.delete.contains(&r.id);
            let mut action = if delete { "delete" } else { "keep" };
            if delete && !dry_run {
                self.store
                    .delete(&r.storage_key)
                    .await
                    .map_err(anyhow::Error::from)?;
                records::mark_deleted(&self.db, r.id).await?;
                tracing::info!(id = r.id, key = %r.storage_key, "retention deleted a backup");
                action = "deleted";
                deleted += 1;
            }
            items.push(PruneItem {
                id: r.id,
                storage_key: r.storage_key.clone(),
                created_at: r.created_at,
                status: r.status.clone(),
                action: action.to_owned(),
                reasons,
            });
        }
        Ok(PruneReport {
            policy: self.config.retention.to_string(),
            dry_run,
            kept: plan.keep.len(),
            deleted: if dry_run { plan.delete.len() } else { deleted },
            items,
        })
    }
}
