//! Extractors that turn every rejection into the API's JSON error, plus request metadata.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;
use crate::auth::session::{CurrentUser, UserActor};
use crate::db::{Db, TenantId, TenantTx};
use crate::error::ApiError;

/// A JSON body. Requires `Content-Type: application/json` (415), valid JSON (400), no NUL
/// character in any key or string (422 naming the field: PostgreSQL text cannot hold it),
/// and the target type, which denies unknown fields (422).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = match Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge)
            }
            Err(e) => return Err(ApiError::BadRequest(e.body_text())),
        };
        if let Some(field) = nul_field(&bytes) {
            return Err(ApiError::invalid(&field, NUL_MESSAGE));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(format!(
                "malformed JSON: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text())
            ))),
            Err(JsonRejection::JsonDataError(e)) => {
                let reason = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.body_text());
                Err(ApiError::Unprocessable {
                    message: format!("invalid body: {reason}"),
                    details: json!({ "reason": reason }),
                })
            }
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// `application/json` or an `application/*+json` type, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.split_once('/').is_some_and(|(kind, sub)| {
            kind.eq_ignore_ascii_case("application") && sub.to_ascii_lowercase().ends_with("+json")
        })
}

/// The path of the first key or string holding U+0000 (`roles[0]`, `tenant`), if any.
/// JSON can only carry NUL escaped, so bodies without `\u0000` are not parsed twice.
fn nul_field(body: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = b"\\u0000";
    if !body.windows(ESCAPE.len()).any(|w| w == ESCAPE) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    find_nul(&value, String::new())
}

fn find_nul(value: &serde_json::Value, path: String) -> Option<String> {
    let label = |path: String| {
        if path.is_empty() {
            "body".to_string()
        } else {
            path
        }
    };
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(label(path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(field.replace('\0', "\\u0000"))
            } else {
                find_nul(v, field)
            }
        }),
        _ => None,
    }
}

/// A raw body (a file upload) whose rejections are the API's JSON errors: over the
/// route's body limit a 413, a broken transfer a 400 (axum's own answer is plain text).
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// Typed path parameters; a value that cannot be parsed (e.g. `/users/abc`) is a 404,
/// since no record can have that id.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::NotFound),
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(
                "path extraction: {}",
                other.body_text()
            ))),
        }
    }
}

/// Typed query string; bad values are a 400 naming the parameter, a NUL character a 422.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((key, _)) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::invalid(&key.replace('\0', "%00"), NUL_MESSAGE));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::BadRequest(
                format!("invalid query string: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// The signed-in tenant user and a database handle bound to their tenant: the request
/// context of every school route. The handle opens transactions only for the caller's
/// tenant (row-level security on), and only when the handler asks, so no connection is
/// held while the body is read or validated.
pub struct TenantScope {
    pub me: UserActor,
    pub db: TenantDb,
}

/// A database handle that can only open transactions scoped to one tenant.
#[derive(Clone, Debug)]
pub struct TenantDb {
    db: Db,
    tenant: TenantId,
}

impl TenantDb {
    /// Opens a transaction with the tenant set; commit it or it rolls back on drop.
    pub async fn begin(&self) -> Result<TenantTx, sqlx::Error> {
        self.db.tenant(self.tenant).await
    }

    /// Opens a read-only transaction for reads that tolerate replication lag: on the read
    /// replica when one is configured and answers, else on the primary
    /// ([`Db::tenant_read`]).
    pub async fn begin_read(&self) -> Result<TenantTx, sqlx::Error> {
        self.db.tenant_read(self.tenant).await
    }
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(me) = CurrentUser::from_request_parts(parts, state).await?;
        let db = TenantDb {
            db: state.db.clone(),
            tenant: me.tenant_id,
        };
        Ok(Self { me, db })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse;
    use tower::ServiceExt;

    async fn echo_len(ApiBytes(b): ApiBytes) -> String {
        b.len().to_string()
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_a_json_413() {
        let app = axum::Router::new()
            .route("/", axum::routing::post(echo_len))
            .layer(axum::extract::DefaultBodyLimit::max(8));
        let res = app
            .clone()
            .oneshot(Request::post("/").body(Body::from("12345678")).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = app
            .oneshot(Request::post("/").body(Body::from("123456789")).unwrap())
            .await
            .unwrap()
            .into_response();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            res.headers()[CONTENT_TYPE].to_str().unwrap(),
            "application/json"
        );
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
    }
}
