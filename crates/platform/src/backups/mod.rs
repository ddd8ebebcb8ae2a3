//! Backups, verification and restore (spec 06): every backup is proven by a restore.
//!
//! * [`Backups::create`]: `pg_dump -Fc -Z1 --snapshot` of an exported REPEATABLE READ
//!   snapshot in which every table's rows are counted, streamed (optionally encrypted) to the
//!   object store while its SHA-256 is computed; a `backup_records` row follows the lifecycle
//!   `in_progress → completed | failed`.
//! * [`Backups::verify`]: streams the object back, checks size and SHA-256, restores it with
//!   `pg_restore` into a temporary `k12_verify_*` database, compares every table's count,
//!   drops the database whatever happens: `completed → verified | verification_failed`.
//! * [`Backups::restore`]: the same stream into a target database (`k12 restore`).
//! * [`Backups::prune`]: retention (`K12_BACKUP_RETENTION`).
//!
//! The lifecycle is enforced by a trigger (migrations/0008_backups.sql). Credentials reach
//! `pg_dump`/`pg_restore` through their environment only (see [`pg::PgTarget`]).

mod create;
pub mod jobs;
pub mod pg;
mod prune;
mod restore;
pub mod routes;
pub mod stream;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;

use backupkit::retention::Policy;
use backupkit::seal::SealKey;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::config::{ConfigError, VarSource};
use crate::db::Db;

pub use jobs::{BackupRetention, BackupSchedule, BackupVerification, DatabaseBackup};
pub use pg::{PgTarget, VERIFY_DB_PREFIX};
pub use prune::{PruneItem, PruneReport};
pub use restore::{RestoreOptions, RestoreReport};
pub use stream::Progress;
pub use verify::TableCheck;

/// The role backups connect as: `K12_BACKUP_DATABASE_URL`.
pub const DATABASE_URL_VAR: &str = "K12_BACKUP_DATABASE_URL";
pub const ENCRYPTION_KEY_VAR: &str = "K12_BACKUP_ENCRYPTION_KEY";
pub const RETENTION_VAR: &str = "K12_BACKUP_RETENTION";

/// Backup settings, read once at start.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// A role that reads every row (superuser or BYPASSRLS) and may create databases
    /// (verification restores into a temporary one).
    pub admin: PgTarget,
    /// Client-side encryption key, when configured.
    pub key: Option<SealKey>,
    pub retention: Policy,
    /// Where `pg_dump`/`pg_restore` are.
    pub pg_bin: PathBuf,
}

impl BackupConfig {
    /// `K12_BACKUP_DATABASE_URL` (default: `fallback_url`, e.g. `DATABASE_OWNER_URL`),
    /// `K12_BACKUP_ENCRYPTION_KEY`, `K12_BACKUP_RETENTION` (default `7/4/12`) and the
    /// PostgreSQL client binaries (`K12_PG_BIN` or the newest installed).
    pub fn from_vars(
        vars: &dyn VarSource,
        fallback_url: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let err = |var: &'static str, message: String| ConfigError { var, message };
        let url = vars
            .get(DATABASE_URL_VAR)
            .or_else(|| fallback_url.map(str::to_owned))
            .ok_or_else(|| {
                err(
                    DATABASE_URL_VAR,
                    "is required (a role with BYPASSRLS and CREATEDB; see deploy/roles.sql)".into(),
                )
            })?;
        let admin = PgTarget::parse(&url).map_err(|m| err(DATABASE_URL_VAR, m))?;
        let key = vars
            .get(ENCRYPTION_KEY_VAR)
            .map(|k| SealKey::parse(&k).map_err(|m| err(ENCRYPTION_KEY_VAR, m)))
            .transpose()?;
        let retention = match vars.get(RETENTION_VAR) {
            Some(v) => Policy::parse(&v).map_err(|m| err(RETENTION_VAR, m))?,
            None => Policy::default(),
        };
        let pg_bin = pg::pg_bin_dir().map_err(|e| err("K12_PG_BIN", format!("{e:#}")))?;
        Ok(Self {
            admin,
            key,
            retention,
            pg_bin,
        })
    }
}

/// A backup's status (the lifecycle is enforced by the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InProgress,
    Completed,
    Failed,
    Verified,
    VerificationFailed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Verified => "verified",
            Self::VerificationFailed => "verification_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InProgress,
            Self::Completed,
            Self::Failed,
            Self::Verified,
            Self::VerificationFailed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A `backup_records` row.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema, sqlx::FromRow)]
pub struct BackupRecord {
    pub id: i64,
    pub backup_type: String,
    /// `in_progress`, `completed`, `failed`, `verified` or `verification_failed`.
    pub status: String,
    pub storage_key: String,
    /// Where the store is (no credentials).
    pub storage_location: String,
    pub size_bytes: Option<i64>,
    /// SHA-256 of the stored object (after encryption, when encrypted), lowercase hex.
    pub sha256: Option<String>,
    pub duration_seconds: Option<f64>,
    /// `row_counts` (per table, counted in the dump's snapshot), `postgres_version`,
    /// `database_size_bytes`, `tools`, `encryption`, `format`.
    pub metadata: Value,
    pub error_message: Option<String>,
    pub verified_at: Option<DateTime<Utc>>,
    /// Per table `{expected, actual, match}`, the checks made and the reason of a failure.
    pub verification_result: Option<Value>,
    pub verification_seconds: Option<f64>,
    /// When retention deleted the object.
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BackupRecord {
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }

    /// The per-table row counts recorded at backup time.
    pub fn row_counts(&self) -> std::collections::BTreeMap<String, i64> {
        self.metadata
            .get("row_counts")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

const COLUMNS: &str = "id, backup_type, status, storage_key, storage_location, size_bytes, \
    sha256, duration_seconds, metadata, error_message, verified_at, verification_result, \
    verification_seconds, deleted_at, created_at, updated_at";

/// Why a backup operation did not happen (distinct from a backup or verification that
/// ran and failed, which is recorded in the record).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backup {0} not found")]
    NotFound(i64),
    #[error("backup {id} is {status}: {message}")]
    WrongState {
        id: i64,
        status: String,
        message: &'static str,
    },
    #[error(
        "the target database is not empty ({tables} tables); pass --force to replace its contents"
    )]
    TargetNotEmpty { tables: i64 },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Other(e.into())
    }
}

/// How often the process taking a backup marks its record alive.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
/// An `in_progress` record with no heartbeat for this long was abandoned.
pub const STALE: std::time::Duration = std::time::Duration::from_secs(600);

/// The records, through the service role's system transactions.
pub mod records {
    use super::*;

    pub async fn get(db: &Db, id: i64) -> sqlx::Result<Option<BackupRecord>> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM backup_records WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The newest `limit` records, newest first.
    pub async fn list(db: &Db, limit: i64) -> sqlx::Result<Vec<BackupRecord>> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM backup_records ORDER BY created_at DESC, id DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Inserts an `in_progress` record under the spec's key
    /// `backups/YYYY/MM/k12_full_YYYYMMDD_HHMMSS.dump` (`_2`, `_3`… when a backup of the
    /// same second exists).
    pub async fn start(db: &Db, now: DateTime<Utc>, location: &str) -> sqlx::Result<BackupRecord> {
        let base = format!(
            "backups/{}/k12_full_{}",
            now.format("%Y/%m"),
            now.format("%Y%m%d_%H%M%S")
        );
        let mut tx = db.system().await?;
        for n in 1.. {
            let key = if n == 1 {
                format!("{base}.dump")
            } else {
                format!("{base}_{n}.dump")
            };
            let row: Option<BackupRecord> = sqlx::query_as(&format!(
                "INSERT INTO backup_records (storage_key, storage_location) VALUES ($1, $2)
                 ON CONFLICT (storage_key) DO NOTHING RETURNING {COLUMNS}"
            ))
            .bind(&key)
            .bind(location)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                tx.commit().await?;
                return Ok(row);
            }
        }
        unreachable!("the loop returns")
    }

    pub async fn complete(
        db: &Db,
        id: i64,
        size: u64,
        sha256: &str,
        seconds: f64,
        metadata: &Value,
    ) -> sqlx::Result<BackupRecord> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "UPDATE backup_records SET status = 'completed', size_bytes = $2, sha256 = $3,
                    duration_seconds = $4, metadata = $5
              WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(i64::try_from(size).unwrap_or(i64::MAX))
        .bind(sha256)
        .bind(seconds)
        .bind(metadata)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn fail(
        db: &Db,
        id: i64,
        error: &str,
        seconds: f64,
        metadata: &Value,
    ) -> sqlx::Result<BackupRecord> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "UPDATE backup_records SET status = 'failed', error_message = $2,
                    duration_seconds = $3, metadata = $4
              WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(error)
        .bind(seconds)
        .bind(metadata)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Marks `in_progress` alive: the process taking the backup calls it while the dump
    /// runs (see [`HEARTBEAT`]).
    pub async fn heartbeat(db: &Db, id: i64) -> sqlx::Result<()> {
        let mut tx = db.system().await?;
        sqlx::query(
            "UPDATE backup_records SET updated_at = now() WHERE id = $1 AND status = 'in_progress'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Fails the `in_progress` records with no heartbeat for `stale`: the process taking
    /// them stopped (killed, crashed, host lost) and nothing else would ever end them.
    pub async fn abandon_stale(
        db: &Db,
        stale: std::time::Duration,
    ) -> sqlx::Result<Vec<BackupRecord>> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "UPDATE backup_records
                SET status = 'failed',
                    error_message = 'abandoned: no progress since '
                        || to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                        || '; the process taking this backup stopped before it finished',
                    duration_seconds = extract(epoch FROM updated_at - created_at)
              WHERE status = 'in_progress' AND updated_at < now() - make_interval(secs => $1)
              RETURNING {COLUMNS}"
        ))
        .bind(stale.as_secs_f64())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    pub async fn finish_verification(
        db: &Db,
        id: i64,
        verified: bool,
        result: &Value,
        seconds: f64,
        error: Option<&str>,
    ) -> sqlx::Result<BackupRecord> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "UPDATE backup_records
                SET status = CASE WHEN $2 THEN 'verified' ELSE 'verification_failed' END,
                    verified_at = CASE WHEN $2 THEN now() END,
                    verification_result = $3, verification_seconds = $4,
                    error_message = $5
              WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(verified)
        .bind(result)
        .bind(seconds)
        .bind(error)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Records still holding an object that retention may delete.
    pub async fn stored(db: &Db) -> sqlx::Result<Vec<BackupRecord>> {
        let mut tx = db.system().await?;
        let r = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM backup_records
              WHERE deleted_at IS NULL
                AND status IN ('completed', 'verified', 'verification_failed')
              ORDER BY created_at DESC, id DESC"
        ))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(r)
    }

    /// The figures of `GET /api/v1/operator/backups/status`.
    pub struct StatusFigures {
        pub latest_successful: Option<BackupRecord>,
        pub latest_verified: Option<BackupRecord>,
        pub total: i64,
        pub failed_last_30_days: i64,
    }

    pub async fn status(db: &Db) -> sqlx::Result<StatusFigures> {
        let mut tx = db.system().await?;
        let latest_successful = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM backup_records
              WHERE status IN ('completed', 'verified') AND deleted_at IS NULL
              ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let latest_verified = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM backup_records
              WHERE status = 'verified' AND deleted_at IS NULL
              ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let (total, failed_last_30_days): (i64, i64) = sqlx::query_as(
            "SELECT count(*),
                    count(*) FILTER (WHERE status IN ('failed', 'verification_failed')
                                       AND created_at > now() - interval '30 days')
               FROM backup_records",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StatusFigures {
            latest_successful,
            latest_verified,
            total,
            failed_last_30_days,
        })
    }

    pub async fn mark_deleted(db: &Db, id: i64) -> sqlx::Result<()> {
        let mut tx = db.system().await?;
        sqlx::query("UPDATE backup_records SET deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// The backup service: records in `db`, objects in `store`, dumps and restores through
/// `config.admin`.
#[derive(Clone, Debug)]
pub struct Backups {
    pub db: Db,
    pub store: storage::Store,
    pub config: Arc<BackupConfig>,
    /// Updated while bytes move, when set (the CLI's progress line).
    pub progress: Option<Arc<Progress>>,
}

impl Backups {
    pub fn new(db: Db, store: storage::Store, config: BackupConfig) -> Self {
        Self {
            db,
            store,
            config: Arc::new(config),
            progress: None,
        }
    }

    pub fn with_progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    fn progress(&self) -> Arc<Progress> {
        self.progress.clone().unwrap_or_default()
    }

    /// A record by id.
    pub async fn get(&self, id: i64) -> Result<BackupRecord, BackupError> {
        records::get(&self.db, id)
            .await?
            .ok_or(BackupError::NotFound(id))
    }

    /// The newest `limit` records, newest first.
    pub async fn list(&self, limit: i64) -> Result<Vec<BackupRecord>, BackupError> {
        Ok(records::list(&self.db, limit).await?)
    }

    /// Cleans up after a crash: drops `k12_verify_*` databases left behind (older than
    /// ten minutes and unused) and fails the backups whose taker stopped
    /// ([`records::abandon_stale`], removing any object they left). Run at start-up by
    /// the worker, by `k12 backup verify`, and before every new backup.
    pub async fn sweep(&self) -> Result<Vec<String>, BackupError> {
        let mut swept = Vec::new();
        for record in records::abandon_stale(&self.db, STALE).await? {
            tracing::warn!(
                id = record.id,
                key = %record.storage_key,
                "failed a backup abandoned by a process that stopped"
            );
            if let Err(e) = self.store.delete(&record.storage_key).await {
                tracing::warn!(key = %record.storage_key, error = %e, "sweep: object left in place");
            }
            swept.push(format!("backup {} ({})", record.id, record.storage_key));
        }
        let mut conn = self.config.admin.connect().await?;
        for name in pg::sweep_verify_databases(&mut conn, 600).await? {
            tracing::warn!(database = %name, "dropped a verification database left behind");
            swept.push(format!("database {name}"));
        }
        Ok(swept)
    }
}
