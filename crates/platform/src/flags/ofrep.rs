//! The OpenFeature Remote Evaluation Protocol (OFREP), so standard OpenFeature SDKs read
//! the flags: `POST /ofrep/v1/evaluate/flags/{key}` and the bulk
//! `POST /ofrep/v1/evaluate/flags`, both with `{"context": {"targetingKey": "<tenant id>"}}`.
//!
//! * Authentication: a tenant API key with scope `flags:evaluate` (`Authorization: Bearer
//!   k12k_...`, resolved from the process's key map without SQL: [`crate::api_keys`]) or
//!   the caller's session (bearer token or cookie). The targeting key must be the
//!   caller's (the key's) own tenant id:
//!   another tenant's (or anything else) is `400 INVALID_CONTEXT`, the same answer for a
//!   tenant that exists and one that does not, so nothing leaks.
//! * Reasons: `TARGETING_MATCH` (the tenant's override), `STATIC` (the global row),
//!   `SPLIT` (a percentage rollout), `DEFAULT` (the hard-coded default: no `value`, so
//!   the SDK uses the code's default).
//! * Errors: 404 `FLAG_NOT_FOUND`; 400 `PARSE_ERROR`, `TARGETING_KEY_MISSING`,
//!   `INVALID_CONTEXT`, as `{"key", "errorCode", "errorDetails"}` (plus the API's usual
//!   `error` object).
//! * Bulk answers carry an `ETag` (a hash of the answer); a matching `If-None-Match`
//!   gets `304 Not Modified` without a body.
//!
//! Evaluation reads the process's cached snapshot: no SQL once it is loaded.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use featureflags::{Evaluation, Snapshot, Source};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::api_keys::TenantCaller;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::ApiPath;
use crate::http::AppState;

/// The request body (documentation only: the handler parses the bytes itself so a
/// malformed body is OFREP's `PARSE_ERROR`).
#[derive(Debug, JsonSchema)]
pub struct OfrepRequest {
    /// The evaluation context; `targetingKey` is your tenant's id (as a string).
    pub context: Map<String, Value>,
}

/// One evaluated flag.
#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct OfrepEvaluation {
    pub key: String,
    /// `TARGETING_MATCH`, `STATIC`, `SPLIT` or `DEFAULT`.
    pub reason: &'static str,
    /// `on` / `off`; `default` when the code default applies.
    pub variant: &'static str,
    /// The flag's value; absent for `DEFAULT` (use the default in your code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<bool>,
    pub metadata: OfrepMetadata,
}

#[derive(Debug, Serialize, JsonSchema, PartialEq)]
pub struct OfrepMetadata {
    /// Where the value came from: `tenant`, `global`, `rollout`, `default`.
    pub source: &'static str,
}

/// The bulk answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OfrepBulk {
    pub flags: Vec<OfrepEvaluation>,
}

fn error(status: StatusCode, key: Option<&str>, code: &'static str, details: &str) -> ApiError {
    ApiError::Ofrep {
        status,
        key: key.map(str::to_string),
        code,
        details: details.to_string(),
    }
}

/// Checks the body: JSON, a context, the caller's own tenant as targeting key.
fn check_context(body: &[u8], key: Option<&str>, tenant: i64) -> ApiResult<()> {
    let bad = StatusCode::BAD_REQUEST;
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|_| error(bad, key, "PARSE_ERROR", "the body is not valid JSON"))?
    };
    let Some(object) = value.as_object() else {
        return Err(error(
            bad,
            key,
            "PARSE_ERROR",
            "the body must be a JSON object",
        ));
    };
    let context = match object.get("context") {
        None | Some(Value::Null) => {
            return Err(error(
                bad,
                key,
                "TARGETING_KEY_MISSING",
                "context.targetingKey (your tenant id) is required",
            ))
        }
        Some(Value::Object(c)) => c,
        Some(_) => {
            return Err(error(
                bad,
                key,
                "INVALID_CONTEXT",
                "context must be an object",
            ))
        }
    };
    match context.get("targetingKey") {
        None | Some(Value::Null) => Err(error(
            bad,
            key,
            "TARGETING_KEY_MISSING",
            "context.targetingKey (your tenant id) is required",
        )),
        Some(Value::String(t)) if t.trim() == tenant.to_string() => Ok(()),
        Some(_) => Err(error(
            bad,
            key,
            "INVALID_CONTEXT",
            "context.targetingKey must be your own tenant's id",
        )),
    }
}

/// The OFREP form of an evaluation.
pub fn to_ofrep(key: &str, e: Evaluation) -> OfrepEvaluation {
    let variant = if e.enabled { "on" } else { "off" };
    let (reason, variant, value) = match e.source {
        Source::Tenant => ("TARGETING_MATCH", variant, Some(e.enabled)),
        Source::Global => ("STATIC", variant, Some(e.enabled)),
        Source::Rollout => ("SPLIT", variant, Some(e.enabled)),
        Source::Default | Source::Unknown => ("DEFAULT", "default", None),
    };
    OfrepEvaluation {
        key: key.to_string(),
        reason,
        variant,
        value,
        metadata: OfrepMetadata {
            source: e.source.as_str(),
        },
    }
}

/// Every flag for the tenant, by key.
pub fn evaluate_all(snapshot: &Snapshot, tenant: i64) -> Vec<OfrepEvaluation> {
    snapshot
        .keys()
        .into_iter()
        .map(|k| to_ofrep(k, snapshot.evaluate(tenant, k)))
        .collect()
}

/// `POST /ofrep/v1/evaluate/flags/{key}`
pub async fn evaluate_one(
    State(state): State<AppState>,
    caller: TenantCaller,
    ApiPath(key): ApiPath<String>,
    body: Bytes,
) -> ApiResult<Json<OfrepEvaluation>> {
    let tenant = caller.tenant_id.0;
    check_context(&body, Some(&key), tenant)?;
    let snapshot = state.flags.snapshot(&state.db).await?;
    if !snapshot.exists(&key) {
        return Err(error(
            StatusCode::NOT_FOUND,
            Some(&key),
            "FLAG_NOT_FOUND",
            "no flag of this key",
        ));
    }
    Ok(Json(to_ofrep(&key, snapshot.evaluate(tenant, &key))))
}

/// `POST /ofrep/v1/evaluate/flags`
pub async fn evaluate_bulk(
    State(state): State<AppState>,
    caller: TenantCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = caller.tenant_id.0;
    check_context(&body, None, tenant)?;
    let snapshot = state.flags.snapshot(&state.db).await?;
    let answer = OfrepBulk {
        flags: evaluate_all(&snapshot, tenant),
    };
    let bytes = serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(e.into()))?;
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    let etag_value =
        HeaderValue::from_str(&etag).map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    let matches = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(ETAG, etag_value)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (ETAG, etag_value),
            (
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: ApiResult<()>) -> &'static str {
        match r {
            Err(ApiError::Ofrep { code, .. }) => code,
            Ok(()) => "ok",
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn context_errors_follow_the_protocol() {
        assert_eq!(code(check_context(b"{", None, 7)), "PARSE_ERROR");
        assert_eq!(code(check_context(b"[1]", None, 7)), "PARSE_ERROR");
        assert_eq!(code(check_context(b"", None, 7)), "TARGETING_KEY_MISSING");
        assert_eq!(code(check_context(b"{}", None, 7)), "TARGETING_KEY_MISSING");
        assert_eq!(
            code(check_context(br#"{"context": {}}"#, None, 7)),
            "TARGETING_KEY_MISSING"
        );
        assert_eq!(
            code(check_context(br#"{"context": 3}"#, None, 7)),
            "INVALID_CONTEXT"
        );
        assert_eq!(
            code(check_context(
                br#"{"context": {"targetingKey": 7}}"#,
                None,
                7
            )),
            "INVALID_CONTEXT"
        );
        assert_eq!(
            code(check_context(
                br#"{"context": {"targetingKey": "8"}}"#,
                None,
                7
            )),
            "INVALID_CONTEXT"
        );
        assert_eq!(
            code(check_context(
                br#"{"context": {"targetingKey": "7", "x": 1}}"#,
                None,
                7
            )),
            "ok"
        );
    }

    #[test]
    fn reasons_map_the_sources() {
        let e = |enabled, source| Evaluation { enabled, source };
        let r = to_ofrep("k", e(true, Source::Tenant));
        assert_eq!(
            (r.reason, r.variant, r.value),
            ("TARGETING_MATCH", "on", Some(true))
        );
        let r = to_ofrep("k", e(false, Source::Global));
        assert_eq!(
            (r.reason, r.variant, r.value),
            ("STATIC", "off", Some(false))
        );
        let r = to_ofrep("k", e(true, Source::Rollout));
        assert_eq!((r.reason, r.value), ("SPLIT", Some(true)));
        let r = to_ofrep("k", e(true, Source::Default));
        assert_eq!((r.reason, r.value), ("DEFAULT", None));
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("value").is_none(), "{v}");
    }
}
