//! The course, section and enrollment routes.

use axum::http::StatusCode;

use crate::auth::permission::{perm, Access};
use crate::courses::{self, enrollments};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the course, section and enrollment routes.
pub fn register(api: &mut Api) {
    use Access::*;
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
