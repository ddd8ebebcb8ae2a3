//! Import routes: tenant admins into their own school, operators into any, district
//! admins into the schools of their district; the CSV exports of a school's admins.

use axum::http::StatusCode;

use super::{ImportParams, ImportReport, ImportView, QueuedImport, MAX_FILE_BYTES};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};

const SUMMARY: &str = "Import a CSV of users, courses or enrollments (text/csv), or a \
                       OneRoster 1.1 CSV archive (type=oneroster, application/zip); \
                       200 with the report, or 202 with an import id for large files";

/// Registers the import routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    let op = |path, access, tag| {
        Op::post(path, access)
            .summary(tag, SUMMARY)
            .query::<ImportParams>()
            .raw_body("text/csv")
            .raw_body("application/zip")
            .body_limit(MAX_FILE_BYTES)
            .response::<ImportReport>(ok)
            .also_response::<QueuedImport>(StatusCode::ACCEPTED)
    };
    api.add(
        op(
            "/api/v1/admin/imports",
            Tenant(perm::USERS_MANAGE),
            "imports",
        ),
        super::admin_create,
    );
    api.add(
        Op::get("/api/v1/admin/imports/{id}", Tenant(perm::USERS_MANAGE))
            .summary("imports", "An import's progress and, once done, its report")
            .response::<ImportView>(ok),
        super::admin_show,
    );
    api.add(
        Op::get(
            "/api/v1/admin/imports/{id}/errors.csv",
            Tenant(perm::USERS_MANAGE),
        )
        .summary(
            "imports",
            "A finished import's row errors as CSV (file,row,column,message; \
             formula-leading cells prefixed with ')",
        )
        .raw_response(ok, "text/csv")
        .error_response(
            StatusCode::CONFLICT,
            "The import is still queued or running, or failed as a whole",
        ),
        super::export::errors,
    );
    api.add(
        Op::get("/api/v1/admin/users/export.csv", Tenant(perm::USERS_READ))
            .summary(
                "imports",
                "The school's active users as CSV (email,first_name,last_name,roles), \
                 streamed; formula-leading cells prefixed with '",
            )
            .raw_response(ok, "text/csv"),
        super::export::users,
    );
    api.add(
        op(
            "/api/v1/operator/tenants/{slug}/imports",
            Operator,
            "operator",
        ),
        super::operator_create,
    );
    api.add(
        op(
            "/api/v1/district/tenants/{slug}/imports",
            DistrictAdmin,
            "district",
        ),
        super::district_create,
    );
}
