//! The one error type of the gateway's HTTP API: a status and a JSON body
//! `{"error": {"code", "message", ...}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::providers::ProviderError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Further fields of the `error` object.
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid service token is required (Authorization: Bearer)",
        )
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The `error` object alone (also sent as an SSE event).
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        for (k, v) in &self.extra {
            error.insert(k.clone(), v.clone());
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "provider_timeout",
                "the AI provider did not answer in time",
            ),
            ProviderError::Unavailable(why) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                format!("the AI provider is busy or rate limited: {why}"),
            ),
            ProviderError::Upstream(why) => Self::new(
                StatusCode::BAD_GATEWAY,
                "provider_error",
                format!("the AI provider failed: {why}"),
            ),
            ProviderError::Rejected(status) => Self::new(
                StatusCode::BAD_GATEWAY,
                "provider_rejected",
                format!("the AI provider refused the request (HTTP {status}); check the gateway's provider settings and the model name"),
            )
            .with("provider_status", json!(status)),
        }
    }
}
