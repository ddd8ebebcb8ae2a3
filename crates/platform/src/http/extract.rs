//! Extractors that turn every rejection into the API's JSON error, plus request metadata.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::AppState;
use crate::auth::session::{CurrentUser, UserActor};
use crate::db::{Db, TenantId, TenantTx};
use crate::error::ApiError;

/// A JSON body. Requires `Content-Type: application/json` (415), valid JSON (400), and the
/// target type, which denies unknown fields (422).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            )),
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
            Err(JsonRejection::BytesRejection(e))
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge)
            }
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
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

/// Typed query string; bad values are a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
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
