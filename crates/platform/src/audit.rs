//! Audit trail: every admin or operator action and every login, successful or not.
//! Tenant events go to `audit_logs` (append-only for the service role); operator events
//! and logins naming no known tenant go to `platform_audit_logs`.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::session::{CurrentOperator, CurrentUser};
use crate::db::{SystemTx, TenantTx};
use crate::http::error::ApiResult;
use crate::http::extract::{ApiQuery, RequestMeta};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;

/// One audit event.
pub struct AuditEvent<'a> {
    pub event_type: &'a str,
    pub auditable: Option<(&'a str, i64)>,
    pub metadata: Value,
}

impl<'a> AuditEvent<'a> {
    pub fn new(event_type: &'a str) -> Self {
        Self {
            event_type,
            auditable: None,
            metadata: Value::Object(Default::default()),
        }
    }
    pub fn on(mut self, kind: &'a str, id: i64) -> Self {
        self.auditable = Some((kind, id));
        self
    }
    pub fn with(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Who did it, inside a tenant.
#[derive(Clone, Copy, Debug)]
pub enum TenantActor {
    User(i64),
    Operator(i64),
    Anonymous,
}

/// Records a tenant event in the caller's transaction.
pub async fn record_tenant(
    tx: &mut TenantTx,
    actor: TenantActor,
    meta: &RequestMeta,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    let (user, operator) = match actor {
        TenantActor::User(id) => (Some(id), None),
        TenantActor::Operator(id) => (None, Some(id)),
        TenantActor::Anonymous => (None, None),
    };
    sqlx::query(
        "INSERT INTO audit_logs (tenant_id, actor_user_id, actor_operator_id, event_type,
                                 auditable_type, auditable_id, metadata, ip, user_agent, request_id)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7::inet, $8, $9)",
    )
    .bind(user)
    .bind(operator)
    .bind(event.event_type)
    .bind(event.auditable.map(|a| a.0))
    .bind(event.auditable.map(|a| a.1))
    .bind(&event.metadata)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(&mut **tx)
    .await
    .map(drop)
}

/// Records a platform event in the caller's system transaction.
pub async fn record_platform(
    tx: &mut SystemTx,
    operator: Option<i64>,
    meta: &RequestMeta,
    event: AuditEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO platform_audit_logs (operator_id, event_type, auditable_type, auditable_id,
                                          metadata, ip, user_agent, request_id)
         VALUES ($1, $2, $3, $4, $5, $6::inet, $7, $8)",
    )
    .bind(operator)
    .bind(event.event_type)
    .bind(event.auditable.map(|a| a.0))
    .bind(event.auditable.map(|a| a.1))
    .bind(&event.metadata)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .bind(&meta.request_id)
    .execute(&mut **tx)
    .await
    .map(drop)
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
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
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
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    };
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
    State(state): State<AppState>,
    CurrentUser(me): CurrentUser,
    ApiQuery(params): ApiQuery<AuditListParams>,
) -> ApiResult<Json<Page<AuditLogView>>> {
    let mut tx = state.db.tenant(me.tenant_id).await?;
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
