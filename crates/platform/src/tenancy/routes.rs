//! The tenant lists of districts and operators, and the school calendar routes.

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};
use crate::tenancy::{self, calendar};

/// Registers the tenant-list and calendar routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
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
    api.add(
        Op::get("/api/v1/academic_years", TenantMember)
            .summary("calendar", "Academic years, newest first, with their terms")
            .query::<PageParams>()
            .response::<Page<calendar::AcademicYearView>>(ok),
        calendar::list,
    );
    api.add(
        Op::post("/api/v1/academic_years", Tenant(perm::SETTINGS_MANAGE))
            .summary(
                "calendar",
                "Create an academic year (optionally the current one)",
            )
            .request::<calendar::CreateAcademicYear>()
            .response::<calendar::AcademicYearView>(created),
        calendar::create,
    );
    api.add(
        Op::post(
            "/api/v1/academic_years/{id}/terms",
            Tenant(perm::SETTINGS_MANAGE),
        )
        .summary("calendar", "Add a term within an academic year")
        .request::<calendar::CreateTerm>()
        .response::<calendar::TermView>(created),
        calendar::create_term,
    );
}
