//! Deploy-window routes: school hours (tenant admins, `settings:manage`), the
//! platform-wide verdict and overrides (platform operators).

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};

/// Registers the deploy-window routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
    api.add(
        Op::get("/api/v1/admin/school_hours", Tenant(perm::SETTINGS_MANAGE))
            .summary(
                "deploy",
                "The school's hours: deploys wait until every school is out",
            )
            .response::<super::SchoolHoursView>(ok),
        super::get_hours,
    );
    api.add(
        Op::put("/api/v1/admin/school_hours", Tenant(perm::SETTINGS_MANAGE))
            .summary("deploy", "Set the school's hours, days and holidays")
            .request::<super::PutSchoolHours>()
            .response::<super::SchoolHoursView>(ok),
        super::put_hours,
    );
    api.add(
        Op::get("/api/v1/operator/deploy/window", Operator)
            .summary(
                "deploy",
                "Whether a deploy may start now (or at `at`), who blocks it, the next safe window",
            )
            .query::<super::WindowQuery>()
            .response::<super::DeployWindowView>(ok),
        super::window,
    );
    api.add(
        Op::post("/api/v1/operator/deploy/overrides", Operator)
            .summary(
                "deploy",
                "Allow deploys during school hours for a while, with a reason (audited)",
            )
            .request::<super::CreateOverride>()
            .response::<super::OverrideView>(created),
        super::create_override,
    );
}
