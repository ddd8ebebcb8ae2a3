//! `cleanup_expired`: deletes expired sessions and setup tokens (every tenant's and the
//! operators') and prunes the queue's own history. Hourly, see `cleanup-expired` in the
//! catalog. Deleting what is already expired is idempotent.

use serde::{Deserialize, Serialize};

use crate::db::{Db, TenantId};
use crate::jobs::{Job, JobContext, Queue};

/// Rows deleted per statement, so no transaction grows large.
const BATCH: i64 = 5000;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupExpired {}

/// What one run deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub tenants: u64,
    pub sessions: u64,
    pub setup_tokens: u64,
    pub operator_sessions: u64,
    pub operator_setup_tokens: u64,
    pub jobs: u64,
}

impl Job for CleanupExpired {
    const KIND: &'static str = "cleanup_expired";
    const QUEUE: Queue = Queue::Low;
    const MAX_ATTEMPTS: i32 = 3;

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let report = cleanup(&ctx.db).await?;
        tracing::info!(?report, "expired sessions and tokens deleted");
        Ok(())
    }
}

/// Deletes in batches until a statement deletes less than a full batch.
async fn drain(conn: &mut sqlx::PgConnection, sql: &str) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = sqlx::query(sql)
            .bind(BATCH)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// The job's work, callable directly (tests, `k12 jobs run`).
pub async fn cleanup(db: &Db) -> Result<CleanupReport, sqlx::Error> {
    let mut report = CleanupReport::default();

    let mut sys = db.system().await?;
    let tenants: Vec<(i64,)> = sqlx::query_as("SELECT id FROM tenants ORDER BY id")
        .fetch_all(&mut *sys)
        .await?;
    report.operator_sessions = drain(
        &mut sys,
        "DELETE FROM operator_sessions WHERE id IN (
             SELECT id FROM operator_sessions WHERE expires_at < now() LIMIT $1)",
    )
    .await?;
    report.operator_setup_tokens = drain(
        &mut sys,
        "DELETE FROM operator_setup_tokens WHERE id IN (
             SELECT id FROM operator_setup_tokens WHERE expires_at < now() LIMIT $1)",
    )
    .await?;
    report.jobs = drain(
        &mut sys,
        "DELETE FROM jobs WHERE id IN (
             SELECT id FROM jobs
              WHERE (state = 'completed' AND finished_at < now() - interval '7 days')
                 OR (state = 'failed' AND finished_at < now() - interval '30 days')
              LIMIT $1)",
    )
    .await?;
    for sql in [
        "DELETE FROM job_probes WHERE id IN (
             SELECT id FROM job_probes WHERE created_at < now() - interval '7 days' LIMIT $1)",
        "DELETE FROM job_schedule_ticks WHERE id IN (
             SELECT id FROM job_schedule_ticks WHERE created_at < now() - interval '30 days'
              LIMIT $1)",
    ] {
        drain(&mut sys, sql).await?;
    }
    sys.commit().await?;

    // Tenant tables: one tenant-scoped transaction each, so row-level security applies.
    for (id,) in tenants {
        let mut tx = db.tenant(TenantId(id)).await?;
        report.sessions += drain(
            &mut tx,
            "DELETE FROM sessions WHERE id IN (
                 SELECT id FROM sessions
                  WHERE tenant_id = current_tenant_id() AND expires_at < now() LIMIT $1)",
        )
        .await?;
        report.setup_tokens += drain(
            &mut tx,
            "DELETE FROM setup_tokens WHERE id IN (
                 SELECT id FROM setup_tokens
                  WHERE tenant_id = current_tenant_id() AND expires_at < now() LIMIT $1)",
        )
        .await?;
        tx.commit().await?;
        report.tenants += 1;
    }
    Ok(report)
}
