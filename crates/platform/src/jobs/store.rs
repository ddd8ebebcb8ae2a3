//! The worker's SQL: claim, heartbeat, finish, release, and reclaim expired leases.
//!
//! Every statement is its own short system transaction; none is held while a job runs.
//! A claim is identified by (id, attempts): `attempts` grows by one per claim, so a
//! worker that lost its lease can no longer heartbeat or finish the job.

use std::time::Duration;

use serde_json::Value;

use super::Queue;
use crate::db::Db;

/// A job this worker holds the lease of.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct Claimed {
    pub id: i64,
    pub kind: String,
    pub queue: String,
    pub payload: Value,
    pub attempts: i32,
    pub max_attempts: i32,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Claims up to `limit` ready jobs of `queue`, most urgent first.
#[tracing::instrument(skip(db))]
pub(crate) async fn claim(
    db: &Db,
    queue: Queue,
    worker: &str,
    lease: Duration,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = db.system().await?;
    let jobs = sqlx::query_as(
        "WITH next AS MATERIALIZED (
             SELECT id FROM jobs
              WHERE state = 'pending' AND queue = $1 AND run_at <= now()
              ORDER BY priority DESC, run_at, id
              LIMIT $4
              FOR UPDATE SKIP LOCKED)
         UPDATE jobs j
            SET state = 'running', attempts = j.attempts + 1, worker = $2,
                locked_until = now() + $3 * interval '1 millisecond',
                started_at = now(), finished_at = NULL
           FROM next WHERE j.id = next.id
         RETURNING j.id, j.kind, j.queue, j.payload, j.attempts, j.max_attempts",
    )
    .bind(queue.as_str())
    .bind(worker)
    .bind(millis(lease))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(jobs)
}

/// Extends the lease; false when this claim no longer holds the job.
pub(crate) async fn heartbeat(
    db: &Db,
    job: &Claimed,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.system().await?;
    let done = sqlx::query(
        "UPDATE jobs SET locked_until = now() + $3 * interval '1 millisecond'
          WHERE id = $1 AND attempts = $2 AND state = 'running'",
    )
    .bind(job.id)
    .bind(job.attempts)
    .bind(millis(lease))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Records success; false when this claim no longer held the job.
pub(crate) async fn complete(db: &Db, job: &Claimed) -> Result<bool, sqlx::Error> {
    let mut tx = db.system().await?;
    let done = sqlx::query(
        "WITH done AS (
             UPDATE jobs SET state = 'completed', finished_at = now(), locked_until = NULL
              WHERE id = $1 AND attempts = $2 AND state = 'running'
             RETURNING queue, kind)
         INSERT INTO job_counters (queue, kind, completed)
         SELECT queue, kind, 1 FROM done
         ON CONFLICT (queue, kind) DO UPDATE SET completed = job_counters.completed + 1",
    )
    .bind(job.id)
    .bind(job.attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Where a failed attempt leaves the job.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    Retry,
    Failed,
    LeaseLost,
}

/// Whether the job goes back to pending: attempts left, the error not permanent, and no
/// pending duplicate holding its unique key (that job will do the work).
/// `permanent` is an SQL boolean expression.
fn retry_condition(permanent: &str) -> String {
    format!(
        "NOT {permanent} AND j.attempts < j.max_attempts
         AND NOT (j.unique_key IS NOT NULL AND EXISTS (
             SELECT 1 FROM jobs d WHERE d.kind = j.kind AND d.unique_key = j.unique_key
                AND d.state = 'pending'))"
    )
}

/// Records a failed attempt: pending again after `delay`, or `failed`.
pub(crate) async fn fail(
    db: &Db,
    job: &Claimed,
    error: &str,
    permanent: bool,
    delay: Duration,
) -> Result<AfterFailure, sqlx::Error> {
    let error: String = error.chars().take(4000).collect();
    let retry = retry_condition("$4");
    let sql = format!(
        "WITH f AS (
             UPDATE jobs j
                SET state = CASE WHEN {retry} THEN 'pending' ELSE 'failed' END,
                    run_at = CASE WHEN {retry}
                                  THEN now() + $5 * interval '1 millisecond' ELSE j.run_at END,
                    finished_at = CASE WHEN {retry} THEN NULL ELSE now() END,
                    locked_until = NULL, last_error = $3
              WHERE j.id = $1 AND j.attempts = $2 AND j.state = 'running'
             RETURNING j.queue, j.kind, j.state),
         c AS (
             INSERT INTO job_counters (queue, kind, retried, failed)
             SELECT queue, kind, (state = 'pending')::int, (state = 'failed')::int FROM f
             ON CONFLICT (queue, kind) DO UPDATE
                SET retried = job_counters.retried + EXCLUDED.retried,
                    failed = job_counters.failed + EXCLUDED.failed)
         SELECT state FROM f"
    );
    for permanent in [permanent, true] {
        let mut tx = db.system().await?;
        let result: Result<Option<(String,)>, sqlx::Error> = sqlx::query_as(&sql)
            .bind(job.id)
            .bind(job.attempts)
            .bind(&error)
            .bind(permanent)
            .bind(millis(delay))
            .fetch_optional(&mut *tx)
            .await;
        match result {
            Ok(row) => {
                tx.commit().await?;
                return Ok(match row.as_ref().map(|r| r.0.as_str()) {
                    Some("pending") => AfterFailure::Retry,
                    Some(_) => AfterFailure::Failed,
                    None => AfterFailure::LeaseLost,
                });
            }
            // A duplicate was enqueued between the check and the update: fail this one.
            Err(e) if is_unique_violation(&e) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(sqlx::Error::Protocol(
        "job failure could not be recorded".into(),
    ))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// Gives a job back unfinished (shutdown deadline): pending at once, and the interrupted
/// attempt does not count.
pub(crate) async fn release(db: &Db, job: &Claimed) -> Result<bool, sqlx::Error> {
    let mut tx = db.system().await?;
    let done = sqlx::query(
        "UPDATE jobs SET state = 'pending', attempts = attempts - 1, run_at = now(),
                locked_until = NULL
          WHERE id = $1 AND attempts = $2 AND state = 'running'",
    )
    .bind(job.id)
    .bind(job.attempts)
    .execute(&mut *tx)
    .await;
    match done {
        Ok(done) => {
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        }
        // A pending duplicate exists; leave the lease to expire and the reaper to decide.
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Puts jobs whose lease expired (their worker died or hung) back to pending, or to
/// failed when that was their last attempt. Answers how many it handled.
pub(crate) async fn reclaim_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let mut tx = db.system().await?;
    let retry = retry_condition("false");
    let sql = format!(
        "WITH r AS (
             UPDATE jobs j
                SET state = CASE WHEN {retry} THEN 'pending' ELSE 'failed' END,
                    run_at = now(),
                    finished_at = CASE WHEN {retry} THEN NULL ELSE now() END,
                    locked_until = NULL,
                    last_error = 'lease expired: worker ' || coalesce(j.worker, '?')
                                 || ' stopped heartbeating during attempt ' || j.attempts
              WHERE j.id IN (SELECT id FROM jobs WHERE state = 'running' AND locked_until < now()
                              ORDER BY locked_until LIMIT 100 FOR UPDATE SKIP LOCKED)
             RETURNING j.queue, j.kind, j.state),
         c AS (
             INSERT INTO job_counters (queue, kind, retried, failed)
             SELECT queue, kind, count(*) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE state = 'failed')
               FROM r GROUP BY queue, kind
             ON CONFLICT (queue, kind) DO UPDATE
                SET retried = job_counters.retried + EXCLUDED.retried,
                    failed = job_counters.failed + EXCLUDED.failed)
         SELECT count(*) FROM r"
    );
    let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(n as u64)
}
