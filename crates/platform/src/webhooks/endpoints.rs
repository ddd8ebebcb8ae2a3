//! Webhook endpoints of a school: CRUD for tenant admins, the test ping, the deliveries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::delivery::{attempt, Attempt};
use super::{EVENTS, SECRET_PURPOSE};
use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::crud::{delete_by_id, list_by_id, show_by_id};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{row_by_id, Page, PageParams};
use crate::http::AppState;
use crate::outbound::{random_bytes, Outbound};
use crate::request::RequestMeta;

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_` + base64url of 32 random bytes: the HMAC-SHA256 key of the
    /// `X-K12-Signature` header. Shown only in this response.
    pub secret: String,
}

const ENDPOINT_SELECT: &str =
    "SELECT id, url, events, active, created_by, created_at, updated_at FROM webhook_endpoints";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// https URL (checked by the URL guard now and at every delivery).
    pub url: String,
    /// Events to receive: `submission.created`, `submission.graded`,
    /// `assignment.published`, `enrollment.created`.
    pub events: Vec<String>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Judges a user-supplied URL with the URL guard (DNS included): 422 `unsafe_url` naming
/// the rule when refused.
pub(crate) async fn guard_url(outbound: &Outbound, field: &str, url: &str) -> ApiResult<()> {
    if url.is_empty() || url.len() > 2048 {
        return Err(ApiError::invalid(field, "must be 1 to 2048 characters"));
    }
    let verdict = outbound.client.resolver().check(url).await;
    match verdict.reason {
        Some(reason) if !verdict.allowed => Err(ApiError::unsafe_url(field, reason.as_str())),
        _ => Ok(()),
    }
}

fn events(events: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        if !EVENTS.contains(&event.as_str()) {
            return Err(ApiError::invalid(
                "events",
                format!("unknown event {event:?}; known: {}", EVENTS.join(", ")),
            ));
        }
        if !out.contains(&event) {
            out.push(event);
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("events", "name at least one event"));
    }
    Ok(out)
}

async fn fetch(tx: &mut TenantTx, id: i64) -> ApiResult<EndpointView> {
    row_by_id(tx, ENDPOINT_SELECT, id).await
}

/// `GET /api/v1/admin/webhook_endpoints`
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<EndpointView>>> {
    list_by_id(&db, ENDPOINT_SELECT, &page, |e: &EndpointView| e.id).await
}

/// `GET /api/v1/admin/webhook_endpoints/{id}`
pub async fn show(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<EndpointView>> {
    show_by_id(&db, ENDPOINT_SELECT, id).await
}

/// `POST /api/v1/admin/webhook_endpoints`
pub async fn create(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateEndpoint>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    let outbound = &state.config.outbound;
    let events = events(body.events)?;
    guard_url(outbound, "url", &body.url).await?;
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes())
    );
    let sealed = outbound.secrets.seal(SECRET_PURPOSE, secret.as_bytes());
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhook_endpoints (tenant_id, url, events, active, secret_encrypted, created_by)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(&body.url)
    .bind(&events)
    .bind(body.active.unwrap_or(true))
    .bind(&sealed)
    .bind(me.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("webhook_endpoint.created")
            .on("webhook_endpoint", id)
            .with(json!({ "url": body.url, "events": events })),
    )
    .await?;
    let endpoint = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint { endpoint, secret }),
    ))
}

/// `PUT /api/v1/admin/webhook_endpoints/{id}`
pub async fn update(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateEndpoint>,
) -> ApiResult<Json<EndpointView>> {
    let events = body.events.map(events).transpose()?;
    if let Some(url) = &body.url {
        guard_url(&state.config.outbound, "url", url).await?;
    }
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE webhook_endpoints
            SET url = coalesce($2, url), events = coalesce($3, events),
                active = coalesce($4, active)
          WHERE id = $1",
    )
    .bind(id)
    .bind(&body.url)
    .bind(&events)
    .bind(body.active)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("webhook_endpoint.updated")
            .on("webhook_endpoint", id)
            .with(json!({ "url": body.url, "events": events, "active": body.active })),
    )
    .await?;
    let endpoint = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(endpoint))
}

/// `DELETE /api/v1/admin/webhook_endpoints/{id}` (its deliveries go with it).
pub async fn delete(
    scope: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    delete_by_id(
        scope,
        &meta,
        "webhook_endpoints",
        id,
        "webhook_endpoint.deleted",
        "webhook_endpoint",
    )
    .await
}

/// The outcome of a test ping.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TestResult {
    /// The endpoint answered 2xx.
    pub delivered: bool,
    pub status_code: Option<u16>,
    /// Why it was not delivered (a refused URL names the guard's rule).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The delivery recorded for this ping.
    pub delivery_id: i64,
}

/// `POST /api/v1/admin/webhook_endpoints/{id}/test`: a signed `ping`, sent now, recorded
/// as a delivery.
pub async fn test(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TestResult>> {
    // rate limit: webhooks (the limiter is being built separately; apply it here).
    let mut tx = db.begin().await?;
    let (delivery_id,): (i64,) = sqlx::query_as(
        "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event, payload)
         SELECT tenant_id, id, 'ping', $2 FROM webhook_endpoints WHERE id = $1
         RETURNING id",
    )
    .bind(id)
    .bind(json!({ "endpoint_id": id, "requested_by": me.user_id }))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    let outcome = attempt(
        &state.db,
        &state.config.outbound,
        me.tenant_id,
        delivery_id,
        true,
    )
    .await?;
    let Attempt::Done(o) = outcome else {
        return Err(ApiError::NotFound);
    };
    Ok(Json(TestResult {
        delivered: o.delivered,
        status_code: o.status_code,
        error: o.error,
        duration_ms: o.duration_ms,
        delivery_id,
    }))
}

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct DeliveryView {
    pub id: i64,
    pub endpoint_id: i64,
    pub event: String,
    pub payload: Value,
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// Reserved: retries are scheduled by the job queue (its backoff), which does not
    /// report the time back yet, so this stays null.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /api/v1/admin/webhook_endpoints/{id}/deliveries`, newest first.
pub async fn deliveries(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<DeliveryView>>> {
    let limit = page.limit()?;
    let before: Option<i64> = page.after()?;
    let mut tx = db.begin().await?;
    fetch(&mut tx, id).await?;
    let rows: Vec<DeliveryView> = sqlx::query_as(
        "SELECT id, endpoint_id, event, payload, status, attempts, last_status_code, last_error,
                next_attempt_at, delivered_at, created_at, updated_at
           FROM webhook_deliveries
          WHERE endpoint_id = $1 AND ($2::bigint IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |d| d.id)))
}
