//! `GET /api/v1/ready` (public readiness for load balancers) and
//! `GET /api/v1/operator/health` (the operator's report).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use super::health::{self, HealthReport};
use crate::auth::permission::Access;
use crate::error::ApiResult;
use crate::http::api::{Api, Operation as Op};
use crate::http::AppState;

pub fn register(api: &mut Api) {
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/ready", Access::Public)
            .summary(
                "meta",
                "Readiness: database reachable and every migration this build knows applied (503 otherwise)",
            )
            .response::<Readiness>(ok),
        ready,
    );
    api.add(
        Op::get("/api/v1/operator/health", Access::Operator)
            .summary(
                "monitoring",
                "Every dependency checked concurrently (each within 5 s) and the numeric metrics alert rules read",
            )
            .response::<HealthReport>(ok),
        operator_health,
    );
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The newest migration applied to the database (`null` if unreachable).
    pub schema_version: Option<i64>,
    /// The newest migration this build carries.
    pub expected_schema_version: i64,
    pub detail: String,
}

async fn ready(State(state): State<AppState>) -> Response {
    let expected = crate::db::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let applied = tokio::time::timeout(
        health::CHECK_TIMEOUT,
        sqlx::query_scalar::<_, Option<i64>>("SELECT applied_schema_version()")
            .fetch_one(state.db.pool()),
    )
    .await;
    let (status, schema_version, detail) = match applied {
        Ok(Ok(Some(v))) if v >= expected => (StatusCode::OK, Some(v), "ready".to_owned()),
        Ok(Ok(v)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            v,
            format!("migrations pending: the database is at {v:?}, this build needs {expected}"),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "ready: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "database unreachable".to_owned(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "database did not answer in time".to_owned(),
        ),
    };
    let body = Readiness {
        status: if status == StatusCode::OK {
            "ready"
        } else {
            "not_ready"
        },
        schema_version,
        expected_schema_version: expected,
        detail,
    };
    (status, Json(body)).into_response()
}

async fn operator_health(State(state): State<AppState>) -> ApiResult<Json<HealthReport>> {
    Ok(Json(health::report(&state).await))
}
