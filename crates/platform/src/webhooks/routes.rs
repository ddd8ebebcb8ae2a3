//! The webhook endpoint routes (tenant admins: `settings:manage`).

use axum::http::StatusCode;

use super::endpoints::{self as e, CreateEndpoint, CreatedEndpoint, DeliveryView, EndpointView};
use super::TestResult;
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the webhook endpoint routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    let manage = || Tenant(perm::SETTINGS_MANAGE);
    api.add(
        Op::get("/api/v1/admin/webhook_endpoints", manage())
            .summary("webhooks", "List the school's webhook endpoints")
            .query::<PageParams>()
            .response::<Page<EndpointView>>(ok),
        e::list,
    );
    api.add(
        Op::post("/api/v1/admin/webhook_endpoints", manage())
            .summary(
                "webhooks",
                "Register a webhook endpoint; answers its signing secret, once",
            )
            .request::<CreateEndpoint>()
            .response::<CreatedEndpoint>(created),
        e::create,
    );
    api.add(
        Op::get("/api/v1/admin/webhook_endpoints/{id}", manage())
            .summary("webhooks", "One webhook endpoint")
            .response::<EndpointView>(ok),
        e::show,
    );
    api.add(
        Op::put("/api/v1/admin/webhook_endpoints/{id}", manage())
            .summary(
                "webhooks",
                "Change a webhook endpoint's URL, events or state",
            )
            .request::<super::UpdateEndpoint>()
            .response::<EndpointView>(ok),
        e::update,
    );
    api.add(
        Op::delete("/api/v1/admin/webhook_endpoints/{id}", manage())
            .summary("webhooks", "Remove a webhook endpoint and its deliveries")
            .response::<()>(gone),
        e::delete,
    );
    api.add(
        Op::post("/api/v1/admin/webhook_endpoints/{id}/test", manage())
            .summary("webhooks", "Send a signed ping now and report the outcome")
            .response::<TestResult>(ok),
        e::test,
    );
    api.add(
        Op::get("/api/v1/admin/webhook_endpoints/{id}/deliveries", manage())
            .summary("webhooks", "Deliveries to an endpoint, newest first")
            .query::<PageParams>()
            .response::<Page<DeliveryView>>(ok),
        e::deliveries,
    );
}
