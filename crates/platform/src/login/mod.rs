//! `POST /auth/login`, `/auth/logout`, `/auth/setup`, `GET /me`, `POST /operator/login`.

pub mod lockout;
pub mod routes;

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::password;
use crate::auth::session::{self, Actor, CurrentActor, SESSION_LIFETIME};
use crate::auth::token::{self, TokenKind, TokenOwner};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiJson;
use crate::http::AppState;
use crate::request::RequestMeta;
use crate::tenancy;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The school's slug, e.g. `demo`.
    pub tenant: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionUser {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub roles: Vec<String>,
    pub tenant: TenantRef,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TenantRef {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; browsers also get it as a cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: SessionUser,
}

fn with_cookie<T: Serialize>(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
    body: T,
) -> Response {
    let cookie = session::session_cookie(
        state.config.env,
        session::over_https(headers),
        token,
        SESSION_LIFETIME.num_seconds(),
    );
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    response
}

async fn session_user(tx: &mut crate::db::TenantTx, user_id: i64) -> ApiResult<SessionUser> {
    let (id, email, first_name, last_name, roles, tenant_id, slug, name): (
        i64,
        String,
        String,
        String,
        Vec<String>,
        i64,
        String,
        String,
    ) = sqlx::query_as(
        "SELECT u.id, u.email, u.first_name, u.last_name,
                coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL), '{}'),
                t.id, t.slug, t.name
           FROM users u JOIN tenants t ON t.id = u.tenant_id
           LEFT JOIN user_roles ur ON ur.user_id = u.id
           LEFT JOIN roles r ON r.id = ur.role_id
          WHERE u.id = $1 GROUP BY u.id, t.id",
    )
    .bind(user_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(SessionUser {
        id,
        email,
        first_name,
        last_name,
        roles,
        tenant: TenantRef {
            id: tenant_id,
            slug,
            name,
        },
    })
}

/// The email a login names, lowercased; both fields must be present and of sane size.
fn login_email(email: &str, password: &str) -> ApiResult<String> {
    let email = email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || password.is_empty() || password.len() > 1024 {
        return Err(ApiError::invalid(
            "email",
            "email and password are required",
        ));
    }
    Ok(email)
}

const BAD_LOGIN: &str = "email or password is incorrect";

/// `POST /api/v1/auth/login`
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let email = login_email(&body.email, &body.password)?;
    let mut sys = state.db.system().await?;
    let tenant = match tenancy::Slug::parse(&body.tenant) {
        Ok(slug) => tenancy::tenant_id_by_slug(&mut sys, slug.as_str()).await?,
        Err(_) => None,
    };
    let Some(tenant) = tenant else {
        password::verify(body.password, None).await?;
        audit::record_platform(
            &mut sys,
            None,
            &meta,
            AuditEvent::new("auth.login_failed")
                .with(json!({ "tenant": body.tenant, "email": email, "reason": "unknown_tenant" })),
        )
        .await?;
        sys.commit().await?;
        return Err(ApiError::InvalidCredentials(BAD_LOGIN));
    };
    sys.commit().await?;

    let policy = state.limiter.lockout();
    let mut tx = state.db.tenant(tenant).await?;
    let standing = lockout::tenant_standing(&mut tx, policy, &email, meta.ip).await?;
    if let Some(refused) = standing.refusal() {
        return Err(refused);
    }
    if !standing.delay.is_zero() {
        // No connection is held while waiting.
        tx.commit().await?;
        tokio::time::sleep(standing.delay).await;
        tx = state.db.tenant(tenant).await?;
    }
    let user: Option<(i64, Option<String>, bool)> = sqlx::query_as(
        "SELECT id, password_hash, disabled_at IS NOT NULL FROM users WHERE lower(email) = $1",
    )
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    let (user_id, hash, disabled) = match user {
        Some((id, hash, disabled)) => (Some(id), hash, disabled),
        None => (None, None, false),
    };
    let verified = password::verify(body.password, hash).await?;
    match user_id {
        Some(user_id) if verified && !disabled => {
            let (token, expires_at) = session::create_user_session(&mut tx, user_id, &meta).await?;
            lockout::tenant_succeeded(&mut tx, &email, meta.ip).await?;
            audit::record_tenant(
                &mut tx,
                TenantActor::User(user_id),
                &meta,
                AuditEvent::new("auth.login").on("user", user_id),
            )
            .await?;
            let user = session_user(&mut tx, user_id).await?;
            tx.commit().await?;
            Ok(with_cookie(
                &state,
                &headers,
                &token.clone(),
                LoginResponse {
                    token,
                    expires_at,
                    user,
                },
            ))
        }
        _ => {
            let reason = match (user_id, disabled) {
                (None, _) => "unknown_email",
                (Some(_), true) => "disabled",
                _ => "wrong_password",
            };
            audit::record_tenant(
                &mut tx,
                TenantActor::Anonymous,
                &meta,
                AuditEvent::new("auth.login_failed")
                    .with(json!({ "email": email, "reason": reason, "user_id": user_id })),
            )
            .await?;
            lockout::tenant_failed(&mut tx, policy, &meta, &email).await?;
            tx.commit().await?;
            Err(ApiError::InvalidCredentials(BAD_LOGIN))
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorLoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OperatorView {
    pub id: i64,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OperatorLoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub operator: OperatorView,
}

/// `POST /api/v1/operator/login`
pub async fn operator_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    ApiJson(body): ApiJson<OperatorLoginRequest>,
) -> ApiResult<Response> {
    let email = login_email(&body.email, &body.password)?;
    let policy = state.limiter.lockout();
    let mut tx = state.db.system().await?;
    let standing = lockout::operator_standing(&mut tx, policy, &email, meta.ip).await?;
    if let Some(refused) = standing.refusal() {
        return Err(refused);
    }
    if !standing.delay.is_zero() {
        tx.commit().await?;
        tokio::time::sleep(standing.delay).await;
        tx = state.db.system().await?;
    }
    let row: Option<(i64, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT id, email, name, password_hash, disabled_at IS NOT NULL FROM operators WHERE lower(email) = $1",
    )
    .bind(&email)
    .fetch_optional(&mut *tx)
    .await?;
    let hash = row.as_ref().and_then(|r| r.3.clone());
    let verified = password::verify(body.password, hash).await?;
    match row {
        Some((id, email, name, _, false)) if verified => {
            let (token, expires_at) = session::create_operator_session(&mut tx, id, &meta).await?;
            // `email` here is the stored spelling; failures are kept under the login's.
            lockout::operator_succeeded(&mut tx, &email.to_lowercase(), meta.ip).await?;
            audit::record_platform(
                &mut tx,
                Some(id),
                &meta,
                AuditEvent::new("operator.login").on("operator", id),
            )
            .await?;
            tx.commit().await?;
            let body = OperatorLoginResponse {
                token: token.clone(),
                expires_at,
                operator: OperatorView { id, email, name },
            };
            Ok(with_cookie(&state, &headers, &token, body))
        }
        other => {
            audit::record_platform(
                &mut tx,
                None,
                &meta,
                AuditEvent::new("operator.login_failed")
                    .with(json!({ "email": email, "operator_id": other.map(|r| r.0) })),
            )
            .await?;
            lockout::operator_failed(&mut tx, policy, &meta, &email).await?;
            tx.commit().await?;
            Err(ApiError::InvalidCredentials(BAD_LOGIN))
        }
    }
}

/// `POST /api/v1/auth/logout`: revokes the session that made the request.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    CurrentActor(actor): CurrentActor,
) -> ApiResult<Response> {
    match actor {
        Actor::User(u) => {
            let mut tx = state.db.tenant(u.tenant_id).await?;
            sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1")
                .bind(u.session_id)
                .execute(&mut *tx)
                .await?;
            audit::record_tenant(
                &mut tx,
                TenantActor::User(u.user_id),
                &meta,
                AuditEvent::new("auth.logout").on("user", u.user_id),
            )
            .await?;
            tx.commit().await?;
        }
        Actor::Operator(o) => {
            let mut tx = state.db.system().await?;
            sqlx::query("UPDATE operator_sessions SET revoked_at = now() WHERE id = $1")
                .bind(o.session_id)
                .execute(&mut *tx)
                .await?;
            audit::record_platform(
                &mut tx,
                Some(o.operator_id),
                &meta,
                AuditEvent::new("operator.logout").on("operator", o.operator_id),
            )
            .await?;
            tx.commit().await?;
        }
    }
    let cookie = session::session_cookie(state.config.env, session::over_https(&headers), "", 0);
    Ok(([(SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The setup token issued for the account (single use, valid 48 hours).
    pub token: String,
    /// The new password, 10 to 128 characters.
    pub password: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SetupResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// `user` or `operator`.
    pub kind: String,
    pub id: i64,
}

const BAD_SETUP: &str = "the setup token is invalid, used or expired";

/// `POST /api/v1/auth/setup`: sets the password of the token's account and opens a session.
pub async fn setup(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    ApiJson(body): ApiJson<SetupRequest>,
) -> ApiResult<Response> {
    password::validate_new(&body.password)?;
    let Some((TokenKind::Setup, owner)) = token::parse(body.token.trim()) else {
        return Err(ApiError::InvalidCredentials(BAD_SETUP));
    };
    let hash = token::hash(body.token.trim());
    match owner {
        TokenOwner::User(tenant) => {
            let mut tx = state.db.tenant(tenant).await?;
            let used: Option<(i64,)> = sqlx::query_as(
                "UPDATE setup_tokens SET used_at = now()
                  WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
                  RETURNING user_id",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            let (user_id,) = used.ok_or(ApiError::InvalidCredentials(BAD_SETUP))?;
            let (email, first_name, last_name): (String, String, String) =
                sqlx::query_as("SELECT email, first_name, last_name FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
            password::check_strength(&body.password, &[&email, &first_name, &last_name])?;
            let new_hash = password::hash(body.password).await?;
            let enabled: Option<(i64,)> = sqlx::query_as(
                "UPDATE users SET password_hash = $2 WHERE id = $1 AND disabled_at IS NULL RETURNING id",
            )
            .bind(user_id)
            .bind(&new_hash)
            .fetch_optional(&mut *tx)
            .await?;
            if enabled.is_none() {
                return Err(ApiError::InvalidCredentials(BAD_SETUP));
            }
            let (token, expires_at) = session::create_user_session(&mut tx, user_id, &meta).await?;
            audit::record_tenant(
                &mut tx,
                TenantActor::User(user_id),
                &meta,
                AuditEvent::new("auth.setup").on("user", user_id),
            )
            .await?;
            tx.commit().await?;
            let body = SetupResponse {
                token: token.clone(),
                expires_at,
                kind: "user".into(),
                id: user_id,
            };
            Ok(with_cookie(&state, &headers, &token, body))
        }
        TokenOwner::Operator => {
            let mut tx = state.db.system().await?;
            let used: Option<(i64,)> = sqlx::query_as(
                "UPDATE operator_setup_tokens SET used_at = now()
                  WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
                  RETURNING operator_id",
            )
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            let (operator_id,) = used.ok_or(ApiError::InvalidCredentials(BAD_SETUP))?;
            let (email, name): (String, String) =
                sqlx::query_as("SELECT email, name FROM operators WHERE id = $1")
                    .bind(operator_id)
                    .fetch_one(&mut *tx)
                    .await?;
            password::check_strength(&body.password, &[&email, &name])?;
            let new_hash = password::hash(body.password).await?;
            sqlx::query("UPDATE operators SET password_hash = $2 WHERE id = $1")
                .bind(operator_id)
                .bind(&new_hash)
                .execute(&mut *tx)
                .await?;
            let (token, expires_at) =
                session::create_operator_session(&mut tx, operator_id, &meta).await?;
            audit::record_platform(
                &mut tx,
                Some(operator_id),
                &meta,
                AuditEvent::new("operator.setup").on("operator", operator_id),
            )
            .await?;
            tx.commit().await?;
            let body = SetupResponse {
                token: token.clone(),
                expires_at,
                kind: "operator".into(),
                id: operator_id,
            };
            Ok(with_cookie(&state, &headers, &token, body))
        }
    }
}

/// `GET /api/v1/me`
#[derive(Debug, Serialize, JsonSchema)]
pub struct MeResponse {
    /// `user` or `operator`.
    pub kind: String,
    pub user: Option<SessionUser>,
    pub operator: Option<OperatorView>,
    pub district_admin: bool,
    /// Effective permissions as `resource:action`.
    pub permissions: Vec<String>,
}

pub async fn me(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> ApiResult<Json<MeResponse>> {
    match actor {
        Actor::User(u) => {
            let mut tx = state.db.tenant(u.tenant_id).await?;
            let user = session_user(&mut tx, u.user_id).await?;
            tx.commit().await?;
            Ok(Json(MeResponse {
                kind: "user".into(),
                user: Some(user),
                operator: None,
                district_admin: u.district_admin,
                permissions: u.effective_permissions(),
            }))
        }
        Actor::Operator(o) => {
            let mut tx = state.db.system().await?;
            let (name,): (String,) = sqlx::query_as("SELECT name FROM operators WHERE id = $1")
                .bind(o.operator_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Json(MeResponse {
                kind: "operator".into(),
                user: None,
                operator: Some(OperatorView {
                    id: o.operator_id,
                    email: o.email,
                    name,
                }),
                district_admin: false,
                permissions: vec![],
            }))
        }
    }
}
