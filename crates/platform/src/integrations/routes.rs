//! The integration configuration routes (tenant admins: `settings:manage`).

use axum::http::StatusCode;

use super::{CreateIntegration, IntegrationView, UpdateIntegration};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the integration routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    let manage = || Tenant(perm::SETTINGS_MANAGE);
    api.add(
        Op::get("/api/v1/admin/integrations", manage())
            .summary("integrations", "List the school's integrations")
            .query::<PageParams>()
            .response::<Page<IntegrationView>>(ok),
        super::list,
    );
    api.add(
        Op::post("/api/v1/admin/integrations", manage())
            .summary(
                "integrations",
                "Configure an integration; secrets are write-only",
            )
            .request::<CreateIntegration>()
            .response::<IntegrationView>(created),
        super::create,
    );
    api.add(
        Op::get("/api/v1/admin/integrations/{id}", manage())
            .summary("integrations", "One integration (secret names only)")
            .response::<IntegrationView>(ok),
        super::show,
    );
    api.add(
        Op::put("/api/v1/admin/integrations/{id}", manage())
            .summary(
                "integrations",
                "Change an integration's settings, secrets or status",
            )
            .request::<UpdateIntegration>()
            .response::<IntegrationView>(ok),
        super::update,
    );
    api.add(
        Op::delete("/api/v1/admin/integrations/{id}", manage())
            .summary("integrations", "Remove an integration")
            .response::<()>(gone),
        super::delete,
    );
}
