//! Reading the audit trail: a school's for its administrators, the platform's for
//! operators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::permission::{perm, Access};
use crate::auth::session::CurrentOperator;
use crate::error::ApiResult;
use crate::http::api::{Api, Operation as Op};
use crate::http::extract::{ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;

/// Registers the audit-log routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/admin/audit_logs", Tenant(perm::AUDIT_READ))
            .summary("audit", "The school's audit trail, newest first")
            .query::<AuditListParams>()
            .response::<Page<AuditLogView>>(ok),
        list_tenant,
    );
    api.add(
        Op::get("/api/v1/operator/audit_logs", Operator)
            .summary(
                "operator",
                "Operator actions and logins naming no school, newest first",
            )
            .query::<AuditListParams>()
            .response::<Page<AuditLogView>>(ok),
        list_platform,
    );
}

/// One audit row as administrators read it.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AuditLogView {
    pub id: i64,
    pub event_type: String,
    /// The user who acted (tenant logs) or null.
    pub actor_user_id: Option<i64>,
    /// The operator who acted, or null.
    pub actor_operator_id: Option<i64>,
    pub auditable_type: Option<String>,
    pub auditable_id: Option<i64>,
    pub metadata: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Filters of the audit log lists.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AuditListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only this event type, e.g. `auth.login_failed`.
    pub event_type: Option<String>,
    /// Only events at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

fn audit_list_sql(table: &str, actor_user: &str) -> String {
    format!(
        "SELECT id, event_type, {actor_user} AS actor_user_id, {operator} AS actor_operator_id,
                auditable_type, auditable_id, metadata, host(ip) AS ip, user_agent, request_id, created_at
           FROM {table}
          WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR event_type = $2)
            AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
          ORDER BY id DESC LIMIT $5",
        operator = if table == "audit_logs" { "actor_operator_id" } else { "operator_id" },
    )
}

async fn audit_page(
    conn: &mut sqlx::PgConnection,
    table: &str,
    actor_user: &str,
    params: AuditListParams,
) -> ApiResult<Page<AuditLogView>> {
    let page = &params.page;
    let limit = page.limit()?;
    let before: Option<i64> = page.after()?;
    let rows: Vec<AuditLogView> = sqlx::query_as(&audit_list_sql(table, actor_user))
        .bind(before)
        .bind(&params.event_type)
        .bind(params.since)
        .bind(params.until)
        .bind(limit + 1)
        .fetch_all(conn)
        .await?;
    Ok(Page::from_rows(rows, limit, |r| r.id))
}

/// `GET /api/v1/admin/audit_logs`: the school's audit trail, newest first.
pub async fn list_tenant(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<AuditListParams>,
) -> ApiResult<Json<Page<AuditLogView>>> {
    let mut tx = db.begin().await?;
    let page = audit_page(&mut tx, "audit_logs", "actor_user_id", params).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// `GET /api/v1/operator/audit_logs`: operator actions and logins naming no school.
pub async fn list_platform(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(params): ApiQuery<AuditListParams>,
) -> ApiResult<Json<Page<AuditLogView>>> {
    let mut tx = state.db.system().await?;
    let page = audit_page(&mut tx, "platform_audit_logs", "NULL::bigint", params).await?;
    tx.commit().await?;
    Ok(Json(page))
}
