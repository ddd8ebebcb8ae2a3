//! A school's branding (`tenants.settings.branding`): the name, logo, favicon and primary
//! colour its login page shows. Tenant admins read and change it; the public route
//! serves it by slug to the web app's login page.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::audit::{self, AuditEvent, TenantActor};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, TenantScope};
use crate::http::validate;
use crate::http::AppState;
use crate::request::RequestMeta;

/// The branding of a school.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Branding {
    pub school_name: String,
    pub logo_url: Option<String>,
    pub favicon_url: Option<String>,
    /// `#rrggbb`.
    pub primary_color: String,
}

impl Branding {
    /// From a tenant's name and settings, with the defaults for what is not set.
    fn from_settings(name: &str, settings: &Value) -> Self {
        let b = &settings["branding"];
        let text = |k: &str| {
            b.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Self {
            school_name: text("school_name").unwrap_or_else(|| name.to_string()),
            logo_url: text("logo_url"),
            favicon_url: text("favicon_url"),
            primary_color: text("primary_color")
                .unwrap_or_else(|| super::DEFAULT_PRIMARY_COLOR.to_string()),
        }
    }
}

/// Body of `PUT /api/v1/admin/branding`: the fields to change; `null` clears a URL.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBranding {
    pub school_name: Option<String>,
    #[serde(default, deserialize_with = "crate::http::page::double_option")]
    pub logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::page::double_option")]
    pub favicon_url: Option<Option<String>>,
    pub primary_color: Option<String>,
}

async fn load(conn: &mut sqlx::PgConnection) -> ApiResult<(String, Value)> {
    let row: Option<(String, Value)> =
        sqlx::query_as("SELECT name, settings FROM tenants WHERE id = current_tenant_id()")
            .fetch_optional(conn)
            .await?;
    row.ok_or(ApiError::NotFound)
}

/// `GET /api/v1/admin/branding`
pub async fn show(TenantScope { me: _, db }: TenantScope) -> ApiResult<Json<Branding>> {
    let mut tx = db.begin().await?;
    let (name, settings) = load(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(Branding::from_settings(&name, &settings)))
}

/// `PUT /api/v1/admin/branding`
pub async fn update(
    State(state): State<AppState>,
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<UpdateBranding>,
) -> ApiResult<Json<Branding>> {
    if let Some(name) = &body.school_name {
        validate::text("school_name", name, 1, 200)?;
    }
    if let Some(color) = &body.primary_color {
        if !super::valid_color(color) {
            return Err(ApiError::invalid("primary_color", "must be #rrggbb"));
        }
    }
    let resolver = state.config.outbound.client.resolver();
    for (field, value) in [
        ("logo_url", &body.logo_url),
        ("favicon_url", &body.favicon_url),
    ] {
        if let Some(Some(url)) = value {
            super::guard_url(resolver, url)
                .await
                .map_err(|reason| ApiError::invalid(field, reason))?;
        }
    }
    let mut patch = serde_json::Map::new();
    if let Some(name) = &body.school_name {
        patch.insert("school_name".into(), json!(name.trim()));
    }
    if let Some(url) = &body.logo_url {
        patch.insert("logo_url".into(), json!(url));
    }
    if let Some(url) = &body.favicon_url {
        patch.insert("favicon_url".into(), json!(url));
    }
    if let Some(color) = &body.primary_color {
        patch.insert("primary_color".into(), json!(color.to_ascii_lowercase()));
    }
    let patch = Value::Object(patch);
    let mut tx = db.begin().await?;
    let (name, settings): (String, Value) = sqlx::query_as(
        "UPDATE tenants
            SET settings = jsonb_set(settings, '{branding}',
                                     coalesce(settings->'branding', '{}') || $1::jsonb)
          WHERE id = current_tenant_id()
      RETURNING name, settings",
    )
    .bind(&patch)
    .fetch_one(&mut *tx)
    .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("branding.updated").with(json!({"changed": patch})),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Branding::from_settings(&name, &settings)))
}

/// `GET /api/v1/tenants/{slug}/branding`: public, for the login page.
pub async fn public(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> ApiResult<Json<Branding>> {
    let mut tx = state.db.system().await?;
    let row: Option<(String, Value)> =
        sqlx::query_as("SELECT name, settings FROM tenants WHERE slug = $1")
            .bind(&slug)
            .fetch_optional(&mut *tx)
            .await?;
    tx.commit().await?;
    let (name, settings) = row.ok_or(ApiError::NotFound)?;
    Ok(Json(Branding::from_settings(&name, &settings)))
}
