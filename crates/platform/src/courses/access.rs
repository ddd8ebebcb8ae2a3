//! Who sees which course (spec 02, "Who sees what"), on top of tenant isolation:
//!
//! * admin, curriculum_lead: every course of the tenant;
//! * teacher / ta: courses where they hold a teacher or ta enrollment;
//! * student (and observer): courses they are enrolled in, unless archived;
//! * guardian: read-only view of their linked students' courses, unless archived.
//!
//! Anything else answers 404, exactly like a course that does not exist.

use crate::auth::session::UserActor;
use crate::db::TenantTx;
use crate::error::ApiError;

/// The signed-in user as the teaching core sees them.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    /// admin or curriculum_lead: sees (and may staff) every course.
    pub sees_all_courses: bool,
}

impl Viewer {
    pub fn new(user: &UserActor) -> Self {
        Self {
            user_id: user.user_id,
            sees_all_courses: user.has_role("admin") || user.has_role("curriculum_lead"),
        }
    }
}

/// How the viewer relates to one course.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CourseRole {
    /// Teaches it (teacher/ta enrollment) or sees every course: full read, may manage
    /// when the route's permission allows.
    Staff,
    /// Enrolled as a student or observer: published work, own submissions and attempts.
    Learner,
    /// Guardian of an enrolled student: read-only, the linked students' work.
    Guardian,
}

impl CourseRole {
    pub fn is_staff(self) -> bool {
        self == Self::Staff
    }
}

/// What [`course_role`] reads: whether course `$1` is archived and whether user `$2`
/// teaches it, learns in it or guards a student of it.
pub const COURSE_ROLE_SQL: &str = "
    SELECT c.archived_at IS NOT NULL,
           EXISTS (SELECT 1 FROM enrollments e WHERE e.course_id = c.id AND e.user_id = $2
                     AND e.role IN ('teacher', 'ta')),
           EXISTS (SELECT 1 FROM enrollments e WHERE e.course_id = c.id AND e.user_id = $2
                     AND e.role IN ('student', 'observer')),
           EXISTS (SELECT 1 FROM guardian_links g
                     JOIN enrollments e ON e.user_id = g.student_id AND e.role = 'student'
                    WHERE g.guardian_id = $2 AND e.course_id = c.id)
      FROM courses c WHERE c.id = $1";

/// The viewer's role in `course_id`, or 404 when the course is not visible to them.
pub async fn course_role(
    tx: &mut TenantTx,
    viewer: &Viewer,
    course_id: i64,
) -> Result<CourseRole, ApiError> {
    let row: Option<(bool, bool, bool, bool)> = sqlx::query_as(COURSE_ROLE_SQL)
        .bind(course_id)
        .bind(viewer.user_id)
        .fetch_optional(&mut **tx)
        .await?;
    let (archived, teaches, learns, guards) = row.ok_or(ApiError::NotFound)?;
    if viewer.sees_all_courses || teaches {
        Ok(CourseRole::Staff)
    } else if archived {
        Err(ApiError::NotFound)
    } else if learns {
        Ok(CourseRole::Learner)
    } else if guards {
        Ok(CourseRole::Guardian)
    } else {
        Err(ApiError::NotFound)
    }
}

/// Like [`course_role`], but only staff pass; others get 404 if they cannot see the
/// course and 403 if they can (they know it exists, but may not change it).
pub async fn require_staff(
    tx: &mut TenantTx,
    viewer: &Viewer,
    course_id: i64,
) -> Result<(), ApiError> {
    match course_role(tx, viewer, course_id).await? {
        CourseRole::Staff => Ok(()),
        _ => Err(ApiError::Forbidden),
    }
}

/// SQL subquery: ids of the courses a viewer who does not see every course may see, the
/// viewer's id in `$1`. Driven by the `(tenant_id, user_id, course_id)` enrollment index,
/// so its cost follows the viewer's own enrollments, not the size of the school.
pub const VISIBLE_COURSE_IDS_SQL: &str = "
        SELECT e.course_id FROM enrollments e
         WHERE e.user_id = $1 AND e.role IN ('teacher', 'ta')
        UNION
        SELECT e.course_id FROM enrollments e
          JOIN courses c2 ON c2.id = e.course_id AND c2.archived_at IS NULL
         WHERE e.user_id = $1 AND e.role IN ('student', 'observer')
        UNION
        SELECT e.course_id FROM guardian_links g
          JOIN enrollments e ON e.user_id = g.student_id AND e.role = 'student'
          JOIN courses c2 ON c2.id = e.course_id AND c2.archived_at IS NULL
         WHERE g.guardian_id = $1";
