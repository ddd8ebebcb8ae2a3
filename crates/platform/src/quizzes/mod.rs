//! Question banks, quizzes and quiz attempts.
//!
//! * [`banks`]: tenant-wide question banks and their questions (staff tools, not bound to a
//!   course); [`question`] says which JSON each question type takes.
//! * [`quiz`]: the quizzes of a course and who may see them; [`items`]: the questions a
//!   quiz asks, in order, with their points.
//! * [`attempts`]: students take published quizzes; [`grading`] closes attempts and
//!   auto-grades multiple-choice and true/false answers in one set-based statement.
//!
//! Visibility follows [`crate::courses::access`]: a quiz of a course the caller cannot see
//! answers 404, and so does a draft quiz to anyone but the course's staff.

pub mod attempts;
pub mod banks;
pub mod grading;
pub mod items;
pub mod question;
pub mod quiz;
pub mod routes;

use crate::error::{ApiError, ApiResult};

/// The most points a question or quiz item may be worth (`numeric(8,2)`).
pub const MAX_POINTS: f64 = 999_999.99;

/// Checks a points value: finite, `0..=MAX_POINTS`.
pub(crate) fn check_points(field: &str, points: f64) -> ApiResult<()> {
    if !points.is_finite() || !(0.0..=MAX_POINTS).contains(&points) {
        return Err(ApiError::invalid(
            field,
            format!("must be between 0 and {MAX_POINTS}"),
        ));
    }
    Ok(())
}
