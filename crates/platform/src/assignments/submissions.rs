//! Submissions: students hand in work (each resubmission is the next attempt), staff
//! grade and return it. Students see only their own, guardians their linked students'.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{find as find_assignment, visible};
use crate::auth::session::UserActor;
use crate::courses::access::{CourseRole, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams, TimeCursor};

/// A submission with the student's and the grader's names.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct SubmissionView {
    pub id: i64,
    pub assignment_id: i64,
    pub user_id: i64,
    pub student_name: String,
    pub attempt_number: i32,
    pub body: String,
    pub url: Option<String>,
    /// `draft`, `submitted`, `graded` or `returned`.
    pub status: String,
    /// Submitted after the due date (allowed by the assignment).
    pub late: bool,
    pub submitted_at: Option<DateTime<Utc>>,
    pub grade: Option<f64>,
    pub feedback: Option<String>,
    pub graded_by_id: Option<i64>,
    pub grader_name: Option<String>,
    pub graded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const SUBMISSION_SELECT: &str = "
    SELECT s.id, s.assignment_id, s.user_id,
           trim(st.first_name || ' ' || st.last_name) AS student_name,
           s.attempt_number, s.body, s.url, s.status, s.late, s.submitted_at,
           s.grade::float8 AS grade, s.feedback, s.graded_by_id,
           nullif(trim(g.first_name || ' ' || g.last_name), '') AS grader_name,
           s.graded_at, s.created_at
      FROM submissions s
      JOIN users st ON st.id = s.user_id
      LEFT JOIN users g ON g.id = s.graded_by_id";

async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<SubmissionView>, sqlx::Error> {
    sqlx::query_as(&format!("{SUBMISSION_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Which students' submissions the viewer may read in a course: `None` means all.
fn student_scope(role: CourseRole) -> Option<&'static str> {
    match role {
        CourseRole::Staff => None,
        CourseRole::Learner => Some("s.user_id = $2"),
        CourseRole::Guardian => {
            Some("s.user_id IN (SELECT student_id FROM guardian_links WHERE guardian_id = $2)")
        }
    }
}

/// Loads a submission the viewer may read, with their role in its course; else 404.
/// (Attachments use it: whoever may read a submission may read its files.)
pub(crate) async fn readable(
    tx: &mut TenantTx,
    me: &UserActor,
    id: i64,
) -> ApiResult<(SubmissionView, CourseRole)> {
    let submission = find(tx, id).await?.ok_or(ApiError::NotFound)?;
    let (_, role) = visible(tx, &Viewer::new(me), submission.assignment_id).await?;
    let allowed = match role {
        CourseRole::Staff => true,
        CourseRole::Learner => submission.user_id == me.user_id,
        CourseRole::Guardian => {
            let (linked,): (bool,) = sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM guardian_links WHERE guardian_id = $1 AND student_id = $2)",
            )
            .bind(me.user_id)
            .bind(submission.user_id)
            .fetch_one(&mut **tx)
            .await?;
            linked
        }
    };
    if allowed {
        Ok((submission, role))
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SubmissionListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only this student's submissions.
    pub user_id: Option<i64>,
    /// Only this status.
    pub status: Option<String>,
}

/// The submission list query for a viewer with `role` in the course: `$1` assignment,
/// `$2` viewer id, `$3` student or NULL, `$4` status or NULL, `$5`/`$6` cursor
/// (submitted_at, id), `$7` limit + 1.
pub fn list_sql(role: CourseRole) -> String {
    let scope = student_scope(role).unwrap_or("$2::bigint IS NOT NULL");
    format!(
        "{SUBMISSION_SELECT}
          WHERE s.assignment_id = $1 AND {scope}
            AND ($3::bigint IS NULL OR s.user_id = $3) AND ($4::text IS NULL OR s.status = $4)
            AND {}
          ORDER BY s.submitted_at ASC NULLS LAST, s.id LIMIT $7",
        TimeCursor::condition("s.submitted_at", "s.id", 5, 6)
    )
}

/// `GET /api/v1/assignments/{id}/submissions`: staff see all, students their own,
/// guardians their linked students'; by submission time.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<SubmissionListParams>,
) -> ApiResult<Json<Page<SubmissionView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: Option<TimeCursor> = page.after()?;
    let mut tx = db.begin().await?;
    let (_, role) = visible(&mut tx, &Viewer::new(&me), assignment_id).await?;
    let rows: Vec<SubmissionView> = sqlx::query_as(&list_sql(role))
        .bind(assignment_id)
        .bind(me.user_id)
        .bind(params.user_id)
        .bind(&params.status)
        .bind(after.as_ref().and_then(|c| c.0))
        .bind(after.as_ref().map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |s| {
        TimeCursor(s.submitted_at, s.id)
    })))
}

/// Body of `POST /api/v1/assignments/{id}/submissions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubmission {
    #[serde(default)]
    pub body: String,
    pub url: Option<String>,
}

/// `POST /api/v1/assignments/{id}/submissions`: the signed-in student submits; a
/// resubmission is the next attempt. Refused after `lock_at`, and after `due_at` unless
/// the assignment allows late work.
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiPath(assignment_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateSubmission>,
) -> ApiResult<(StatusCode, Json<SubmissionView>)> {
    if body.body.trim().is_empty() && body.url.as_deref().is_none_or(|u| u.trim().is_empty()) {
        return Err(ApiError::invalid(
            "body",
            "a submission needs a body or a url",
        ));
    }
    if body.body.len() > 200_000 {
        return Err(ApiError::invalid("body", "must be at most 200000 bytes"));
    }
    if let Some(u) = &body.url {
        let ok = u.len() <= 2000
            && url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"));
        if !ok {
            return Err(ApiError::invalid(
                "url",
                "must be an http(s) URL of at most 2000 characters",
            ));
        }
    }
    let mut tx = db.begin().await?;
    let (assignment, role) = visible(&mut tx, &Viewer::new(&me), assignment_id).await?;
    let (is_student,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM enrollments WHERE course_id = $1 AND user_id = $2 AND role = 'student')",
    )
    .bind(assignment.course_id)
    .bind(me.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if role != CourseRole::Learner || !is_student {
        return Err(ApiError::Forbidden);
    }
    let now = Utc::now();
    if assignment.unlock_at.is_some_and(|u| now < u) {
        return Err(ApiError::conflict(
            "not_open",
            "this assignment is not open for submissions yet",
        ));
    }
    if assignment.lock_at.is_some_and(|l| now >= l) {
        return Err(ApiError::conflict("locked", "this assignment is locked"));
    }
    let late = assignment.due_at.is_some_and(|d| now > d);
    if late && !assignment.allow_late_submission {
        return Err(ApiError::conflict(
            "past_due",
            "the due date has passed and late submissions are not allowed",
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO submissions (tenant_id, assignment_id, user_id, attempt_number, body, url, status, late, submitted_at)
         SELECT current_tenant_id(), $1, $2, coalesce(max(attempt_number), 0) + 1, $3, $4, 'submitted', $5, $6
           FROM submissions WHERE assignment_id = $1 AND user_id = $2
         RETURNING id",
    )
    .bind(assignment_id)
    .bind(me.user_id)
    .bind(&body.body)
    .bind(&body.url)
    .bind(late)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    let submission = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    let data = serde_json::json!({
        "submission_id": id, "assignment_id": assignment_id, "user_id": me.user_id,
        "attempt_number": submission.attempt_number, "late": late,
    });
    crate::webhooks::emit(&mut tx, "submission.created", data).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(submission)))
}

/// `GET /api/v1/submissions/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<SubmissionView>> {
    let mut tx = db.begin().await?;
    let (submission, _) = readable(&mut tx, &me, id).await?;
    tx.commit().await?;
    Ok(Json(submission))
}

/// Body of `PUT /api/v1/submissions/{id}/grade`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradeSubmission {
    /// Between 0 and the assignment's points_possible.
    pub grade: f64,
    pub feedback: Option<String>,
}

async fn staff_submission(tx: &mut TenantTx, me: &UserActor, id: i64) -> ApiResult<SubmissionView> {
    let (submission, role) = readable(tx, me, id).await?;
    if !role.is_staff() {
        return Err(ApiError::Forbidden);
    }
    Ok(submission)
}

/// `PUT /api/v1/submissions/{id}/grade`
pub async fn grade(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GradeSubmission>,
) -> ApiResult<Json<SubmissionView>> {
    if body.feedback.as_ref().is_some_and(|f| f.len() > 50_000) {
        return Err(ApiError::invalid("feedback", "must be at most 50000 bytes"));
    }
    let mut tx = db.begin().await?;
    let submission = staff_submission(&mut tx, &me, id).await?;
    let assignment = find_assignment(&mut tx, submission.assignment_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if !(body.grade >= 0.0 && body.grade <= assignment.points_possible) {
        return Err(ApiError::invalid(
            "grade",
            format!("must be between 0 and {}", assignment.points_possible),
        ));
    }
    if submission.status == "draft" {
        return Err(ApiError::conflict(
            "invalid_state",
            "a draft cannot be graded",
        ));
    }
    sqlx::query(
        "UPDATE submissions SET grade = $2, feedback = coalesce($3, feedback), status = 'graded',
                graded_by_id = $4, graded_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.grade)
    .bind(&body.feedback)
    .bind(me.user_id)
    .execute(&mut *tx)
    .await?;
    let submission = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    let data = serde_json::json!({
        "submission_id": id, "assignment_id": submission.assignment_id,
        "user_id": submission.user_id, "grade": body.grade,
    });
    crate::webhooks::emit(&mut tx, "submission.graded", data).await?;
    tx.commit().await?;
    Ok(Json(submission))
}

/// `POST /api/v1/submissions/{id}/return`: hands graded work back to the student.
pub async fn return_to_student(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<SubmissionView>> {
    let mut tx = db.begin().await?;
    let submission = staff_submission(&mut tx, &me, id).await?;
    if submission.status != "graded" && submission.status != "returned" {
        return Err(ApiError::conflict(
            "invalid_state",
            "only graded submissions can be returned",
        ));
    }
    sqlx::query("UPDATE submissions SET status = 'returned' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let submission = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(submission))
}
