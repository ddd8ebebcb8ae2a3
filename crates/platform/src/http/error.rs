//! The one error type of the API. Every error answers
//! `{"error": {"code", "message", "details"}}` with the right status; internal errors
//! are logged with the request id and answered with a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    InvalidCredentials(&'static str),
    #[error("you do not have permission to do this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable { message: String, details: Value },
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 naming the field at fault.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Unprocessable {
            details: json!({ "field": field, "reason": message }),
            message: format!("{field}: {message}"),
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    fn status_code_details(&self) -> (StatusCode, &'static str, Value) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", Value::Null),
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", Value::Null),
            Self::InvalidCredentials(_) => {
                (StatusCode::UNAUTHORIZED, "invalid_credentials", Value::Null)
            }
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden", Value::Null),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", Value::Null),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                Value::Null,
            ),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code, Value::Null),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Value::Null,
            ),
            Self::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Value::Null,
            ),
            Self::Unprocessable { details, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                details.clone(),
            ),
            Self::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                json!({ "retry_after_secs": retry_after_secs }),
            ),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Value::Null),
            Self::Database(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", Value::Null)
            }
        }
    }
}

/// Renders an error body; also used by fallbacks and rejections outside handlers.
pub fn error_body(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "details": details } });
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Database(sqlx::Error::PoolTimedOut) = self {
            tracing::error!("database pool exhausted");
            return error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is busy; try again shortly",
                Value::Null,
            );
        }
        let (status, code, details) = self.status_code_details();
        let message = match &self {
            Self::Database(e) => {
                tracing::error!(error = %e, "database error");
                "internal error".to_string()
            }
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut response = error_body(status, code, &message, details);
        if let Self::TooManyRequests { retry_after_secs } = self {
            if let Ok(v) = retry_after_secs.to_string().parse() {
                response.headers_mut().insert("retry-after", v);
            }
        }
        response
    }
}

/// Maps unique-constraint and foreign-key violations to client errors, in one place.
/// Constraint names come from the migrations.
pub fn map_constraint(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &e {
        let constraint = db.constraint().unwrap_or_default();
        match db.code().as_deref() {
            Some("23505") => {
                let message = match constraint {
                    "users_tenant_email_key" => "a user with this email already exists",
                    "operators_email_key" => "an operator with this email already exists",
                    "tenants_slug_key" => "a tenant with this slug already exists",
                    "districts_slug_key" => "a district with this slug already exists",
                    _ => "this record already exists",
                };
                return ApiError::conflict("already_exists", message);
            }
            Some("23503") => {
                return ApiError::invalid(constraint, "refers to a record that does not exist")
            }
            Some("23514") => return ApiError::invalid(constraint, "value is out of range"),
            Some("22001") => return ApiError::invalid("value", "is too long"),
            _ => {}
        }
    }
    ApiError::Database(e)
}

pub type ApiResult<T> = Result<T, ApiError>;
