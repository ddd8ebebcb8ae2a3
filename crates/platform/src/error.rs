//! The one error type of the crate. Every error answers
//! `{"error": {"code", "message", "details"}}` with the right status; internal errors
//! are logged with the request id and answered with a generic message.
//!
//! Every `sqlx::Error` becomes an [`ApiError`] through [`From`], which classifies
//! PostgreSQL's errors by SQLSTATE first: a unique violation is a 409, a foreign-key,
//! check or not-null violation and invalid input (bad text, out-of-range numbers, a value
//! too long) a 422 naming the API field, so that `?` alone can never turn something a user
//! typed into a 500.

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
    /// A user-supplied URL the URL guard refused (docs/url-guard.md): 422 `unsafe_url`
    /// with the field and the guard's rule name (`reason`) in the details.
    #[error("{field}: the URL is not allowed ({reason})")]
    UnsafeUrl { field: String, reason: &'static str },
    #[error("too many requests; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable,
    /// A refusal with its own status and code, and fields the client acts on, which the
    /// body carries both in `details` and beside `code` (the AI routes: 403
    /// `ai_task_disabled`, 422 `content_safety` with its `category`, 429
    /// `ai_budget_exhausted`, 502 `ai_gateway_error`). A `retry_after_secs` field also
    /// sets `Retry-After`.
    #[error("{message}")]
    Refused {
        status: StatusCode,
        code: &'static str,
        message: String,
        fields: serde_json::Map<String, Value>,
    },
    /// An OpenFeature remote-evaluation error (`flags::ofrep`): the protocol's body
    /// `{"key", "errorCode", "errorDetails"}`, with the usual `error` object beside it.
    #[error("{details}")]
    Ofrep {
        status: StatusCode,
        key: Option<String>,
        code: &'static str,
        details: String,
    },
    /// A database error that is not the client's doing (classified by `From`).
    #[error(transparent)]
    Database(sqlx::Error),
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

    /// A 422 `unsafe_url`: `reason` is the URL guard's rule name, e.g. `loopback_address`.
    pub fn unsafe_url(field: impl Into<String>, reason: &'static str) -> Self {
        Self::UnsafeUrl {
            field: field.into(),
            reason,
        }
    }

    /// A [`ApiError::Refused`] without fields (add them with [`ApiError::with`]).
    pub fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            status,
            code,
            message: message.into(),
            fields: serde_json::Map::new(),
        }
    }

    /// Adds a field to a [`ApiError::Refused`]; other errors are returned unchanged.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if let Self::Refused { fields, .. } = &mut self {
            fields.insert(key.to_owned(), value);
        }
        self
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The JSON body this error answers (also sent as an SSE event by streaming routes).
    /// Internal errors show no detail.
    pub fn body(&self) -> Value {
        let (_, code, details) = self.status_code_details();
        let message = match self {
            Self::Database(_) | Self::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let mut error = serde_json::Map::new();
        error.insert("code".into(), json!(code));
        error.insert("message".into(), json!(message));
        if let Self::Refused { fields, .. } = self {
            for (k, v) in fields {
                error.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        error.insert("details".into(), details);
        json!({ "error": error })
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
            Self::UnsafeUrl { field, reason } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsafe_url",
                json!({ "field": field, "reason": reason }),
            ),
            Self::TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                json!({ "retry_after_secs": retry_after_secs }),
            ),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Value::Null),
            Self::Refused {
                status,
                code,
                fields,
                ..
            } => (*status, *code, Value::Object(fields.clone())),
            Self::Ofrep { status, .. } => (*status, "ofrep_error", Value::Null),
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
            // Every pooled connection stayed busy for K12_DB_ACQUIRE_TIMEOUT_MS: the
            // request queued that long and gives up with a 503 the client may retry.
            tracing::error!("database pool exhausted");
            let mut response = error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is busy; try again shortly",
                Value::Null,
            );
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return response;
        }
        if let Self::Database(e) = &self {
            if crate::db::is_connection_lost(e) {
                // The connection to PostgreSQL broke (server restarted, backend
                // terminated, network): nothing the client did; it may retry.
                tracing::warn!(error = %e, "database connection lost");
                let mut response = error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database connection was interrupted; try again shortly",
                    Value::Null,
                );
                response
                    .headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("1"));
                return response;
            }
        }
        if let Self::Ofrep {
            status,
            key,
            code,
            details,
        } = &self
        {
            let mut body = json!({
                "errorCode": code,
                "errorDetails": details,
                "error": {
                    "code": code.to_ascii_lowercase(),
                    "message": details,
                    "details": Value::Null,
                },
            });
            if let Some(key) = key {
                body["key"] = json!(key);
            }
            return (*status, axum::Json(body)).into_response();
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
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            Self::Refused { fields, .. } => fields.get("retry_after_secs").and_then(Value::as_u64),
            _ => None,
        };
        let mut response = match &self {
            Self::Refused { .. } => (status, axum::Json(self.body())).into_response(),
            _ => error_body(status, code, &message, details),
        };
        if let Some(secs) = retry_after {
            if let Ok(v) = secs.to_string().parse() {
                response.headers_mut().insert("retry-after", v);
            }
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        classify(e)
    }
}

/// Human messages for the unique constraints a user meets most; others get a generic one.
fn unique_message(constraint: &str) -> &'static str {
    match constraint {
        "users_tenant_email_key" => "a user with this email already exists",
        "operators_email_key" => "an operator with this email already exists",
        "tenants_slug_key" => "a tenant with this slug already exists",
        "districts_slug_key" => "a district with this slug already exists",
        "ai_task_policies_tenant_id_task_type_key" => "a policy for this task type already exists",
        "ai_provider_configs_tenant_id_provider_key" => "this provider is already configured",
        _ => "this record already exists",
    }
}

/// The API field a constraint is about: `sections_tenant_id_term_id_fkey` on `sections`
/// is `term_id`, `courses_name_check` is `name`. Constraint names follow PostgreSQL's
/// defaults (`{table}_{columns}_{suffix}`), which the migrations keep.
pub(crate) fn constraint_field(table: Option<&str>, constraint: &str) -> String {
    let mut name = constraint;
    if let Some(rest) = table.and_then(|t| name.strip_prefix(t)) {
        name = rest.trim_start_matches('_');
    }
    for suffix in ["_fkey", "_check", "_key", "_excl"] {
        if let Some(rest) = name.strip_suffix(suffix) {
            name = rest;
            break;
        }
    }
    let name = name.strip_prefix("tenant_id_").unwrap_or(name);
    if name.is_empty() || name == "tenant_id" {
        "value".to_string()
    } else {
        name.to_string()
    }
}

fn classify(e: sqlx::Error) -> ApiError {
    let sqlx::Error::Database(db) = &e else {
        return ApiError::Database(e);
    };
    let Some(code) = db.code() else {
        return ApiError::Database(e);
    };
    let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
    let table = pg.and_then(|p| p.table());
    let constraint = db.constraint().unwrap_or_default();
    match code.as_ref() {
        "23505" => ApiError::conflict("already_exists", unique_message(constraint)),
        // A delete or key change blocked by rows that still refer to this one.
        "23503" if db.message().starts_with("update or delete on table") => {
            ApiError::conflict("in_use", "other records still refer to this one")
        }
        "23503" => ApiError::invalid(
            &constraint_field(table, constraint),
            "refers to a record that does not exist",
        ),
        "23514" => ApiError::invalid(&constraint_field(table, constraint), "is out of range"),
        "23502" => ApiError::invalid(
            pg.and_then(|p| p.column()).unwrap_or("value"),
            "is required",
        ),
        "23P01" => ApiError::conflict("conflict", "this overlaps an existing record"),
        "22001" => ApiError::invalid("value", "is too long"),
        // NUL characters and invalid encodings (22021), bad text for a type (22P02), numbers
        // and dates out of range (22003, 22008), and the rest of class 22: the input's fault.
        c if c.starts_with("22") => ApiError::invalid("value", "is not a valid value"),
        // Not `ApiError::from(e)`: that is this function again, recursing forever.
        _ => ApiError::Database(e),
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
