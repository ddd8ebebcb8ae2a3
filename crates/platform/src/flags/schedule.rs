//! Scheduled flag changes: rows of `feature_flag_schedules` whose `apply_at` has come
//! are applied by the `apply_flag_schedules` job (every minute, see the catalog), each
//! audited like the change an admin makes by hand, with the admin who scheduled it as
//! the actor. Claims take row locks with SKIP LOCKED, so two workers never apply the
//! same change twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::{Db, TenantId};
use crate::jobs::{Job, JobContext};
use crate::request::RequestMeta;

/// Applies every due scheduled flag change.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyFlagSchedules {}

impl Job for ApplyFlagSchedules {
    const KIND: &'static str = "apply_flag_schedules";
    /// The next tick picks up whatever this one missed.
    const MAX_ATTEMPTS: i32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(120);

    fn unique_key(&self) -> Option<String> {
        Some(Self::KIND.into())
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let applied = apply_due(&ctx.db, Utc::now()).await?;
        if applied > 0 {
            tracing::info!(applied, "scheduled feature flag changes applied");
        }
        Ok(())
    }
}

type Due = (i64, String, String, Option<bool>, Option<i16>, Option<i64>);

const DUE_SQL: &str = "SELECT id, key, action, enabled, percentage, actor_user_id
                         FROM feature_flag_schedules
                        WHERE applied_at IS NULL AND apply_at <= $1 AND tenant_id IS NOT DISTINCT FROM $2
                        ORDER BY apply_at, id
                          FOR UPDATE SKIP LOCKED";

/// Applies the changes due at `now`; answers how many were applied.
pub async fn apply_due(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let meta = RequestMeta::default();
    let mut applied = 0;

    // Global changes, and which tenants have changes due.
    let mut sys = db.system().await?;
    let due: Vec<Due> = sqlx::query_as(DUE_SQL)
        .bind(now)
        .bind(None::<i64>)
        .fetch_all(&mut *sys)
        .await?;
    for (id, key, action, enabled, percentage, _) in due {
        let (old,): (Option<serde_json::Value>,) = sqlx::query_as(
            "SELECT (SELECT jsonb_build_object('enabled', enabled,
                                               'percentage', metadata -> 'percentage')
                       FROM feature_flags WHERE tenant_id IS NULL AND key = $1)",
        )
        .bind(&key)
        .fetch_one(&mut *sys)
        .await?;
        let new = if action == "set" {
            let enabled = enabled.unwrap_or(false);
            let metadata = match percentage {
                Some(p) => json!({"percentage": p}),
                None => json!({}),
            };
            super::set_global(&mut sys, &key, enabled, &metadata, None).await?;
            json!({"enabled": enabled, "percentage": percentage})
        } else {
            sqlx::query("DELETE FROM feature_flags WHERE tenant_id IS NULL AND key = $1")
                .bind(&key)
                .execute(&mut *sys)
                .await?;
            json!({"global": null})
        };
        sqlx::query("UPDATE feature_flag_schedules SET applied_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *sys)
            .await?;
        audit::record_platform(
            &mut sys,
            None,
            &meta,
            AuditEvent::new("feature_flag.global_schedule_applied")
                .on("feature_flag_schedule", id)
                .with(json!({"key": key, "old": old, "new": new})),
        )
        .await?;
        applied += 1;
    }
    let tenants: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT tenant_id FROM feature_flag_schedules
          WHERE applied_at IS NULL AND apply_at <= $1 AND tenant_id IS NOT NULL
          ORDER BY 1",
    )
    .bind(now)
    .fetch_all(&mut *sys)
    .await?;
    sys.commit().await?;

    // Each tenant's changes in its own transaction, so row-level security applies and the
    // audit lands in the tenant's log.
    for (tenant,) in tenants {
        let mut tx = db.tenant(TenantId(tenant)).await?;
        let due: Vec<Due> = sqlx::query_as(DUE_SQL)
            .bind(now)
            .bind(Some(tenant))
            .fetch_all(&mut *tx)
            .await?;
        for (id, key, action, enabled, _, actor) in due {
            let (old,): (Option<bool>,) = sqlx::query_as(
                "SELECT (SELECT enabled FROM feature_flags
                          WHERE tenant_id = current_tenant_id() AND key = $1)",
            )
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
            let new = if action == "set" {
                sqlx::query(
                    "INSERT INTO feature_flags (tenant_id, key, enabled)
                     VALUES (current_tenant_id(), $1, $2)
                     ON CONFLICT (tenant_id, key) WHERE tenant_id IS NOT NULL
                     DO UPDATE SET enabled = EXCLUDED.enabled",
                )
                .bind(&key)
                .bind(enabled.unwrap_or(false))
                .execute(&mut *tx)
                .await?;
                enabled
            } else {
                sqlx::query(
                    "DELETE FROM feature_flags WHERE tenant_id = current_tenant_id() AND key = $1",
                )
                .bind(&key)
                .execute(&mut *tx)
                .await?;
                None
            };
            sqlx::query("UPDATE feature_flag_schedules SET applied_at = now() WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let actor = actor.map_or(TenantActor::Anonymous, TenantActor::User);
            audit::record_tenant(
                &mut tx,
                actor,
                &meta,
                AuditEvent::new("feature_flag.schedule_applied")
                    .on("feature_flag_schedule", id)
                    .with(json!({
                        "key": key,
                        "old": {"override": old},
                        "new": {"override": new},
                    })),
            )
            .await?;
            applied += 1;
        }
        tx.commit().await?;
    }
    Ok(applied)
}
