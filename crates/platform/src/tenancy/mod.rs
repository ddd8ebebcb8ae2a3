//! Districts and tenants (schools): creation with the default roles, and the operator and
//! district listings. All of this is system work ([`SystemTx`]): it crosses tenants.

pub mod calendar;
pub mod routes;

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::permission::DEFAULT_ROLES;
use crate::auth::session::{CurrentOperator, CurrentUser};
use crate::db::{SystemTx, TenantId, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiQuery;
use crate::http::page::{Page, PageParams};
use crate::http::AppState;

/// A tenant's subdomain: lowercase letters, digits and single hyphens, 1-63 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err("must be 1-63 lowercase letters, digits and single hyphens".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub async fn create_district(
    tx: &mut SystemTx,
    name: &str,
    slug: &Slug,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO districts (name, slug) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(slug.as_str())
            .fetch_one(&mut **tx)
            .await?;
    Ok(id)
}

/// A new school: its tenant and the `schools` row.
#[derive(Clone, Copy, Debug)]
pub struct NewSchool<'a> {
    pub district_id: Option<i64>,
    pub name: &'a str,
    pub slug: &'a Slug,
    /// An IANA time zone name, e.g. `America/New_York`.
    pub timezone: &'a str,
    pub address: Option<&'a str>,
}

/// Creates a school atomically: the tenant with its default roles and the school row.
/// Returns the transaction narrowed to the new tenant, for the caller's first rows (an
/// administrator, a calendar), and the school's id. The one way a school comes into being:
/// the demo seed, the benchmark, the test kit and provisioning all call it.
pub async fn create_school(
    sys: SystemTx,
    school: &NewSchool<'_>,
) -> Result<(TenantTx, i64), sqlx::Error> {
    let mut tx = create_tenant(sys, school.district_id, school.name, school.slug).await?;
    let (school_id,): (i64,) = sqlx::query_as(
        "INSERT INTO schools (tenant_id, name, timezone, address)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
    )
    .bind(school.name)
    .bind(school.timezone)
    .bind(school.address)
    .fetch_one(&mut *tx)
    .await?;
    Ok((tx, school_id))
}

/// Creates a tenant and its five default roles with their permissions, atomically.
/// Returns the transaction narrowed to the new tenant so the caller can add its first
/// rows (a school, an admin) before committing.
async fn create_tenant(
    mut tx: SystemTx,
    district_id: Option<i64>,
    name: &str,
    slug: &Slug,
) -> Result<TenantTx, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO tenants (district_id, name, slug) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(district_id)
    .bind(name)
    .bind(slug.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let mut tx = tx.into_tenant(TenantId(id)).await?;
    for (role, description, permissions) in DEFAULT_ROLES {
        let (role_id,): (i64,) = sqlx::query_as(
            "INSERT INTO roles (tenant_id, name, description) VALUES (current_tenant_id(), $1, $2)
             RETURNING id",
        )
        .bind(role)
        .bind(description)
        .fetch_one(&mut *tx)
        .await?;
        let resources: Vec<&str> = permissions.iter().map(|p| p.resource).collect();
        let actions: Vec<&str> = permissions.iter().map(|p| p.action).collect();
        sqlx::query(
            "INSERT INTO permissions (tenant_id, role_id, resource, action)
             SELECT current_tenant_id(), $1, r, a FROM unnest($2::text[], $3::text[]) AS x(r, a)",
        )
        .bind(role_id)
        .bind(&resources)
        .bind(&actions)
        .execute(&mut *tx)
        .await?;
    }
    // The AI settings and default task policies (students only where the school allows).
    crate::ai::create_defaults(&mut tx).await?;
    Ok(tx)
}

/// Looks up a tenant id by slug.
pub async fn tenant_id_by_slug(
    tx: &mut SystemTx,
    slug: &str,
) -> Result<Option<TenantId>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| TenantId(r.0)))
}

/// A tenant as operators and district admins see it.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct TenantSummary {
    pub id: i64,
    pub district_id: Option<i64>,
    pub name: String,
    pub slug: String,
    pub users_count: i32,
    pub schools_count: i32,
    pub courses_count: i32,
    pub created_at: DateTime<Utc>,
}

async fn list_tenants(
    tx: &mut SystemTx,
    district: Option<i64>,
    params: &PageParams,
) -> ApiResult<Page<TenantSummary>> {
    let limit = params.limit()?;
    let after: i64 = params.after()?.unwrap_or(0);
    let rows: Vec<TenantSummary> = sqlx::query_as(
        "SELECT id, district_id, name, slug, users_count, schools_count, courses_count, created_at
           FROM tenants
          WHERE id > $1 AND ($2::bigint IS NULL OR district_id = $2)
          ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(district)
    .bind(limit + 1)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Page::from_rows(rows, limit, |t| t.id))
}

/// `GET /api/v1/operator/tenants`: every tenant, for platform operators.
pub async fn operator_list(
    State(state): State<AppState>,
    CurrentOperator(_): CurrentOperator,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<TenantSummary>>> {
    let mut tx = state.db.system().await?;
    let page = list_tenants(&mut tx, None, &params).await?;
    tx.commit().await?;
    Ok(Json(page))
}

/// `GET /api/v1/district/tenants`: the tenants of the caller's district.
pub async fn district_list(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<TenantSummary>>> {
    let district = user.district_id.ok_or(ApiError::Forbidden)?;
    let mut tx = state.db.system().await?;
    let page = list_tenants(&mut tx, Some(district), &params).await?;
    tx.commit().await?;
    Ok(Json(page))
}
