//! Integration configurations of a school (OneRoster, Clever, Slack, ...): a provider,
//! its settings, and write-only secrets stored sealed. Every http(s) URL anywhere in the
//! settings is judged by the URL guard on create and update, so a base URL can't point
//! the server at an internal address.

pub mod routes;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::crud::{delete_by_id, list_by_id, show_by_id};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{row_by_id, Page, PageParams};
use crate::http::{validate, AppState};
use crate::outbound::Outbound;
use crate::request::RequestMeta;
use crate::webhooks::guard_url;

/// The associated data of sealed integration secrets.
const SECRETS_PURPOSE: &str = "integration_configs.secrets";
const STATUSES: &[&str] = &["active", "disabled"];

#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct IntegrationView {
    pub id: i64,
    pub provider: String,
    pub settings: Value,
    /// The names of the secrets that are set; their values are never returned.
    pub secret_keys: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, provider, settings, secret_keys, status, created_at, updated_at
                        FROM integration_configs";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// e.g. `oneroster`, `clever`, `slack`.
    pub provider: String,
    /// A JSON object; every http(s) URL in it is checked by the URL guard.
    pub settings: Option<Map<String, Value>>,
    /// Write-only: stored sealed, never returned.
    pub secrets: Option<BTreeMap<String, String>>,
    /// `active` (default) or `disabled`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    /// Replaces the settings.
    pub settings: Option<Map<String, Value>>,
    /// Write-only; replaces the whole set of secrets.
    pub secrets: Option<BTreeMap<String, String>>,
    pub status: Option<String>,
}

/// Every string in `value` that parses as an http(s) URL, with its JSON path.
fn urls_in(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => {
            let is_http =
                url::Url::parse(s.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if is_http {
                out.push((path, s.clone()));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                urls_in(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                urls_in(v, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

async fn guard_settings(outbound: &Outbound, settings: &Map<String, Value>) -> ApiResult<()> {
    let mut urls = Vec::new();
    for (k, v) in settings {
        urls_in(v, format!("settings.{k}"), &mut urls);
    }
    for (path, url) in urls {
        guard_url(outbound, &path, &url).await?;
    }
    Ok(())
}

fn check_status(status: Option<&str>) -> ApiResult<()> {
    match status {
        Some(s) if !STATUSES.contains(&s) => {
            Err(ApiError::invalid("status", "must be active or disabled"))
        }
        _ => Ok(()),
    }
}

/// The sealed secrets and their names.
fn seal(
    outbound: &Outbound,
    secrets: &BTreeMap<String, String>,
) -> ApiResult<(Vec<u8>, Vec<String>)> {
    for key in secrets.keys() {
        validate::text("secrets", key, 1, 100)?;
    }
    let plain = serde_json::to_vec(secrets).map_err(anyhow::Error::from)?;
    Ok((
        outbound.secrets.seal(SECRETS_PURPOSE, &plain),
        secrets.keys().cloned().collect(),
    ))
}

async fn fetch(tx: &mut TenantTx, id: i64) -> ApiResult<IntegrationView> {
    row_by_id(tx, SELECT, id).await
}

/// `GET /api/v1/admin/integrations`
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<IntegrationView>>> {
    list_by_id(&db, SELECT, &page, |i: &IntegrationView| i.id).await
}

/// `GET /api/v1/admin/integrations/{id}`
pub async fn show(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<IntegrationView>> {
    show_by_id(&db, SELECT, id).await
}

/// `POST /api/v1/admin/integrations`
pub async fn create(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> ApiResult<(StatusCode, Json<IntegrationView>)> {
    let outbound = &state.config.outbound;
    validate::text("provider", &body.provider, 1, 64)?;
    check_status(body.status.as_deref())?;
    let settings = body.settings.unwrap_or_default();
    guard_settings(outbound, &settings).await?;
    let (sealed, keys) = match &body.secrets {
        Some(secrets) => {
            let (sealed, keys) = seal(outbound, secrets)?;
            (Some(sealed), keys)
        }
        None => (None, Vec::new()),
    };
    let mut tx = db.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO integration_configs
                (tenant_id, provider, settings, secrets_encrypted, secret_keys, status)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(body.provider.trim())
    .bind(Value::Object(settings))
    .bind(sealed)
    .bind(&keys)
    .bind(body.status.as_deref().unwrap_or("active"))
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("integration.created")
            .on("integration", id)
            .with(json!({ "provider": body.provider.trim(), "secret_keys": keys })),
    )
    .await?;
    let view = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `PUT /api/v1/admin/integrations/{id}`
pub async fn update(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateIntegration>,
) -> ApiResult<Json<IntegrationView>> {
    let outbound = &state.config.outbound;
    check_status(body.status.as_deref())?;
    if let Some(settings) = &body.settings {
        guard_settings(outbound, settings).await?;
    }
    let sealed = body
        .secrets
        .as_ref()
        .map(|s| seal(outbound, s))
        .transpose()?;
    let mut tx = db.begin().await?;
    let updated = sqlx::query(
        "UPDATE integration_configs
            SET settings = coalesce($2, settings),
                secrets_encrypted = CASE WHEN $3 THEN $4 ELSE secrets_encrypted END,
                secret_keys = coalesce($5, secret_keys),
                status = coalesce($6, status)
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.settings.clone().map(Value::Object))
    .bind(sealed.is_some())
    .bind(sealed.as_ref().map(|s| &s.0))
    .bind(sealed.as_ref().map(|s| &s.1))
    .bind(&body.status)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("integration.updated")
            .on("integration", id)
            .with(json!({
                "settings_changed": body.settings.is_some(),
                "secret_keys": sealed.as_ref().map(|s| &s.1),
                "status": body.status,
            })),
    )
    .await?;
    let view = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// `DELETE /api/v1/admin/integrations/{id}`
pub async fn delete(
    scope: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    delete_by_id(
        scope,
        &meta,
        "integration_configs",
        id,
        "integration.deleted",
        "integration",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_found_at_any_depth() {
        let v = json!({"base_url": "https://sis.example.org/api", "nested": {"hooks": [
            "not a url", "http://10.0.0.1/", "gopher://127.0.0.1", 5]}, "name": "x"});
        let mut out = Vec::new();
        urls_in(&v, "settings".into(), &mut out);
        assert_eq!(
            out,
            vec![
                (
                    "settings.base_url".to_string(),
                    "https://sis.example.org/api".to_string()
                ),
                (
                    "settings.nested.hooks[1]".to_string(),
                    "http://10.0.0.1/".to_string()
                ),
            ]
        );
    }
}
