//! The user and guardian-link routes.

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::Page;
use crate::identity::{guardians, users};

/// Registers the user and guardian-link routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get("/api/v1/users", Tenant(perm::USERS_READ))
            .summary("users", "List the school's users with their roles")
            .query::<users::UserListParams>()
            .response::<Page<users::UserView>>(ok),
        users::list,
    );
    api.add(
        Op::post("/api/v1/users", Tenant(perm::USERS_MANAGE))
            .summary(
                "users",
                "Create a user with roles; answers a setup token for them",
            )
            .request::<users::CreateUser>()
            .response::<users::CreatedUser>(created),
        users::create,
    );
    api.add(
        Op::get("/api/v1/users/{id}", Tenant(perm::USERS_READ))
            .summary("users", "One user of the school")
            .response::<users::UserView>(ok),
        users::show,
    );
    api.add(
        Op::put("/api/v1/users/{id}", Tenant(perm::USERS_MANAGE))
            .summary(
                "users",
                "Update a user: names, email, disable/enable, roles",
            )
            .request::<users::UpdateUser>()
            .response::<users::UserView>(ok),
        users::update,
    );
    api.add(
        Op::get("/api/v1/guardian_links", Tenant(perm::USERS_READ))
            .summary("users", "Which guardians follow which students")
            .query::<guardians::LinkListParams>()
            .response::<Page<guardians::GuardianLinkView>>(ok),
        guardians::list,
    );
    api.add(
        Op::post("/api/v1/guardian_links", Tenant(perm::USERS_MANAGE))
            .summary("users", "Link a guardian to a student")
            .request::<guardians::CreateGuardianLink>()
            .response::<guardians::GuardianLinkView>(created),
        guardians::create,
    );
    api.add(
        Op::delete("/api/v1/guardian_links/{id}", Tenant(perm::USERS_MANAGE))
            .summary("users", "Remove a guardian link")
            .response::<()>(gone),
        guardians::delete,
    );
}
