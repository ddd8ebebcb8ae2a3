//! Liveness and the API's own description.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::permission::Access;
use crate::http::api::{Api, Operation as Op};
use crate::http::AppState;

/// Registers the public meta routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/health", Public)
            .summary("meta", "Liveness: process up and database reachable")
            .response::<Health>(ok),
        health,
    );
    api.add(
        Op::get("/api/v1/openapi.json", Public).summary("meta", "This OpenAPI 3.1 document"),
        openapi,
    );
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
}

async fn health(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => Json(Health {
            status: "ok",
            database: "ok",
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded",
                    database: "unreachable",
                }),
            )
                .into_response()
        }
    }
}

async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.openapi().clone())
}
