//! Provisioning, onboarding and branding routes: operators for any tenant, district
//! admins for the tenants of their own district, tenant admins for their own school.

use axum::http::StatusCode;

use super::{branding, onboarding, BulkCreate, BulkReport, ProvisionSchool, Provisioned};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the provisioning, onboarding and branding routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
    for (access, tag, schools, bulk, tenants) in [
        (
            Operator,
            "operator",
            "/api/v1/operator/provisioning/schools",
            "/api/v1/operator/provisioning/bulk_create",
            "/api/v1/operator/provisioning/tenants",
        ),
        (
            DistrictAdmin,
            "district",
            "/api/v1/district/provisioning/schools",
            "/api/v1/district/provisioning/bulk_create",
            "/api/v1/district/provisioning/tenants",
        ),
    ] {
        let create = Op::post(schools, access)
            .summary(
                tag,
                "Provision a school in one transaction: tenant, roles, admin with setup token, \
                 academic year, frameworks",
            )
            .request::<ProvisionSchool>()
            .response::<Provisioned>(created);
        let bulk = Op::post(bulk, access)
            .summary(
                tag,
                "Provision many schools, each in its own transaction; one result per school",
            )
            .request::<BulkCreate>()
            .response::<BulkReport>(ok);
        let list = Op::get(tenants, access)
            .summary(
                tag,
                "Tenants with their user and course counts and onboarding percentage",
            )
            .query::<PageParams>()
            .response::<Page<super::ProvisionedTenant>>(ok);
        if access == Operator {
            api.add(create, super::operator_create);
            api.add(bulk, super::operator_bulk);
            api.add(list, super::operator_list);
        } else {
            api.add(create, super::district_create);
            api.add(bulk, super::district_bulk);
            api.add(list, super::district_list);
        }
    }
    api.add(
        Op::get("/api/v1/operator/tenants/{slug}/onboarding", Operator)
            .summary("operator", "A tenant's onboarding checklist")
            .response::<onboarding::Checklist>(ok),
        onboarding::operator_show,
    );
    api.add(
        Op::get("/api/v1/district/tenants/{slug}/onboarding", DistrictAdmin)
            .summary(
                "district",
                "The onboarding checklist of a school of the caller's district",
            )
            .response::<onboarding::Checklist>(ok),
        onboarding::district_show,
    );
    api.add(
        Op::get("/api/v1/admin/onboarding", Tenant(perm::SETTINGS_MANAGE))
            .summary("onboarding", "The school's onboarding checklist")
            .response::<onboarding::Checklist>(ok),
        onboarding::mine,
    );
    api.add(
        Op::get("/api/v1/admin/branding", Tenant(perm::SETTINGS_MANAGE))
            .summary("branding", "The school's branding")
            .response::<branding::Branding>(ok),
        branding::show,
    );
    api.add(
        Op::put("/api/v1/admin/branding", Tenant(perm::SETTINGS_MANAGE))
            .summary(
                "branding",
                "Change the school's name, logo, favicon or primary colour",
            )
            .request::<branding::UpdateBranding>()
            .response::<branding::Branding>(ok),
        branding::update,
    );
    api.add(
        Op::get("/api/v1/tenants/{slug}/branding", Public)
            .summary("branding", "A school's branding, for its login page")
            .response::<branding::Branding>(ok),
        branding::public,
    );
}
