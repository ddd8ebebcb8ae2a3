//! What operators and monitoring see and do: queue metrics, job details, retry and
//! discard, and the schedules' state. Used by the operator API and `k12 jobs`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{catalog, Queue};
use crate::db::SystemTx;

/// A job's state as shown to operators: `pending` jobs are `scheduled` until their
/// `run_at`, then `ready`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Scheduled,
    Ready,
    Running,
    Completed,
    Failed,
}

impl TryFrom<String> for JobState {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "scheduled" => Self::Scheduled,
            "ready" => Self::Ready,
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return Err(format!("unknown job state {s:?}")),
        })
    }
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Ready => "ready",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// The state expression shared by every view.
const STATE: &str = "CASE WHEN state = 'pending' AND run_at > now() THEN 'scheduled'
                          WHEN state = 'pending' THEN 'ready' ELSE state END";

/// One job, for operators.
#[derive(Clone, Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct JobView {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    pub priority: i16,
    #[sqlx(try_from = "String")]
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    pub max_attempts: i32,
    pub payload: Value,
    pub unique_key: Option<String>,
    /// The schedule that enqueued it, if any.
    pub schedule: Option<String>,
    /// The worker that ran (or runs) the latest attempt.
    pub worker: Option<String>,
    /// The error of the latest failed attempt.
    pub last_error: Option<String>,
    /// When it may run (the next retry, for a job waiting to retry).
    pub run_at: DateTime<Utc>,
    /// The lease of a running job.
    pub locked_until: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn job_select() -> String {
    format!(
        "SELECT id, kind, queue, priority, {STATE} AS state, attempts, max_attempts, payload,
                unique_key, schedule_name AS schedule, worker, last_error, run_at, locked_until,
                started_at, finished_at, created_at, updated_at
           FROM jobs"
    )
}

pub async fn job(tx: &mut SystemTx, id: i64) -> Result<Option<JobView>, sqlx::Error> {
    sqlx::query_as(&format!("{} WHERE id = $1", job_select()))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Failed jobs, newest first, ids below `before`.
pub async fn failed_jobs(
    tx: &mut SystemTx,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<JobView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{} WHERE state = 'failed' AND ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        job_select()
    ))
    .bind(before)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Health figures of one queue (what the monitoring capability reads).
#[derive(Clone, Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct QueueStats {
    pub queue: String,
    /// Jobs ready to run now and not yet claimed.
    pub depth: i64,
    /// Jobs waiting for their `run_at` (delayed or waiting to retry).
    pub scheduled: i64,
    pub running: i64,
    /// Age in seconds of the oldest ready job: how late the queue runs.
    pub oldest_ready_age_secs: Option<f64>,
    pub failed_last_hour: i64,
    /// Totals since the installation began.
    pub completed_total: i64,
    pub retried_total: i64,
    pub failed_total: i64,
}

/// Figures for every queue, in claiming order.
pub async fn queue_stats(tx: &mut SystemTx) -> Result<Vec<QueueStats>, sqlx::Error> {
    let queues: Vec<&str> = Queue::ALL.iter().map(|q| q.as_str()).collect();
    sqlx::query_as(
        "WITH q AS (SELECT queue, n FROM unnest($1::text[]) WITH ORDINALITY AS q(queue, n)),
              pending AS (
                SELECT queue, count(*) FILTER (WHERE run_at <= now()) AS depth,
                       count(*) FILTER (WHERE run_at > now()) AS scheduled,
                       min(run_at) FILTER (WHERE run_at <= now()) AS oldest
                  FROM jobs WHERE state = 'pending' GROUP BY queue),
              running AS (SELECT queue, count(*) AS running FROM jobs
                           WHERE state = 'running' GROUP BY queue),
              recent AS (SELECT queue, count(*) AS failed FROM jobs
                          WHERE state = 'failed' AND finished_at > now() - interval '1 hour'
                          GROUP BY queue),
              totals AS (SELECT queue, sum(completed)::bigint AS completed,
                                sum(retried)::bigint AS retried, sum(failed)::bigint AS failed
                           FROM job_counters GROUP BY queue)
         SELECT q.queue, coalesce(p.depth, 0) AS depth, coalesce(p.scheduled, 0) AS scheduled,
                coalesce(r.running, 0) AS running,
                extract(epoch FROM now() - p.oldest)::float8 AS oldest_ready_age_secs,
                coalesce(f.failed, 0) AS failed_last_hour,
                coalesce(t.completed, 0) AS completed_total,
                coalesce(t.retried, 0) AS retried_total, coalesce(t.failed, 0) AS failed_total
           FROM q LEFT JOIN pending p USING (queue) LEFT JOIN running r USING (queue)
                  LEFT JOIN recent f USING (queue) LEFT JOIN totals t USING (queue)
          ORDER BY q.n",
    )
    .bind(&queues)
    .fetch_all(&mut **tx)
    .await
}

/// Why an operator action did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no such job")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Puts a failed job back to ready with a fresh set of attempts; the caller commits.
pub async fn retry(tx: &mut SystemTx, id: i64) -> Result<JobView, ActionError> {
    let updated = sqlx::query(
        "WITH r AS (
             UPDATE jobs SET state = 'pending', attempts = 0, run_at = now(), finished_at = NULL,
                             locked_until = NULL
              WHERE id = $1 AND state = 'failed' RETURNING queue)
         SELECT pg_notify('k12_jobs', queue) FROM r",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await;
    match updated {
        Ok(Some(_)) => {}
        Ok(None) => {
            let current = job(tx, id).await?.ok_or(ActionError::NotFound)?;
            return Err(ActionError::Conflict(format!(
                "only failed jobs can be retried; this one is {}",
                current.state.as_str()
            )));
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
            return Err(ActionError::Conflict(
                "a pending job with the same unique key exists".into(),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    job(tx, id).await?.ok_or(ActionError::NotFound)
}

/// Discards a job that is not running; the caller commits.
pub async fn discard(tx: &mut SystemTx, id: i64) -> Result<JobView, ActionError> {
    let current = job(tx, id).await?.ok_or(ActionError::NotFound)?;
    let deleted = sqlx::query("DELETE FROM jobs WHERE id = $1 AND state <> 'running'")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ActionError::Conflict(
            "a running job cannot be deleted; wait for it to finish".into(),
        ));
    }
    Ok(current)
}

/// The latest job of a schedule.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct LastRun {
    pub job_id: i64,
    pub state: JobState,
    pub enqueued_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A schedule declared in code with its state in the database.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ScheduleView {
    pub name: String,
    pub cron: String,
    pub timezone: String,
    /// Whether a tick missed while every worker was down fires on start-up.
    pub catch_up: bool,
    pub kind: String,
    pub queue: String,
    pub next_run_at: Option<DateTime<Utc>>,
    /// The latest tick handled (fired or skipped).
    pub last_tick_at: Option<DateTime<Utc>>,
    pub skipped_ticks: i64,
    /// The latest job (a tick's or a manual run's) and its outcome.
    pub last_run: Option<LastRun>,
}

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    name: String,
    last_tick_at: Option<DateTime<Utc>>,
    next_run_at: Option<DateTime<Utc>>,
    skipped_ticks: i64,
    job_id: Option<i64>,
    state: Option<String>,
    enqueued_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// Every schedule of the catalog, by name.
pub async fn schedules(tx: &mut SystemTx) -> Result<Vec<ScheduleView>, sqlx::Error> {
    let rows: Vec<ScheduleRow> = sqlx::query_as(&format!(
        "SELECT s.name, s.last_tick_at, s.next_run_at, s.skipped_ticks, j.id AS job_id,
                {STATE} AS state, j.created_at AS enqueued_at, j.finished_at, j.last_error
           FROM job_schedules s LEFT JOIN jobs j ON j.id = s.last_job_id"
    ))
    .fetch_all(&mut **tx)
    .await?;
    let now = Utc::now();
    let mut views: Vec<ScheduleView> = catalog::schedules()
        .into_iter()
        .map(|s| {
            let row = rows.iter().find(|r| r.name == s.name);
            let job = s.job_for(now).ok();
            ScheduleView {
                name: s.name.into(),
                cron: s.cron_expr.into(),
                timezone: s.timezone.name().into(),
                catch_up: s.catch_up,
                kind: job.as_ref().map(|j| j.kind.to_string()).unwrap_or_default(),
                queue: job
                    .map(|j| j.queue.as_str().to_string())
                    .unwrap_or_default(),
                next_run_at: row
                    .and_then(|r| r.next_run_at)
                    .or_else(|| s.next_after(now)),
                last_tick_at: row.and_then(|r| r.last_tick_at),
                skipped_ticks: row.map_or(0, |r| r.skipped_ticks),
                last_run: row.and_then(|r| {
                    Some(LastRun {
                        job_id: r.job_id?,
                        state: JobState::try_from(r.state.clone()?).ok()?,
                        enqueued_at: r.enqueued_at?,
                        finished_at: r.finished_at,
                        last_error: r.last_error.clone(),
                    })
                }),
            }
        })
        .collect();
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}
