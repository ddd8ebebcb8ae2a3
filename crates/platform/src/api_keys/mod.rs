//! Tenant-scoped API keys: a school's admins issue keys for machines (an OpenFeature
//! SDK in a school's own service), list them and revoke them. A key opens only the
//! routes whose access rule names its scope ([`crate::auth::permission::Access::TenantMemberOrKey`]);
//! every other route refuses it as it refuses any unknown token (401).
//!
//! * [`key`]: the format and hashing; only the SHA-256 is stored, the secret is shown
//!   once, in the answer to `POST`.
//! * [`cache`]: the per-process map that resolves a key without SQL.
//! * Every change is audited in the tenant's audit log (name, prefix, scopes; never the
//!   secret or its hash).

pub mod cache;
pub mod key;
pub mod routes;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use cache::{ApiKeyActor, ApiKeyCache};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::session::Actor;
use crate::db::TenantId;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{page_by_id, row_by_id, Page, PageParams};
use crate::http::AppState;
use crate::request::RequestMeta;

/// Evaluate feature flags over OFREP.
pub const FLAGS_EVALUATE: &str = "flags:evaluate";

/// The scopes a key can be given.
pub const SCOPES: &[&str] = &[FLAGS_EVALUATE];

/// A key as listed (never its secret).
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The first 8 characters of the secret (after `k12k_`), to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    /// The user who created it (null once that user is deleted).
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// Refused from this instant on; null: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set when revoked: refused from then on.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last use, to the minute (written at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The new key and its secret, shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `k12k_<prefix>_<rest>`: send it as `Authorization: Bearer <key>`. Shown only in
    /// this response; only its SHA-256 is stored.
    pub secret: String,
}

/// `POST /api/v1/admin/api_keys`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for (1 to 100 characters).
    pub name: String,
    /// What the key may do; default `["flags:evaluate"]` (the only scope so far).
    pub scopes: Option<Vec<String>>,
    /// When the key stops working (RFC 3339, in the future); omit for never.
    pub expires_at: Option<DateTime<Utc>>,
}

const KEY_SELECT: &str = "SELECT id, name, prefix, scopes, created_by, created_at, expires_at,
                                 revoked_at, last_used_at FROM api_keys";

fn scopes(scopes: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let Some(scopes) = scopes else {
        return Ok(vec![FLAGS_EVALUATE.to_string()]);
    };
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if !SCOPES.contains(&scope.as_str()) {
            return Err(ApiError::invalid(
                "scopes",
                format!("unknown scope {scope:?}; known: {}", SCOPES.join(", ")),
            ));
        }
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("scopes", "name at least one scope"));
    }
    Ok(out)
}

/// `GET /api/v1/admin/api_keys`: the school's keys (revoked ones too), oldest first.
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<ApiKeyView>>> {
    let mut tx = db.begin().await?;
    let page = page_by_id(&mut tx, KEY_SELECT, &page, |k: &ApiKeyView| k.id).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// `POST /api/v1/admin/api_keys`: a new key; its secret is in this answer only.
pub async fn create(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "must be 1 to 100 characters, without control characters",
        ));
    }
    let scopes = scopes(body.scopes)?;
    if body.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let issued = key::issue();
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO api_keys (tenant_id, name, prefix, secret_sha256, scopes, created_by, expires_at)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&name)
    .bind(&issued.prefix)
    .bind(&issued.hash[..])
    .bind(&scopes)
    .bind(me.user_id)
    .bind(body.expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("api_key.created")
            .on("api_key", id)
            .with(json!({
                "name": name, "prefix": issued.prefix, "scopes": scopes,
                "expires_at": body.expires_at,
            })),
    )
    .await?;
    let view: ApiKeyView = row_by_id(&mut tx, KEY_SELECT, id).await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key: view,
            secret: issued.key,
        }),
    ))
}

/// `DELETE /api/v1/admin/api_keys/{id}`: revokes the key, in every process within a
/// second (NOTIFY), in this one at once. Revoking a revoked key changes nothing.
pub async fn revoke(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let key: ApiKeyView = row_by_id(&mut tx, KEY_SELECT, id).await?;
    if key.revoked_at.is_none() {
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record_tenant(
            &mut tx,
            TenantActor::User(me.user_id),
            &meta,
            AuditEvent::new("api_key.revoked")
                .on("api_key", id)
                .with(json!({"name": key.name, "prefix": key.prefix, "scopes": key.scopes})),
        )
        .await?;
    }
    tx.commit().await?;
    state.flags.api_keys().invalidate();
    Ok(StatusCode::NO_CONTENT)
}

/// Who a route open to keys acts for: a signed-in user's tenant, or a key's.
#[derive(Clone, Debug)]
pub struct TenantCaller {
    pub tenant_id: TenantId,
    /// The key, when the call came with one.
    pub key_id: Option<i64>,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        if let Some(k) = parts.extensions.get::<ApiKeyActor>() {
            return Ok(Self {
                tenant_id: k.tenant_id,
                key_id: Some(k.key_id),
            });
        }
        match parts.extensions.get::<Actor>() {
            Some(Actor::User(u)) => Ok(Self {
                tenant_id: u.tenant_id,
                key_id: None,
            }),
            Some(Actor::Operator(_)) => Err(ApiError::Forbidden),
            None => Err(ApiError::Unauthenticated),
        }
    }
}
