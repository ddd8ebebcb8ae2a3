//! The analytics routes: school-wide figures for holders of `analytics:read` (tenant
//! admins), one course's figures for its staff.

use axum::http::StatusCode;

use super::{CourseAnalytics, CoursesAnalytics, DailyAnalytics, DailyParams};
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::PageParams;

/// Registers the analytics routes.
pub fn register(api: &mut Api) {
    use Access::*;
    let ok = StatusCode::OK;
    api.add(
        Op::get("/api/v1/admin/analytics/daily", Tenant(perm::ANALYTICS_READ))
            .summary(
                "analytics",
                "The school's daily activity (students active, submissions, graded) over the last ?days= (1-365, default 30), as of refreshed_at",
            )
            .query::<DailyParams>()
            .response::<DailyAnalytics>(ok),
        super::daily,
    );
    api.add(
        Op::get("/api/v1/admin/analytics/courses", Tenant(perm::ANALYTICS_READ))
            .summary(
                "analytics",
                "Engagement per course (enrolled, active, average grade, quiz participants), as of refreshed_at",
            )
            .query::<PageParams>()
            .response::<CoursesAnalytics>(ok),
        super::courses,
    );
    api.add(
        Op::get("/api/v1/courses/{id}/analytics", Tenant(perm::COURSES_MANAGE))
            .summary(
                "analytics",
                "Engagement in one course, for its teachers and the school's admins, as of refreshed_at",
            )
            .response::<CourseAnalytics>(ok),
        super::course,
    );
}
