//! The standard framework, standard and assignment-alignment routes.

use axum::http::StatusCode;

use super::*;
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the standards routes.
pub fn register(api: &mut Api) {
    use Access::Tenant;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get("/api/v1/standard_frameworks", Tenant(perm::STANDARDS_READ))
            .summary("standards", "The school's standard frameworks")
            .query::<PageParams>()
            .response::<Page<FrameworkView>>(ok),
        list_frameworks,
    );
    api.add(
        Op::post(
            "/api/v1/standard_frameworks",
            Tenant(perm::STANDARDS_MANAGE),
        )
        .summary("standards", "Create a standard framework")
        .request::<CreateFramework>()
        .response::<FrameworkView>(created),
        create_framework,
    );
    api.add(
        Op::get(
            "/api/v1/standard_frameworks/{id}",
            Tenant(perm::STANDARDS_READ),
        )
        .summary("standards", "One standard framework")
        .response::<FrameworkView>(ok),
        show_framework,
    );
    api.add(
        Op::get(
            "/api/v1/standard_frameworks/{id}/standards",
            Tenant(perm::STANDARDS_READ),
        )
        .summary(
            "standards",
            "One level of a framework's tree by code: roots, or the children of ?parent_id=",
        )
        .query::<StandardListParams>()
        .response::<Page<StandardView>>(ok),
        list_standards,
    );
    api.add(
        Op::post(
            "/api/v1/standard_frameworks/{id}/standards",
            Tenant(perm::STANDARDS_MANAGE),
        )
        .summary(
            "standards",
            "Add a standard, optionally under a parent of the same framework",
        )
        .request::<CreateStandard>()
        .response::<StandardView>(created),
        create_standard,
    );
    api.add(
        Op::get(
            "/api/v1/assignments/{id}/standards",
            Tenant(perm::ASSIGNMENTS_READ),
        )
        .summary("standards", "Standards an assignment addresses")
        .query::<PageParams>()
        .response::<Page<AssignmentStandardView>>(ok),
        list_assignment_standards,
    );
    api.add(
        Op::post(
            "/api/v1/assignments/{id}/standards",
            Tenant(perm::ASSIGNMENTS_MANAGE),
        )
        .summary(
            "standards",
            "Link a standard to an assignment (course staff)",
        )
        .request::<LinkStandard>()
        .response::<AssignmentStandardView>(created),
        link_standard,
    );
    api.add(
        Op::delete(
            "/api/v1/assignments/{id}/standards/{standard_id}",
            Tenant(perm::ASSIGNMENTS_MANAGE),
        )
        .summary(
            "standards",
            "Unlink a standard from an assignment (course staff)",
        )
        .response::<()>(gone),
        unlink_standard,
    );
}
