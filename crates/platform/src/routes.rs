//! Every API route, in one visible place: method, path, who may call it, and docs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::permission::{perm, Access};
use crate::auth::routes as auth;
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};
use crate::http::AppState;
use crate::identity::users;
use crate::tenancy;
use crate::{assignments, courses, discussions};
use assignments::submissions;
use courses::enrollments;

pub fn register(api: &mut Api) {
    use Access::*;
    let created = StatusCode::CREATED;
    let ok = StatusCode::OK;

    api.add(
        Op::get("/api/v1/health", Public)
            .summary("meta", "Liveness: process up and database reachable")
            .response::<Health>(ok),
        health,
    );
    api.add(
        Op::get("/api/v1/openapi.json", Public).summary("meta", "This OpenAPI 3.1 document"),
        openapi,
    );

    api.add(
        Op::post("/api/v1/auth/login", Public)
            .summary(
                "auth",
                "Sign in to a school; answers a session token and sets the cookie",
            )
            .request::<auth::LoginRequest>()
            .response::<auth::LoginResponse>(ok),
        auth::login,
    );
    api.add(
        Op::post("/api/v1/auth/logout", Authenticated)
            .summary("auth", "End the current session")
            .response::<()>(StatusCode::NO_CONTENT),
        auth::logout,
    );
    api.add(
        Op::post("/api/v1/auth/setup", Public)
            .summary(
                "auth",
                "Set a password with a single-use setup token and sign in",
            )
            .request::<auth::SetupRequest>()
            .response::<auth::SetupResponse>(ok),
        auth::setup,
    );
    api.add(
        Op::get("/api/v1/me", Authenticated)
            .summary(
                "auth",
                "The signed-in user or operator, roles and effective permissions",
            )
            .response::<auth::MeResponse>(ok),
        auth::me,
    );
    api.add(
        Op::post("/api/v1/operator/login", Public)
            .summary("operator", "Sign in as a platform operator")
            .request::<auth::OperatorLoginRequest>()
            .response::<auth::OperatorLoginResponse>(ok),
        auth::operator_login,
    );

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

    register_school_admin(api);
    register_courses(api);
    register_assignments(api);
    register_discussions(api);
    crate::quizzes::register(api);
    crate::standards::register(api);

    crate::jobs::routes::register(api);
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
}

async fn health(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => Json(Health {
            status: "ok",
            database: "ok",
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "degraded",
                    database: "unreachable",
                }),
            )
                .into_response()
        }
    }
}

async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.openapi().clone())
}

fn register_courses(api: &mut Api) {
    use Access::Tenant;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get("/api/v1/courses", Tenant(perm::COURSES_READ))
            .summary(
                "courses",
                "Courses the caller may see, by name, with sections, academic year and counters",
            )
            .query::<courses::CourseListParams>()
            .response::<Page<courses::CourseView>>(ok),
        courses::list,
    );
    api.add(
        Op::post("/api/v1/courses", Tenant(perm::COURSES_MANAGE))
            .summary("courses", "Create a course with its sections; a teacher creating it teaches the first section")
            .request::<courses::CreateCourse>()
            .response::<courses::CourseView>(created),
        courses::create,
    );
    api.add(
        Op::get("/api/v1/courses/{id}", Tenant(perm::COURSES_READ))
            .summary(
                "courses",
                "One course with sections, academic year and counters",
            )
            .response::<courses::CourseView>(ok),
        courses::show,
    );
    api.add(
        Op::put("/api/v1/courses/{id}", Tenant(perm::COURSES_MANAGE))
            .summary("courses", "Update a course (its staff)")
            .request::<courses::UpdateCourse>()
            .response::<courses::CourseView>(ok),
        courses::update,
    );
    api.add(
        Op::post("/api/v1/courses/{id}/archive", Tenant(perm::COURSES_MANAGE))
            .summary(
                "courses",
                "Archive a course: hidden from students and guardians",
            )
            .response::<courses::CourseView>(ok),
        courses::archive,
    );
    api.add(
        Op::delete("/api/v1/courses/{id}", Tenant(perm::COURSES_MANAGE))
            .summary(
                "courses",
                "Delete a course; refused while it has submissions unless archived",
            )
            .response::<()>(gone),
        courses::delete,
    );
    api.add(
        Op::get("/api/v1/courses/{id}/sections", Tenant(perm::COURSES_READ))
            .summary("courses", "Sections of a course")
            .query::<PageParams>()
            .response::<Page<enrollments::SectionView>>(ok),
        enrollments::list_sections,
    );
    api.add(
        Op::post(
            "/api/v1/courses/{id}/sections",
            Tenant(perm::COURSES_MANAGE),
        )
        .summary("courses", "Add a section to a course")
        .request::<enrollments::CreateSection>()
        .response::<enrollments::SectionView>(created),
        enrollments::create_section,
    );
    api.add(
        Op::get(
            "/api/v1/sections/{id}/enrollments",
            Tenant(perm::COURSES_READ),
        )
        .summary("courses", "The roster of a section (course staff)")
        .query::<PageParams>()
        .response::<Page<enrollments::EnrollmentView>>(ok),
        enrollments::list_enrollments,
    );
    api.add(
        Op::post(
            "/api/v1/sections/{id}/enrollments",
            Tenant(perm::COURSES_MANAGE),
        )
        .summary(
            "courses",
            "Enroll one or many users (up to 1000) in a section",
        )
        .request::<enrollments::CreateEnrollments>()
        .response::<enrollments::CreatedEnrollments>(created),
        enrollments::create_enrollments,
    );
    api.add(
        Op::delete("/api/v1/enrollments/{id}", Tenant(perm::COURSES_MANAGE))
            .summary("courses", "Remove an enrollment")
            .response::<()>(gone),
        enrollments::delete_enrollment,
    );
}

fn register_assignments(api: &mut Api) {
    use Access::Tenant;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get(
            "/api/v1/courses/{id}/assignments",
            Tenant(perm::ASSIGNMENTS_READ),
        )
        .summary(
            "assignments",
            "Assignments of a course by due date, with creator name and rubric id",
        )
        .query::<assignments::AssignmentListParams>()
        .response::<Page<assignments::AssignmentView>>(ok),
        assignments::list,
    );
    api.add(
        Op::post(
            "/api/v1/courses/{id}/assignments",
            Tenant(perm::ASSIGNMENTS_MANAGE),
        )
        .summary(
            "assignments",
            "Create an assignment (a draft unless publish is true)",
        )
        .request::<assignments::CreateAssignment>()
        .response::<assignments::AssignmentView>(created),
        assignments::create,
    );
    api.add(
        Op::get("/api/v1/assignments/{id}", Tenant(perm::ASSIGNMENTS_READ))
            .summary("assignments", "One assignment")
            .response::<assignments::AssignmentView>(ok),
        assignments::show,
    );
    api.add(
        Op::put("/api/v1/assignments/{id}", Tenant(perm::ASSIGNMENTS_MANAGE))
            .summary("assignments", "Update an assignment")
            .request::<assignments::UpdateAssignment>()
            .response::<assignments::AssignmentView>(ok),
        assignments::update,
    );
    api.add(
        Op::post(
            "/api/v1/assignments/{id}/publish",
            Tenant(perm::ASSIGNMENTS_MANAGE),
        )
        .summary("assignments", "Publish a draft assignment")
        .response::<assignments::AssignmentView>(ok),
        assignments::publish,
    );
    api.add(
        Op::post(
            "/api/v1/assignments/{id}/archive",
            Tenant(perm::ASSIGNMENTS_MANAGE),
        )
        .summary("assignments", "Archive an assignment")
        .response::<assignments::AssignmentView>(ok),
        assignments::archive,
    );
    api.add(
        Op::delete("/api/v1/assignments/{id}", Tenant(perm::ASSIGNMENTS_MANAGE))
            .summary(
                "assignments",
                "Delete an assignment; refused while it has submissions unless archived",
            )
            .response::<()>(gone),
        assignments::delete,
    );
    api.add(
        Op::get(
            "/api/v1/assignments/{id}/submissions",
            Tenant(perm::SUBMISSIONS_READ),
        )
        .summary(
            "submissions",
            "Submissions with student and grader names (students: their own)",
        )
        .query::<submissions::SubmissionListParams>()
        .response::<Page<submissions::SubmissionView>>(ok),
        submissions::list,
    );
    api.add(
        Op::post(
            "/api/v1/assignments/{id}/submissions",
            Tenant(perm::SUBMISSIONS_CREATE),
        )
        .summary(
            "submissions",
            "Submit work (the signed-in student); a resubmission is the next attempt",
        )
        .request::<submissions::CreateSubmission>()
        .response::<submissions::SubmissionView>(created),
        submissions::create,
    );
    api.add(
        Op::get("/api/v1/submissions/{id}", Tenant(perm::SUBMISSIONS_READ))
            .summary("submissions", "One submission")
            .response::<submissions::SubmissionView>(ok),
        submissions::show,
    );
    api.add(
        Op::put(
            "/api/v1/submissions/{id}/grade",
            Tenant(perm::SUBMISSIONS_GRADE),
        )
        .summary(
            "submissions",
            "Grade a submission (0 to points_possible) with feedback",
        )
        .request::<submissions::GradeSubmission>()
        .response::<submissions::SubmissionView>(ok),
        submissions::grade,
    );
    api.add(
        Op::post(
            "/api/v1/submissions/{id}/return",
            Tenant(perm::SUBMISSIONS_GRADE),
        )
        .summary("submissions", "Return graded work to the student")
        .response::<submissions::SubmissionView>(ok),
        submissions::return_to_student,
    );
}

fn register_discussions(api: &mut Api) {
    use Access::Tenant;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
    api.add(
        Op::get(
            "/api/v1/courses/{id}/discussions",
            Tenant(perm::DISCUSSIONS_READ),
        )
        .summary("discussions", "Discussions of a course, pinned first")
        .query::<PageParams>()
        .response::<Page<discussions::DiscussionView>>(ok),
        discussions::list,
    );
    api.add(
        Op::post(
            "/api/v1/courses/{id}/discussions",
            Tenant(perm::DISCUSSIONS_MANAGE),
        )
        .summary("discussions", "Start a discussion (course staff)")
        .request::<discussions::CreateDiscussion>()
        .response::<discussions::DiscussionView>(created),
        discussions::create,
    );
    api.add(
        Op::get("/api/v1/discussions/{id}", Tenant(perm::DISCUSSIONS_READ))
            .summary("discussions", "One discussion")
            .response::<discussions::DiscussionView>(ok),
        discussions::show,
    );
    api.add(
        Op::get(
            "/api/v1/discussions/{id}/posts",
            Tenant(perm::DISCUSSIONS_READ),
        )
        .summary(
            "discussions",
            "Posts of a discussion, oldest first; threads via parent_post_id",
        )
        .query::<PageParams>()
        .response::<Page<discussions::PostView>>(ok),
        discussions::list_posts,
    );
    api.add(
        Op::post(
            "/api/v1/discussions/{id}/posts",
            Tenant(perm::DISCUSSIONS_POST),
        )
        .summary("discussions", "Post (or reply with parent_post_id)")
        .request::<discussions::CreatePost>()
        .response::<discussions::PostView>(created),
        discussions::create_post,
    );
    api.add(
        Op::delete(
            "/api/v1/discussion_posts/{id}",
            Tenant(perm::DISCUSSIONS_POST),
        )
        .summary(
            "discussions",
            "Delete a post and its replies (author or course staff)",
        )
        .response::<()>(gone),
        discussions::delete_post,
    );
}

fn register_school_admin(api: &mut Api) {
    use crate::identity::guardians;
    use crate::tenancy::calendar;
    use Access::{Operator, Tenant, TenantMember};
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);
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
    api.add(
        Op::get("/api/v1/admin/audit_logs", Tenant(perm::AUDIT_READ))
            .summary("audit", "The school's audit trail, newest first")
            .query::<crate::audit::AuditListParams>()
            .response::<Page<crate::audit::AuditLogView>>(ok),
        crate::audit::list_tenant,
    );
    api.add(
        Op::get("/api/v1/operator/audit_logs", Operator)
            .summary(
                "operator",
                "Operator actions and logins naming no school, newest first",
            )
            .query::<crate::audit::AuditListParams>()
            .response::<Page<crate::audit::AuditLogView>>(ok),
        crate::audit::list_platform,
    );
}
