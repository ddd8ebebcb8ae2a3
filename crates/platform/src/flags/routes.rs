//! Feature-flag routes: tenant overrides (tenant admins, `settings:manage`), global flags
//! and rollouts (platform operators), and OFREP evaluation (any signed-in tenant user, or
//! a tenant API key with scope `flags:evaluate`).

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};

/// Registers the feature-flag routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    let ofrep = TenantMemberOrKey(crate::api_keys::FLAGS_EVALUATE);
    api.add(
        Op::get("/api/v1/admin/feature_flags", Tenant(perm::SETTINGS_MANAGE))
            .summary(
                "flags",
                "Every feature flag with its effective value for the school and where it comes from",
            )
            .response::<super::FlagList>(ok),
        super::tenant_list,
    );
    api.add(
        Op::put(
            "/api/v1/admin/feature_flags/{key}",
            Tenant(perm::SETTINGS_MANAGE),
        )
        .summary(
            "flags",
            "Override a flag for the school, now or at a time in the school's time zone (audited)",
        )
        .request::<super::PutTenantFlag>()
        .response::<super::FlagView>(ok),
        super::tenant_put,
    );
    api.add(
        Op::delete(
            "/api/v1/admin/feature_flags/{key}",
            Tenant(perm::SETTINGS_MANAGE),
        )
        .summary(
            "flags",
            "Remove the school's override: back to the global value (audited)",
        )
        .response::<super::FlagView>(ok),
        super::tenant_delete,
    );
    api.add(
        Op::delete(
            "/api/v1/admin/feature_flags/{key}/schedules/{id}",
            Tenant(perm::SETTINGS_MANAGE),
        )
        .summary(
            "flags",
            "Cancel a pending scheduled change of the school's (audited)",
        )
        .response::<()>(StatusCode::NO_CONTENT),
        super::tenant_cancel_schedule,
    );
    api.add(
        Op::get("/api/v1/operator/feature_flags", Operator)
            .summary(
                "flags",
                "Every feature flag's global value, rollout and overrides",
            )
            .response::<super::FlagList>(ok),
        super::operator_list,
    );
    api.add(
        Op::put("/api/v1/operator/feature_flags/{key}", Operator)
            .summary(
                "flags",
                "Set a flag globally or roll it out to a percentage of tenants, now or later (audited)",
            )
            .request::<super::PutGlobalFlag>()
            .response::<super::FlagView>(ok),
        super::operator_put,
    );
    api.add(
        Op::delete("/api/v1/operator/feature_flags/{key}", Operator)
            .summary(
                "flags",
                "Remove the global row: back to the hard-coded default (audited)",
            )
            .response::<super::FlagView>(ok),
        super::operator_delete,
    );
    api.add(
        Op::delete(
            "/api/v1/operator/feature_flags/{key}/schedules/{id}",
            Operator,
        )
        .summary(
            "flags",
            "Cancel a pending scheduled global change (audited)",
        )
        .response::<()>(StatusCode::NO_CONTENT),
        super::operator_cancel_schedule,
    );
    api.add(
        Op::post("/ofrep/v1/evaluate/flags/{key}", ofrep)
            .summary(
                "flags",
                "OpenFeature remote evaluation of one flag for your tenant (targetingKey: your tenant id)",
            )
            .request::<super::ofrep::OfrepRequest>()
            .response::<super::ofrep::OfrepEvaluation>(ok),
        super::ofrep::evaluate_one,
    );
    api.add(
        Op::post("/ofrep/v1/evaluate/flags", ofrep)
            .summary(
                "flags",
                "OpenFeature remote evaluation of every flag for your tenant, with ETag / 304",
            )
            .request::<super::ofrep::OfrepRequest>()
            .response::<super::ofrep::OfrepBulk>(ok),
        super::ofrep::evaluate_bulk,
    );
}
