//! The sign-in routes: login, logout, password setup, `me`, operator login.

use axum::http::StatusCode;

use crate::auth::permission::Access;
use crate::http::api::{Api, Operation as Op};
use crate::login as auth;
use crate::ratelimit::Limit;

/// Registers the sign-in routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    api.add(
        Op::post("/api/v1/auth/login", Public)
            .limit(Limit::Auth)
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
            .limit(Limit::Auth)
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
            .limit(Limit::Auth)
            .summary("operator", "Sign in as a platform operator")
            .request::<auth::OperatorLoginRequest>()
            .response::<auth::OperatorLoginResponse>(ok),
        auth::operator_login,
    );
}
