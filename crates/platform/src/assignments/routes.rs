//! The assignment and submission routes.

use axum::http::StatusCode;

use crate::assignments::{self, submissions};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::Page;

/// Registers the assignment and submission routes.
pub fn register(api: &mut Api) {
    use Access::*;
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
