//! Platform operators: creation (by `k12 operator create` and the dev seed).

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::audit::{self, AuditEvent};
use crate::auth::token::{self, TokenKind, TokenOwner};
use crate::db::SystemTx;
use crate::error::ApiError;
use crate::identity::Email;
use crate::request::RequestMeta;

/// A new operator and the single-use setup token that lets them choose a password.
pub struct CreatedOperator {
    pub id: i64,
    pub setup_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates an operator (optionally with a password hash) and a 48-hour setup token;
/// the caller commits.
pub async fn create(
    tx: &mut SystemTx,
    email: &Email,
    name: &str,
    password_hash: Option<String>,
) -> Result<CreatedOperator, ApiError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO operators (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(email.as_str())
    .bind(name)
    .bind(password_hash)
    .fetch_one(&mut **tx)
    .await?;
    let issued = token::issue(TokenKind::Setup, TokenOwner::Operator);
    let expires_at = Utc::now() + Duration::hours(48);
    sqlx::query(
        "INSERT INTO operator_setup_tokens (operator_id, token_hash, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(&issued.hash)
    .bind(expires_at)
    .execute(&mut **tx)
    .await?;
    audit::record_platform(
        tx,
        None,
        &RequestMeta::default(),
        AuditEvent::new("operator.created")
            .on("operator", id)
            .with(json!({ "email": email.as_str(), "via": "cli" })),
    )
    .await?;
    Ok(CreatedOperator {
        id,
        setup_token: issued.token,
        expires_at,
    })
}
