//! The AI routes: generate (any school member; the task policy decides by role, under
//! the `ai` rate limit) and the tenant admin's safety and AI settings (`settings:manage`).

use axum::http::StatusCode;

use super::admin::{self as a, *};
use super::generate::{self as g, GenerateRequest, GenerateResponse};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};
use crate::ratelimit::Limit;

/// Registers the AI routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    let manage = || Tenant(perm::SETTINGS_MANAGE);
    api.add(
        Op::post("/api/v1/ai/generate", TenantMember)
            .summary(
                "ai",
                "Ask the AI for a task the school's policy allows your role; screened both ways",
            )
            .request::<GenerateRequest>()
            .response::<GenerateResponse>(ok)
            .limit(Limit::Ai),
        g::generate,
    );
    api.add(
        Op::post("/api/v1/ai/generate_stream", TenantMember)
            .summary(
                "ai",
                "The same as a stream of Server-Sent Events (delta, then done, safety or error)",
            )
            .request::<GenerateRequest>()
            .limit(Limit::Ai),
        g::generate_stream,
    );
    api.add(
        Op::get("/api/v1/admin/safety/events", manage())
            .summary("ai", "Safety events of the school's AI calls, newest first")
            .query::<EventParams>()
            .response::<Page<SafetyEventView>>(ok),
        a::events,
    );
    api.add(
        Op::get("/api/v1/admin/safety/stats", manage())
            .summary("ai", "What the safety screen did over the last days")
            .query::<StatsParams>()
            .response::<SafetyStats>(ok),
        a::stats,
    );
    api.add(
        Op::get("/api/v1/admin/safety/config", manage())
            .summary("ai", "The school's safety level and daily token budget")
            .response::<SafetyConfig>(ok),
        a::show_config,
    );
    api.add(
        Op::put("/api/v1/admin/safety/config", manage())
            .summary("ai", "Change the safety level or the daily token budget")
            .request::<UpdateSafetyConfig>()
            .response::<SafetyConfig>(ok),
        a::update_config,
    );
    api.add(
        Op::get("/api/v1/admin/ai/providers", manage())
            .summary("ai", "The school's AI provider configurations")
            .query::<PageParams>()
            .response::<Page<ProviderView>>(ok),
        a::list_providers,
    );
    api.add(
        Op::post("/api/v1/admin/ai/providers", manage())
            .summary(
                "ai",
                "Configure an AI provider (its key stays in the gateway)",
            )
            .request::<CreateProvider>()
            .response::<ProviderView>(created),
        a::create_provider,
    );
    api.add(
        Op::get("/api/v1/admin/ai/providers/{id}", manage())
            .summary("ai", "One AI provider configuration")
            .response::<ProviderView>(ok),
        a::show_provider,
    );
    api.add(
        Op::put("/api/v1/admin/ai/providers/{id}", manage())
            .summary("ai", "Change an AI provider configuration")
            .request::<UpdateProvider>()
            .response::<ProviderView>(ok),
        a::update_provider,
    );
    api.add(
        Op::delete("/api/v1/admin/ai/providers/{id}", manage())
            .summary("ai", "Remove an AI provider configuration")
            .response::<()>(gone),
        a::delete_provider,
    );
    api.add(
        Op::get("/api/v1/admin/ai/task_policies", manage())
            .summary("ai", "The school's AI task policies")
            .query::<PageParams>()
            .response::<Page<PolicyView>>(ok),
        a::list_policies,
    );
    api.add(
        Op::post("/api/v1/admin/ai/task_policies", manage())
            .summary("ai", "Add an AI task policy")
            .request::<CreatePolicy>()
            .response::<PolicyView>(created),
        a::create_policy,
    );
    api.add(
        Op::get("/api/v1/admin/ai/task_policies/{id}", manage())
            .summary("ai", "One AI task policy")
            .response::<PolicyView>(ok),
        a::show_policy,
    );
    api.add(
        Op::put("/api/v1/admin/ai/task_policies/{id}", manage())
            .summary(
                "ai",
                "Change an AI task policy (turn it on or off, roles, limits)",
            )
            .request::<UpdatePolicy>()
            .response::<PolicyView>(ok),
        a::update_policy,
    );
    api.add(
        Op::delete("/api/v1/admin/ai/task_policies/{id}", manage())
            .summary("ai", "Remove an AI task policy")
            .response::<()>(gone),
        a::delete_policy,
    );
}
