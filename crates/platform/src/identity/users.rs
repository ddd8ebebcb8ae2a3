//! Tenant users: queries and the `/api/v1/users` endpoints for tenant admins.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Email;
use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::password;
use crate::auth::token::{self, TokenKind, TokenOwner};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};
use crate::request::RequestMeta;

/// Setup tokens expire 48 hours after they are issued.
pub const SETUP_TOKEN_LIFETIME: Duration = Duration::hours(48);

/// A user as tenant admins see it.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub roles: Vec<String>,
    pub district_admin: bool,
    pub disabled: bool,
    pub has_password: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const USER_VIEW_SELECT: &str = "
    SELECT u.id, u.email, u.first_name, u.last_name,
           coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}') AS roles,
           u.district_admin, u.disabled_at IS NOT NULL AS disabled,
           u.password_hash IS NOT NULL AS has_password,
           u.last_login_at, u.created_at, u.updated_at
      FROM users u
      LEFT JOIN user_roles ur ON ur.user_id = u.id
      LEFT JOIN roles r ON r.id = ur.role_id";

pub async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query_as(&format!("{USER_VIEW_SELECT} WHERE u.id = $1 GROUP BY u.id"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// What it takes to create a user.
pub struct NewUser<'a> {
    pub email: &'a Email,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub roles: &'a [String],
    pub password_hash: Option<String>,
    pub district_admin: bool,
}

/// Inserts a user with roles; unknown role names are a 422.
pub async fn insert(tx: &mut TenantTx, new: NewUser<'_>) -> ApiResult<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (tenant_id, email, first_name, last_name, password_hash, district_admin)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(new.email.as_str())
    .bind(new.first_name)
    .bind(new.last_name)
    .bind(&new.password_hash)
    .bind(new.district_admin)
    .fetch_one(&mut **tx)
    .await?;
    set_roles(tx, id, new.roles).await?;
    Ok(id)
}

/// Replaces a user's roles with `roles` (by name).
pub async fn set_roles(tx: &mut TenantTx, user_id: i64, roles: &[String]) -> ApiResult<()> {
    let found: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, name FROM roles WHERE name = ANY($1)")
            .bind(roles)
            .fetch_all(&mut **tx)
            .await?;
    if let Some(unknown) = roles.iter().find(|r| !found.iter().any(|(_, n)| n == *r)) {
        return Err(ApiError::invalid(
            "roles",
            format!("unknown role {unknown:?}"),
        ));
    }
    let ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id <> ALL($2)")
        .bind(user_id)
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO user_roles (tenant_id, user_id, role_id)
         SELECT current_tenant_id(), $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Issues a single-use setup token for a user; the caller commits.
pub async fn issue_setup_token(
    tx: &mut TenantTx,
    user_id: i64,
) -> Result<(String, DateTime<Utc>), sqlx::Error> {
    let issued = token::issue(TokenKind::Setup, TokenOwner::User(tx.tenant_id()));
    let expires_at = Utc::now() + SETUP_TOKEN_LIFETIME;
    sqlx::query(
        "INSERT INTO setup_tokens (tenant_id, user_id, token_hash, expires_at)
         VALUES (current_tenant_id(), $1, $2, $3)",
    )
    .bind(user_id)
    .bind(&issued.hash)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    Ok((issued.token, expires_at))
}

/// Query parameters of the user list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UserListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only users holding this role.
    pub role: Option<String>,
}

/// `GET /api/v1/users`
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<UserListParams>,
) -> ApiResult<Json<Page<UserView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    let rows: Vec<UserView> = sqlx::query_as(&format!(
        "{USER_VIEW_SELECT}
          WHERE u.id > $1
            AND ($2::text IS NULL OR EXISTS (
                  SELECT 1 FROM user_roles ur2 JOIN roles r2 ON r2.id = ur2.role_id
                   WHERE ur2.user_id = u.id AND r2.name = $2))
          GROUP BY u.id ORDER BY u.id LIMIT $3"
    ))
    .bind(after)
    .bind(&params.role)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |u| u.id)))
}

/// `GET /api/v1/users/{id}`
pub async fn show(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<UserView>> {
    let mut tx = db.begin().await?;
    let user = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Body of `POST /api/v1/users`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// Role names, e.g. `["teacher"]`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The created user and the setup token to hand over (valid 48 hours, single use).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedUser {
    pub user: UserView,
    pub setup_token: String,
    pub setup_token_expires_at: DateTime<Utc>,
}

fn validate_name(field: &str, value: &str) -> ApiResult<()> {
    if value.chars().count() > 100 {
        return Err(ApiError::invalid(field, "must be at most 100 characters"));
    }
    Ok(())
}

/// `POST /api/v1/users`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::invalid("email", m))?;
    validate_name("first_name", &body.first_name)?;
    validate_name("last_name", &body.last_name)?;
    let mut tx = db.begin().await?;
    let id = insert(
        &mut tx,
        NewUser {
            email: &email,
            first_name: body.first_name.trim(),
            last_name: body.last_name.trim(),
            roles: &body.roles,
            password_hash: None,
            district_admin: false,
        },
    )
    .await?;
    let (setup_token, setup_token_expires_at) = issue_setup_token(&mut tx, id).await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("user.created")
            .on("user", id)
            .with(json!({ "email": email.as_str(), "roles": body.roles })),
    )
    .await?;
    let user = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            setup_token,
            setup_token_expires_at,
        }),
    ))
}

/// Body of `PUT /api/v1/users/{id}`: only the fields present change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `true` disables the account and ends its sessions; `false` enables it again.
    pub disabled: Option<bool>,
    /// Replaces the user's roles.
    pub roles: Option<Vec<String>>,
}

/// `PUT /api/v1/users/{id}`
pub async fn update(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    let email = body
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|m| ApiError::invalid("email", m))?;
    for (field, value) in [
        ("first_name", &body.first_name),
        ("last_name", &body.last_name),
    ] {
        if let Some(v) = value {
            validate_name(field, v)?;
        }
    }
    if id == me.user_id {
        if body.disabled == Some(true) {
            return Err(ApiError::conflict(
                "self_lockout",
                "you cannot disable your own account",
            ));
        }
        if body
            .roles
            .as_ref()
            .is_some_and(|r| !r.iter().any(|r| r == "admin"))
            && me.has_role("admin")
        {
            return Err(ApiError::conflict(
                "self_lockout",
                "you cannot remove your own admin role",
            ));
        }
    }
    let mut tx = db.begin().await?;
    let updated: Option<(i64,)> = sqlx::query_as(
        "UPDATE users SET
            email = coalesce($2, email),
            first_name = coalesce($3, first_name),
            last_name = coalesce($4, last_name),
            disabled_at = CASE WHEN $5::boolean IS NULL THEN disabled_at
                               WHEN $5 THEN coalesce(disabled_at, now()) ELSE NULL END
          WHERE id = $1 RETURNING id",
    )
    .bind(id)
    .bind(email.as_ref().map(Email::as_str))
    .bind(body.first_name.as_deref().map(str::trim))
    .bind(body.last_name.as_deref().map(str::trim))
    .bind(body.disabled)
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_none() {
        return Err(ApiError::NotFound);
    }
    if body.disabled == Some(true) {
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(roles) = &body.roles {
        set_roles(&mut tx, id, roles).await?;
    }
    let changed: Vec<&str> = [
        ("email", body.email.is_some()),
        ("first_name", body.first_name.is_some()),
        ("last_name", body.last_name.is_some()),
        ("disabled", body.disabled.is_some()),
        ("roles", body.roles.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, present)| present.then_some(f))
    .collect();
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("user.updated")
            .on("user", id)
            .with(json!({ "changed": changed, "disabled": body.disabled, "roles": body.roles })),
    )
    .await?;
    let user = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Hashes a password for a new account (used by seeding and setup).
pub async fn hash_password(password: &str) -> ApiResult<String> {
    Ok(password::hash(password.to_string()).await?)
}
