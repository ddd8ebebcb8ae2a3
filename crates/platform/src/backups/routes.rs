//! The operator API of backups: `/api/v1/operator/backups` (spec 06). Taking and verifying
//! a backup are enqueued jobs (202); restoring is a CLI action the API only prepares
//! (`restore_plan`): an API must not overwrite a database. Actions are audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::jobs::{BackupVerification, DatabaseBackup};
use super::{records, BackupRecord, Status};
use crate::audit::{self, AuditEvent};
use crate::auth::permission::Access;
use crate::auth::session::CurrentOperator;
use crate::error::{ApiError, ApiResult};
use crate::http::api::{Api, Operation as Op};
use crate::http::extract::ApiPath;
use crate::http::AppState;
use crate::jobs::enqueue;
use crate::request::RequestMeta;

pub fn register(api: &mut Api) {
    let ok = StatusCode::OK;
    let accepted = StatusCode::ACCEPTED;
    api.add(
        Op::get("/api/v1/operator/backups", Access::Operator)
            .summary("backups", "The latest 30 backups, newest first")
            .response::<BackupList>(ok),
        list,
    );
    api.add(
        Op::get("/api/v1/operator/backups/status", Access::Operator)
            .summary(
                "backups",
                "Latest successful and latest verified backup, totals, failures in the last 30 days, ages in hours",
            )
            .response::<BackupStatus>(ok),
        status,
    );
    api.add(
        Op::get("/api/v1/operator/backups/{id}", Access::Operator)
            .summary(
                "backups",
                "One backup: status, checksum, row counts, verification",
            )
            .response::<BackupRecord>(ok),
        show,
    );
    api.add(
        Op::post("/api/v1/operator/backups", Access::Operator)
            .summary(
                "backups",
                "Enqueue a full backup now (one pending at a time); answers its job id",
            )
            .response::<Enqueued>(accepted),
        create,
    );
    api.add(
        Op::post("/api/v1/operator/backups/{id}/verify", Access::Operator)
            .summary(
                "backups",
                "Enqueue the verification of a completed backup (409 otherwise); answers its job id",
            )
            .response::<Enqueued>(accepted),
        verify,
    );
    api.add(
        Op::post(
            "/api/v1/operator/backups/{id}/restore_plan",
            Access::Operator,
        )
        .summary(
            "backups",
            "The exact command and checks to restore a backup (never restores anything)",
        )
        .response::<RestorePlan>(ok),
        restore_plan,
    );
}

/// `GET /api/v1/operator/backups`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupList {
    pub data: Vec<BackupRecord>,
}

/// `GET /api/v1/operator/backups/status`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BackupStatus {
    /// The newest `completed` or `verified` backup whose object is kept.
    pub latest_successful: Option<BackupRecord>,
    pub latest_verified: Option<BackupRecord>,
    pub total: i64,
    /// `failed` or `verification_failed` backups created in the last 30 days.
    pub failed_last_30_days: i64,
    pub latest_successful_age_hours: Option<f64>,
    /// Monitoring alerts when this passes 26 hours.
    pub latest_verified_age_hours: Option<f64>,
}

/// A job enqueued by `POST /backups` or `POST /backups/{id}/verify`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Enqueued {
    pub job_id: i64,
    /// False when the same job was already pending (that job's id is answered).
    pub enqueued: bool,
    pub backup_id: Option<i64>,
}

/// One check an operator makes before restoring.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PlanCheck {
    pub check: String,
    /// `ok`, `warning` or `todo` (for the operator to do).
    pub state: String,
    pub detail: String,
}

/// `POST /api/v1/operator/backups/{id}/restore_plan`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RestorePlan {
    pub backup_id: i64,
    /// Run on a host with the k12 binary and the same DATABASE_URL, K12_STORAGE_URL and
    /// (for an encrypted backup) K12_BACKUP_ENCRYPTION_KEY as the workers; TARGET_URL is
    /// the new database (never put its password in a ticket or a chat).
    pub command: String,
    pub checks: Vec<PlanCheck>,
    pub steps: Vec<String>,
}

async fn list(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
) -> ApiResult<Json<BackupList>> {
    Ok(Json(BackupList {
        data: records::list(&state.db, 30).await?,
    }))
}

async fn show(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<BackupRecord>> {
    Ok(Json(
        records::get(&state.db, id)
            .await?
            .ok_or(ApiError::NotFound)?,
    ))
}

fn age_hours(t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| ((Utc::now() - t).num_seconds().max(0) as f64 / 3600.0 * 100.0).round() / 100.0)
}

async fn status(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
) -> ApiResult<Json<BackupStatus>> {
    let s = records::status(&state.db).await?;
    Ok(Json(BackupStatus {
        latest_successful_age_hours: age_hours(s.latest_successful.as_ref().map(|r| r.created_at)),
        latest_verified_age_hours: age_hours(s.latest_verified.as_ref().map(|r| r.created_at)),
        latest_successful: s.latest_successful,
        latest_verified: s.latest_verified,
        total: s.total,
        failed_last_30_days: s.failed_last_30_days,
    }))
}

async fn create(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
) -> ApiResult<(StatusCode, Json<Enqueued>)> {
    let mut tx = state.db.system().await?;
    let job = enqueue(&mut tx, &DatabaseBackup {}).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("backup.requested").on("job", job.id),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Enqueued {
            job_id: job.id,
            enqueued: job.inserted,
            backup_id: None,
        }),
    ))
}

async fn verify(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<Enqueued>)> {
    let record = records::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if record.status() != Some(Status::Completed) || record.deleted_at.is_some() {
        return Err(ApiError::conflict(
            "backup_state",
            format!(
                "backup {id} is {}{}; only completed backups are verified",
                record.status,
                if record.deleted_at.is_some() {
                    " and deleted"
                } else {
                    ""
                }
            ),
        ));
    }
    let mut tx = state.db.system().await?;
    let job = enqueue(&mut tx, &BackupVerification { backup_id: id }).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("backup.verification_requested")
            .on("backup", id)
            .with(json!({ "job_id": job.id })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Enqueued {
            job_id: job.id,
            enqueued: job.inserted,
            backup_id: Some(id),
        }),
    ))
}

async fn restore_plan(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RestorePlan>> {
    let record = records::get(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let status = record.status();
    if !matches!(status, Some(Status::Completed | Status::Verified)) || record.deleted_at.is_some()
    {
        return Err(ApiError::conflict(
            "backup_state",
            format!(
                "backup {id} is {}{}; only completed or verified backups can be restored",
                record.status,
                if record.deleted_at.is_some() {
                    " and deleted"
                } else {
                    ""
                }
            ),
        ));
    }
    let check = |check: &str, state: &str, detail: String| PlanCheck {
        check: check.into(),
        state: state.into(),
        detail,
    };
    let mut checks = Vec::new();
    checks.push(match (status, record.verified_at) {
        (Some(Status::Verified), Some(at)) => check(
            "verified",
            "ok",
            format!(
                "restored and compared table by table at {}",
                at.to_rfc3339()
            ),
        ),
        _ => check(
            "verified",
            "warning",
            format!("not verified yet: run `k12 backup verify {id}` first"),
        ),
    });
    let expected = record.size_bytes.unwrap_or(0).max(0) as u64;
    checks.push(match state.store.head(&record.storage_key).await {
        Ok(meta) if meta.size == expected => check(
            "object",
            "ok",
            format!(
                "{} is in the store ({} bytes)",
                record.storage_key, meta.size
            ),
        ),
        Ok(meta) => check(
            "object",
            "warning",
            format!(
                "{} is {} bytes, the backup recorded {expected}: do not restore it",
                record.storage_key, meta.size
            ),
        ),
        Err(storage::StorageError::NotFound { .. }) => check(
            "object",
            "warning",
            format!("{} is missing from the store", record.storage_key),
        ),
        Err(e) => check(
            "object",
            "warning",
            format!("the store could not be checked: {e}"),
        ),
    });
    if let Some(enc) = record.metadata.get("encryption").filter(|e| !e.is_null()) {
        checks.push(check(
            "encryption_key",
            "todo",
            format!(
                "encrypted: K12_BACKUP_ENCRYPTION_KEY must be the key with id {}",
                enc.get("key_id").and_then(|k| k.as_str()).unwrap_or("?")
            ),
        ));
    }
    checks.push(check(
        "target",
        "todo",
        "TARGET_URL names an existing, empty database on a server with the roles of \
         deploy/roles.sql; connect as a superuser (owners and grants are restored)"
            .into(),
    ));
    let rows: i64 = record.row_counts().values().sum();
    checks.push(check(
        "expected",
        "ok",
        format!(
            "{} tables, {rows} rows, sha256 {}",
            record.row_counts().len(),
            record.sha256.as_deref().unwrap_or("-")
        ),
    ));
    Ok(Json(RestorePlan {
        backup_id: id,
        command: format!("k12 restore {id} --target-url \"$TARGET_URL\""),
        checks,
        steps: vec![
            "Stop the API and the workers (nothing may write to the old or the new database).".into(),
            "Create the target database: CREATE DATABASE k12_restored OWNER k12_owner;".into(),
            format!("Run: TARGET_URL=postgres://postgres:...@host/k12_restored k12 restore {id} --target-url \"$TARGET_URL\""),
            "It prints every table and its row count, and exits 1 if any differs from the backup.".into(),
            "Point DATABASE_URL and DATABASE_OWNER_URL at the restored database, run `k12 migrate`, start the API and the workers.".into(),
        ],
    }))
}
