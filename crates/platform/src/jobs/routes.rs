//! The operator API of the queue: `/api/v1/operator/jobs` and `/api/v1/operator/schedules`.
//! Every action is audited in `platform_audit_logs`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::admin::{self, ActionError, JobView, QueueStats, ScheduleView};
use super::{catalog, run_schedule_now};
use crate::audit::{self, AuditEvent};
use crate::auth::permission::Access;
use crate::auth::session::CurrentOperator;
use crate::error::{ApiError, ApiResult};
use crate::http::api::{Api, Operation as Op};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;
use crate::request::RequestMeta;

pub fn register(api: &mut Api) {
    let ok = StatusCode::OK;
    let accepted = StatusCode::ACCEPTED;
    api.add(
        Op::get("/api/v1/operator/jobs", Access::Operator)
            .summary(
                "jobs",
                "Queues (depth, oldest ready job age, running, failed in the last hour, totals) and the failed jobs, newest first",
            )
            .query::<PageParams>()
            .response::<JobsOverview>(ok),
        overview,
    );
    api.add(
        Op::get("/api/v1/operator/jobs/{id}", Access::Operator)
            .summary("jobs", "One job: state, attempts, last error, timestamps")
            .response::<JobView>(ok),
        show,
    );
    api.add(
        Op::post("/api/v1/operator/jobs/{id}/retry", Access::Operator)
            .summary(
                "jobs",
                "Run a failed job again with a fresh set of attempts (409 unless failed)",
            )
            .response::<JobView>(accepted),
        retry,
    );
    api.add(
        Op::delete("/api/v1/operator/jobs/{id}", Access::Operator)
            .summary("jobs", "Discard a job that is not running")
            .response::<()>(StatusCode::NO_CONTENT),
        discard,
    );
    api.add(
        Op::get("/api/v1/operator/schedules", Access::Operator)
            .summary(
                "jobs",
                "Every schedule: cron, timezone, next run, last run and its outcome",
            )
            .response::<Page<ScheduleView>>(ok),
        schedules,
    );
    api.add(
        Op::post("/api/v1/operator/schedules/{name}/run", Access::Operator)
            .summary("jobs", "Enqueue a schedule's job now; answers its job id")
            .response::<ScheduleRun>(accepted),
        run_schedule,
    );
}

/// `GET /api/v1/operator/jobs`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobsOverview {
    pub queues: Vec<QueueStats>,
    /// Failed jobs, newest first (paginated with `limit` and `cursor`).
    pub failed: Vec<JobView>,
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/operator/schedules/{name}/run`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScheduleRun {
    pub schedule: String,
    pub job_id: i64,
}

impl From<ActionError> for ApiError {
    fn from(e: ActionError) -> Self {
        match e {
            ActionError::NotFound => ApiError::NotFound,
            ActionError::Conflict(message) => ApiError::conflict("job_state", message),
            ActionError::Database(e) => ApiError::from(e),
        }
    }
}

async fn overview(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<JobsOverview>> {
    let limit = params.limit()?;
    let before: Option<i64> = params.after()?;
    let mut tx = state.db.system().await?;
    let queues = admin::queue_stats(&mut tx).await?;
    let failed = admin::failed_jobs(&mut tx, before, limit + 1).await?;
    tx.commit().await?;
    let page = Page::from_rows(failed, limit, |j| j.id);
    Ok(Json(JobsOverview {
        queues,
        failed: page.data,
        next_cursor: page.next_cursor,
    }))
}

async fn show(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<JobView>> {
    let mut tx = state.db.system().await?;
    let job = admin::job(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(job))
}

async fn retry(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let mut tx = state.db.system().await?;
    let job = admin::retry(&mut tx, id).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("job.retried")
            .on("job", id)
            .with(json!({ "kind": job.kind })),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

async fn discard(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.system().await?;
    let job = admin::discard(&mut tx, id).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("job.deleted")
            .on("job", id)
            .with(json!({ "kind": job.kind, "state": job.state })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn schedules(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
) -> ApiResult<Json<Page<ScheduleView>>> {
    let mut tx = state.db.system().await?;
    let data = admin::schedules(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(Page {
        data,
        next_cursor: None,
    }))
}

async fn run_schedule(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    meta: RequestMeta,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<ScheduleRun>)> {
    let schedule = catalog::schedule(&name).ok_or(ApiError::NotFound)?;
    let mut tx = state.db.system().await?;
    let job = run_schedule_now(&mut tx, &schedule, chrono::Utc::now()).await?;
    audit::record_platform(
        &mut tx,
        Some(op.operator_id),
        &meta,
        AuditEvent::new("schedule.run")
            .on("job", job.id)
            .with(json!({ "schedule": schedule.name })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ScheduleRun {
            schedule: schedule.name.into(),
            job_id: job.id,
        }),
    ))
}
