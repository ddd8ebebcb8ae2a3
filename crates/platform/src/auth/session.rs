//! Database sessions: creation, lookup from a bearer token or cookie, revocation, and the
//! actor types that request handlers receive.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Duration, Utc};

use super::permission::{grants, perm::ALL, Permission};
use super::token::{self, TokenKind, TokenOwner};
use crate::config::Environment;
use crate::db::{Db, SystemTx, TenantId, TenantTx};
use crate::error::ApiError;
use crate::request::RequestMeta;

/// Sessions end 12 hours after login, whatever the activity.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

pub const DEV_COOKIE: &str = "k12_session";
pub const SECURE_COOKIE: &str = "__Host-k12_session";

/// A signed-in user of a tenant, with roles and effective permissions.
#[derive(Clone, Debug)]
pub struct UserActor {
    pub tenant_id: TenantId,
    pub district_id: Option<i64>,
    pub user_id: i64,
    pub session_id: i64,
    pub email: String,
    pub district_admin: bool,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

impl UserActor {
    pub fn can(&self, p: Permission) -> bool {
        grants(&self.roles, &self.permissions, p)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Effective permissions as `resource:action`, sorted.
    pub fn effective_permissions(&self) -> Vec<String> {
        let mut all: Vec<String> = ALL
            .iter()
            .filter(|p| self.can(**p))
            .map(|p| p.to_string())
            .collect();
        all.sort();
        all
    }
}

/// A signed-in platform operator (no tenant).
#[derive(Clone, Debug)]
pub struct OperatorActor {
    pub operator_id: i64,
    pub session_id: i64,
    pub email: String,
}

/// Whoever is signed in.
#[derive(Clone, Debug)]
pub enum Actor {
    User(UserActor),
    Operator(OperatorActor),
}

/// The token a request carries: `Authorization: Bearer`, else the session cookie.
pub fn presented_token(headers: &HeaderMap, env: Environment) -> Option<String> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v
            .strip_prefix("Bearer ")
            .map(|t| t.trim().to_string())
            .or(Some(String::new()));
    }
    for header in headers.get_all(COOKIE) {
        let Ok(s) = header.to_str() else { continue };
        for pair in s.split(';') {
            let Some((name, value)) = pair.trim().split_once('=') else {
                continue;
            };
            let accepted =
                name == SECURE_COOKIE || (name == DEV_COOKIE && env == Environment::Development);
            if accepted {
                return Some(value.trim().to_string());
            }
        }
    }
    None
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    session_id: i64,
    user_id: i64,
    email: String,
    district_admin: bool,
    district_id: Option<i64>,
    roles: Vec<String>,
    permissions: Vec<String>,
}

/// The session lookup of every authenticated request: the live session behind a token
/// hash (`$1`), its user, roles and permissions, in one statement.
pub const USER_SESSION_SQL: &str = "
    SELECT s.id AS session_id, u.id AS user_id, u.email, u.district_admin, t.district_id,
           coalesce(array_agg(DISTINCT r.name) FILTER (WHERE r.name IS NOT NULL), '{}') AS roles,
           coalesce(array_agg(DISTINCT p.resource || ':' || p.action) FILTER (WHERE p.granted), '{}') AS permissions
      FROM sessions s
      JOIN users u ON u.id = s.user_id
      JOIN tenants t ON t.id = s.tenant_id
      LEFT JOIN user_roles ur ON ur.user_id = u.id
      LEFT JOIN roles r ON r.id = ur.role_id
      LEFT JOIN permissions p ON p.role_id = r.id
     WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
       AND u.disabled_at IS NULL
     GROUP BY s.id, u.id, t.id";

/// Finds the live session behind `token`. Any failure is `Unauthenticated`.
///
/// `hand_on`: a user's lookup transaction is kept open for the handler ([`Db::hand_on`]:
/// the handler's first transaction of the same tenant continues it) instead of being
/// committed; only for requests that send no body to read, so no connection waits on
/// the client.
pub async fn resolve(db: &Db, token: &str, hand_on: bool) -> Result<Actor, ApiError> {
    let Some((TokenKind::Session, owner)) = token::parse(token) else {
        return Err(ApiError::Unauthenticated);
    };
    let hash = token::hash(token);
    match owner {
        TokenOwner::User(tenant) => {
            let mut tx = db.tenant(tenant).await?;
            let row: Option<SessionRow> = sqlx::query_as(USER_SESSION_SQL)
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                tx.commit().await?;
                return Err(ApiError::Unauthenticated);
            };
            if hand_on {
                Db::hand_on(tx).await?;
            } else {
                tx.commit().await?;
            }
            Ok(Actor::User(UserActor {
                tenant_id: tenant,
                district_id: row.district_id,
                user_id: row.user_id,
                session_id: row.session_id,
                email: row.email,
                district_admin: row.district_admin,
                roles: row.roles,
                permissions: row.permissions,
            }))
        }
        TokenOwner::Operator => {
            let mut tx = db.system().await?;
            let row: Option<(i64, i64, String)> = sqlx::query_as(
                "SELECT s.id, o.id, o.email FROM operator_sessions s
                   JOIN operators o ON o.id = s.operator_id
                  WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
                    AND o.disabled_at IS NULL",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            let (session_id, operator_id, email) = row.ok_or(ApiError::Unauthenticated)?;
            Ok(Actor::Operator(OperatorActor {
                operator_id,
                session_id,
                email,
            }))
        }
    }
}

/// A new session for a user; the caller commits.
pub async fn create_user_session(
    tx: &mut TenantTx,
    user_id: i64,
    meta: &RequestMeta,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let issued = token::issue(TokenKind::Session, TokenOwner::User(tx.tenant_id()));
    let expires_at = Utc::now() + SESSION_LIFETIME;
    sqlx::query(
        "INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at, ip, user_agent)
         VALUES (current_tenant_id(), $1, $2, $3, $4::inet, $5)",
    )
    .bind(user_id)
    .bind(&issued.hash)
    .bind(expires_at)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok((issued.token, expires_at))
}

/// A new session for an operator; the caller commits.
pub async fn create_operator_session(
    tx: &mut SystemTx,
    operator_id: i64,
    meta: &RequestMeta,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let issued = token::issue(TokenKind::Session, TokenOwner::Operator);
    let expires_at = Utc::now() + SESSION_LIFETIME;
    sqlx::query(
        "INSERT INTO operator_sessions (operator_id, token_hash, expires_at, ip, user_agent)
         VALUES ($1, $2, $3, $4::inet, $5)",
    )
    .bind(operator_id)
    .bind(&issued.hash)
    .bind(expires_at)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(&meta.user_agent)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE operators SET last_login_at = now() WHERE id = $1")
        .bind(operator_id)
        .execute(&mut **tx)
        .await?;
    Ok((issued.token, expires_at))
}

/// The cookie rules: `k12_session` only in development over plain HTTP;
/// `__Host-k12_session` with Secure otherwise; always HttpOnly, SameSite=Lax, Path=/.
pub fn session_cookie(
    env: Environment,
    over_https: bool,
    token: &str,
    max_age: i64,
) -> HeaderValue {
    let cookie = if env == Environment::Development && !over_https {
        format!("{DEV_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}")
    } else {
        format!(
            "{SECURE_COOKIE}={token}; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}"
        )
    };
    HeaderValue::from_str(&cookie).expect("cookie is ASCII")
}

/// Whether the client reached us over HTTPS (directly or through a proxy that says so).
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn actor_from(parts: &Parts) -> Result<&Actor, ApiError> {
    parts
        .extensions
        .get::<Actor>()
        .ok_or(ApiError::Unauthenticated)
}

/// The signed-in tenant user. Routes whose access rule admits only tenant users use it.
pub struct CurrentUser(pub UserActor);

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match actor_from(parts)? {
            Actor::User(u) => Ok(Self(u.clone())),
            Actor::Operator(_) => Err(ApiError::Forbidden),
        }
    }
}

/// The signed-in operator.
pub struct CurrentOperator(pub OperatorActor);

impl<S: Send + Sync> FromRequestParts<S> for CurrentOperator {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match actor_from(parts)? {
            Actor::Operator(o) => Ok(Self(o.clone())),
            Actor::User(_) => Err(ApiError::Forbidden),
        }
    }
}

/// Whoever is signed in (user or operator).
pub struct CurrentActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for CurrentActor {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        actor_from(parts).map(|a| Self(a.clone()))
    }
}
