//! The API key routes (tenant admins: `settings:manage`).

use axum::http::StatusCode;

use super::{ApiKeyView, CreateApiKey, CreatedApiKey};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the API key routes.
pub fn register(api: &mut Api) {
    let manage = || Access::Tenant(perm::SETTINGS_MANAGE);
    api.add(
        Op::get("/api/v1/admin/api_keys", manage())
            .summary(
                "api_keys",
                "List the school's API keys (never their secrets), revoked ones too",
            )
            .query::<PageParams>()
            .response::<Page<ApiKeyView>>(StatusCode::OK),
        super::list,
    );
    api.add(
        Op::post("/api/v1/admin/api_keys", manage())
            .summary(
                "api_keys",
                "Create an API key for machines (OFREP); answers its secret, once (audited)",
            )
            .request::<CreateApiKey>()
            .response::<CreatedApiKey>(StatusCode::CREATED),
        super::create,
    );
    api.add(
        Op::delete("/api/v1/admin/api_keys/{id}", manage())
            .summary(
                "api_keys",
                "Revoke an API key: refused everywhere within a second (audited)",
            )
            .response::<()>(StatusCode::NO_CONTENT),
        super::revoke,
    );
}
