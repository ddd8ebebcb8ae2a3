//! Assignments of a course: create, update, publish, archive, delete; the submissions
//! students make to them live in [`submissions`].

pub mod routes;
pub mod submissions;

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::courses::access::{course_role, require_staff, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{double_option, Page, PageParams, TimeCursor};
use crate::http::validate;
use crate::request::RequestMeta;

pub const ASSIGNMENT_TYPES: &[&str] = &[
    "homework",
    "essay",
    "project",
    "lab",
    "presentation",
    "other",
];

/// An assignment with its creator's name.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AssignmentView {
    pub id: i64,
    pub course_id: i64,
    pub title: String,
    pub description: String,
    pub instructions: String,
    pub assignment_type: String,
    pub points_possible: f64,
    pub due_at: Option<DateTime<Utc>>,
    pub unlock_at: Option<DateTime<Utc>>,
    pub lock_at: Option<DateTime<Utc>>,
    pub allow_late_submission: bool,
    /// `draft`, `published` or `archived`; students see only published ones.
    pub status: String,
    pub rubric_id: Option<i64>,
    pub created_by_id: Option<i64>,
    pub creator_name: Option<String>,
    pub submissions_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ASSIGNMENT_SELECT: &str = "
    SELECT a.id, a.course_id, a.title, a.description, a.instructions, a.assignment_type,
           a.points_possible::float8 AS points_possible, a.due_at, a.unlock_at, a.lock_at,
           a.allow_late_submission, a.status, a.rubric_id, a.created_by_id,
           nullif(trim(u.first_name || ' ' || u.last_name), '') AS creator_name,
           a.submissions_count, a.created_at, a.updated_at
      FROM assignments a LEFT JOIN users u ON u.id = a.created_by_id";

/// One assignment view by id (`$1`).
pub fn find_sql() -> String {
    format!("{ASSIGNMENT_SELECT} WHERE a.id = $1")
}

pub async fn find(tx: &mut TenantTx, id: i64) -> Result<Option<AssignmentView>, sqlx::Error> {
    sqlx::query_as(&find_sql())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// The course an assignment belongs to, or 404.
pub async fn course_of(tx: &mut TenantTx, assignment_id: i64) -> ApiResult<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT course_id FROM assignments WHERE id = $1")
        .bind(assignment_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| r.0).ok_or(ApiError::NotFound)
}

/// Loads an assignment the viewer may see (learners and guardians: published only).
pub async fn visible(
    tx: &mut TenantTx,
    viewer: &Viewer,
    id: i64,
) -> ApiResult<(AssignmentView, crate::courses::access::CourseRole)> {
    let assignment = find(tx, id).await?.ok_or(ApiError::NotFound)?;
    let role = course_role(tx, viewer, assignment.course_id).await?;
    if !role.is_staff() && assignment.status != "published" {
        return Err(ApiError::NotFound);
    }
    Ok((assignment, role))
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AssignmentListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only this status (staff; students always see published ones).
    pub status: Option<String>,
}

/// The assignment list query: `$1` course, `$2` status or NULL, `$3`/`$4` cursor
/// (due_at, id), `$5` limit + 1.
pub fn list_sql() -> String {
    format!(
        "{ASSIGNMENT_SELECT}
          WHERE a.course_id = $1 AND ($2::text IS NULL OR a.status = $2) AND {}
          ORDER BY a.due_at ASC NULLS LAST, a.id LIMIT $5",
        TimeCursor::condition("a.due_at", "a.id", 3, 4)
    )
}

/// `GET /api/v1/courses/{id}/assignments`: by due date (undated last), then id.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<AssignmentListParams>,
) -> ApiResult<Json<Page<AssignmentView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: Option<TimeCursor> = page.after()?;
    let mut tx = db.begin().await?;
    let role = course_role(&mut tx, &Viewer::new(&me), course_id).await?;
    let status = if role.is_staff() {
        params.status
    } else {
        Some("published".to_string())
    };
    let rows: Vec<AssignmentView> = sqlx::query_as(&list_sql())
        .bind(course_id)
        .bind(status)
        .bind(after.as_ref().and_then(|c| c.0))
        .bind(after.as_ref().map(|c| c.1))
        .bind(limit + 1)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |a| {
        TimeCursor(a.due_at, a.id)
    })))
}

/// `GET /api/v1/assignments/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AssignmentView>> {
    let mut tx = db.begin().await?;
    let (assignment, _) = visible(&mut tx, &Viewer::new(&me), id).await?;
    tx.commit().await?;
    Ok(Json(assignment))
}

/// Body of `POST /api/v1/courses/{id}/assignments`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssignment {
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub instructions: String,
    /// homework, essay, project, lab, presentation or other (default homework).
    pub assignment_type: Option<String>,
    /// Default 100.
    pub points_possible: Option<f64>,
    pub due_at: Option<DateTime<Utc>>,
    pub unlock_at: Option<DateTime<Utc>>,
    pub lock_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allow_late_submission: bool,
    pub rubric_id: Option<i64>,
    /// Publish at once instead of creating a draft.
    #[serde(default)]
    pub publish: bool,
}

struct Schedule {
    due_at: Option<DateTime<Utc>>,
    unlock_at: Option<DateTime<Utc>>,
    lock_at: Option<DateTime<Utc>>,
}

/// Rubrics do not exist yet, so no id can name one: refuse rather than store a dangling
/// number that a later rubric feature would misread.
fn refuse_rubric(rubric_id: Option<i64>) -> ApiResult<()> {
    match rubric_id {
        Some(_) => Err(ApiError::invalid(
            "rubric_id",
            "rubrics are not available yet; leave it out or null",
        )),
        None => Ok(()),
    }
}

fn validate(
    title: Option<&str>,
    kind: Option<&str>,
    points: Option<f64>,
    s: &Schedule,
) -> ApiResult<()> {
    validate::optional_text("title", title, 1, 300)?;
    if let Some(k) = kind {
        if !ASSIGNMENT_TYPES.contains(&k) {
            return Err(ApiError::invalid(
                "assignment_type",
                format!("must be one of {}", ASSIGNMENT_TYPES.join(", ")),
            ));
        }
    }
    if let Some(p) = points {
        if !(0.0..=100_000.0).contains(&p) || p.is_nan() {
            return Err(ApiError::invalid(
                "points_possible",
                "must be between 0 and 100000",
            ));
        }
    }
    if let (Some(u), Some(l)) = (s.unlock_at, s.lock_at) {
        if l <= u {
            return Err(ApiError::invalid("lock_at", "must be after unlock_at"));
        }
    }
    if let (Some(d), Some(l)) = (s.due_at, s.lock_at) {
        if d > l {
            return Err(ApiError::invalid("due_at", "must not be after lock_at"));
        }
    }
    Ok(())
}

/// `POST /api/v1/courses/{id}/assignments`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateAssignment>,
) -> ApiResult<(StatusCode, Json<AssignmentView>)> {
    refuse_rubric(body.rubric_id)?;
    let schedule = Schedule {
        due_at: body.due_at,
        unlock_at: body.unlock_at,
        lock_at: body.lock_at,
    };
    validate(
        Some(&body.title),
        body.assignment_type.as_deref(),
        body.points_possible,
        &schedule,
    )?;
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO assignments (tenant_id, course_id, created_by_id, title, description, instructions,
                                  assignment_type, points_possible, due_at, unlock_at, lock_at,
                                  allow_late_submission, rubric_id, status)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, coalesce($6, 'homework'), coalesce($7, 100),
                 $8, $9, $10, $11, $12, CASE WHEN $13 THEN 'published' ELSE 'draft' END)
         RETURNING id",
    )
    .bind(course_id)
    .bind(me.user_id)
    .bind(body.title.trim())
    .bind(&body.description)
    .bind(&body.instructions)
    .bind(&body.assignment_type)
    .bind(body.points_possible)
    .bind(body.due_at)
    .bind(body.unlock_at)
    .bind(body.lock_at)
    .bind(body.allow_late_submission)
    .bind(body.rubric_id)
    .bind(body.publish)
    .fetch_one(&mut *tx)
    .await?;
    let assignment = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    if assignment.status == "published" {
        emit_published(&mut tx, id, course_id).await?;
    }
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(assignment)))
}

/// The `assignment.published` webhook event, in the transaction that publishes.
async fn emit_published(tx: &mut TenantTx, id: i64, course_id: i64) -> ApiResult<()> {
    let data = json!({ "assignment_id": id, "course_id": course_id });
    Ok(crate::webhooks::emit(tx, "assignment.published", data).await?)
}

/// Body of `PUT /api/v1/assignments/{id}`: only the fields present change; dates and
/// the rubric may be set to `null`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAssignment {
    pub title: Option<String>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub assignment_type: Option<String>,
    pub points_possible: Option<f64>,
    #[serde(default, deserialize_with = "double_option")]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub unlock_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "double_option")]
    pub lock_at: Option<Option<DateTime<Utc>>>,
    pub allow_late_submission: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub rubric_id: Option<Option<i64>>,
}

/// `PUT /api/v1/assignments/{id}`
pub async fn update(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateAssignment>,
) -> ApiResult<Json<AssignmentView>> {
    refuse_rubric(body.rubric_id.flatten())?;
    let mut tx = db.begin().await?;
    let current = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    require_staff(&mut tx, &Viewer::new(&me), current.course_id).await?;
    let schedule = Schedule {
        due_at: body.due_at.unwrap_or(current.due_at),
        unlock_at: body.unlock_at.unwrap_or(current.unlock_at),
        lock_at: body.lock_at.unwrap_or(current.lock_at),
    };
    validate(
        body.title.as_deref(),
        body.assignment_type.as_deref(),
        body.points_possible,
        &schedule,
    )?;
    sqlx::query(
        "UPDATE assignments SET title = coalesce($2, title), description = coalesce($3, description),
                instructions = coalesce($4, instructions), assignment_type = coalesce($5, assignment_type),
                points_possible = coalesce($6, points_possible), due_at = $7, unlock_at = $8, lock_at = $9,
                allow_late_submission = coalesce($10, allow_late_submission),
                rubric_id = CASE WHEN $11 THEN $12 ELSE rubric_id END
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.title.as_deref().map(str::trim))
    .bind(&body.description)
    .bind(&body.instructions)
    .bind(&body.assignment_type)
    .bind(body.points_possible)
    .bind(schedule.due_at)
    .bind(schedule.unlock_at)
    .bind(schedule.lock_at)
    .bind(body.allow_late_submission)
    .bind(body.rubric_id.is_some())
    .bind(body.rubric_id.flatten())
    .execute(&mut *tx)
    .await?;
    let assignment = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(Json(assignment))
}

async fn transition(
    scope: &TenantScope,
    id: i64,
    to: &str,
    from: &[&str],
) -> ApiResult<AssignmentView> {
    let mut tx = scope.db.begin().await?;
    let current = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    require_staff(&mut tx, &Viewer::new(&scope.me), current.course_id).await?;
    if current.status != to {
        if !from.contains(&current.status.as_str()) {
            return Err(ApiError::conflict(
                "invalid_state",
                format!("a {} assignment cannot become {to}", current.status),
            ));
        }
        sqlx::query("UPDATE assignments SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(to)
            .execute(&mut *tx)
            .await?;
        if to == "published" {
            emit_published(&mut tx, id, current.course_id).await?;
        }
    }
    let assignment = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    Ok(assignment)
}

/// `POST /api/v1/assignments/{id}/publish`: a draft becomes visible to students.
pub async fn publish(
    scope: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AssignmentView>> {
    transition(&scope, id, "published", &["draft"])
        .await
        .map(Json)
}

/// `POST /api/v1/assignments/{id}/archive`: hidden from students, kept for the record.
pub async fn archive(
    scope: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AssignmentView>> {
    transition(&scope, id, "archived", &["draft", "published"])
        .await
        .map(Json)
}

/// `DELETE /api/v1/assignments/{id}`: like courses, refused while it has submissions
/// unless archived first.
pub async fn delete(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let current = find(&mut tx, id).await?.ok_or(ApiError::NotFound)?;
    require_staff(&mut tx, &Viewer::new(&me), current.course_id).await?;
    if current.submissions_count > 0 && current.status != "archived" {
        return Err(ApiError::conflict(
            "archive_first",
            "this assignment has submissions; archive it before deleting it",
        ));
    }
    sqlx::query("DELETE FROM assignments WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("assignment.deleted")
            .on("assignment", id)
            .with(
                json!({ "course_id": current.course_id, "submissions": current.submissions_count }),
            ),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
