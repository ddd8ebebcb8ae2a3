//! Every API route, in one visible place: method, path, who may call it, and docs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::permission::{perm, Access};
use crate::auth::routes as auth;
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;
use crate::identity::users;
use crate::tenancy;

pub fn register(api: &mut Api) {
    use Access::*;
    let created = StatusCode::CREATED;
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

    api.add(
        Op::post("/api/v1/auth/login", Public)
            .summary(
                "auth",
                "Sign in to a school; answers a session token and sets the cookie",
            )
            .request::<auth::LoginRequest>()
            .response::<auth::LoginResponse>(ok),
        auth::login,
    );
    api.add(
        Op::post("/api/v1/auth/logout", Authenticated)
            .summary("auth", "End the current session")
            .response::<()>(StatusCode::NO_CONTENT),
        auth::logout,
    );
    api.add(
        Op::post("/api/v1/auth/setup", Public)
            .summary(
                "auth",
                "Set a password with a single-use setup token and sign in",
            )
            .request::<auth::SetupRequest>()
            .response::<auth::SetupResponse>(ok),
        auth::setup,
    );
    api.add(
        Op::get("/api/v1/me", Authenticated)
            .summary(
                "auth",
                "The signed-in user or operator, roles and effective permissions",
            )
            .response::<auth::MeResponse>(ok),
        auth::me,
    );
    api.add(
        Op::post("/api/v1/operator/login", Public)
            .summary("operator", "Sign in as a platform operator")
            .request::<auth::OperatorLoginRequest>()
            .response::<auth::OperatorLoginResponse>(ok),
        auth::operator_login,
    );

    api.add(
        Op::get("/api/v1/users", Tenant(perm::USERS_READ))
            .summary("users", "List the school's users with their roles")
            .query::<users::UserListParams>()
            .response::<Page<users::UserView>>(ok),
        users::list,
    );
    api.add(
        Op::post("/api/v1/users", Tenant(perm::USERS_MANAGE))
            .summary(
                "users",
                "Create a user with roles; answers a setup token for them",
            )
            .request::<users::CreateUser>()
            .response::<users::CreatedUser>(created),
        users::create,
    );
    api.add(
        Op::get("/api/v1/users/{id}", Tenant(perm::USERS_READ))
            .summary("users", "One user of the school")
            .response::<users::UserView>(ok),
        users::show,
    );
    api.add(
        Op::put("/api/v1/users/{id}", Tenant(perm::USERS_MANAGE))
            .summary(
                "users",
                "Update a user: names, email, disable/enable, roles",
            )
            .request::<users::UpdateUser>()
            .response::<users::UserView>(ok),
        users::update,
    );

    api.add(
        Op::get("/api/v1/district/tenants", DistrictAdmin)
            .summary("district", "The schools of the caller's district")
            .query::<PageParams>()
            .response::<Page<tenancy::TenantSummary>>(ok),
        tenancy::district_list,
    );
    api.add(
        Op::get("/api/v1/operator/tenants", Operator)
            .summary("operator", "Every tenant of the installation")
            .query::<PageParams>()
            .response::<Page<tenancy::TenantSummary>>(ok),
        tenancy::operator_list,
    );

    crate::jobs::routes::register(api);
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
