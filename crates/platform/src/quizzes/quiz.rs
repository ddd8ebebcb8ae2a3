//! The quizzes of a course: list, create, update, publish; and [`visible_quiz`], the one
//! place that decides who may see a quiz.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::courses::access::{course_role, require_staff, CourseRole, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{double_option, Page, PageParams, TimeCursor};
use crate::http::validate;

/// A quiz with its counters.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct QuizView {
    pub id: i64,
    pub course_id: i64,
    pub title: String,
    pub instructions: String,
    /// Minutes an attempt may last; an attempt still open at the limit is closed at it.
    pub time_limit_minutes: Option<i32>,
    /// How many attempts each student may start.
    pub attempts_allowed: i32,
    pub due_at: Option<DateTime<Utc>>,
    /// `draft`, `published` or `archived`; learners and guardians see only published ones.
    pub status: String,
    pub attempts_count: i32,
    pub items_count: i32,
    /// The sum of the items' points.
    pub points_possible: f64,
    pub created_by_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const QUIZ_SELECT: &str = "
    SELECT z.id, z.course_id, z.title, z.instructions, z.time_limit_minutes, z.attempts_allowed,
           z.due_at, z.status, z.attempts_count, i.items_count, i.points_possible,
           z.created_by_id, z.created_at, z.updated_at
      FROM quizzes z
      CROSS JOIN LATERAL (SELECT count(*)::int AS items_count,
                                 coalesce(sum(qi.points), 0)::float8 AS points_possible
                            FROM quiz_items qi WHERE qi.quiz_id = z.id) i";

/// One quiz, without any visibility check.
pub async fn find(tx: &mut TenantTx, id: i64) -> ApiResult<QuizView> {
    sqlx::query_as(&format!("{QUIZ_SELECT} WHERE z.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound)
}

/// The viewer's role in the quiz's course, or 404 when the course is not visible to
/// them or the quiz is not published and they are not its staff.
pub async fn visible_quiz(
    tx: &mut TenantTx,
    viewer: &Viewer,
    quiz_id: i64,
) -> ApiResult<CourseRole> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT course_id, status FROM quizzes WHERE id = $1")
            .bind(quiz_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (course_id, status) = row.ok_or(ApiError::NotFound)?;
    let role = course_role(tx, viewer, course_id).await?;
    if !role.is_staff() && status != "published" {
        return Err(ApiError::NotFound);
    }
    Ok(role)
}

/// Like [`visible_quiz`] but only the course's staff pass (others who can see the quiz
/// get 403). Locks the quiz row, so changes to its items are serialised with each other
/// and with attempts starting (whose counter update needs the same row).
pub async fn staff_quiz(tx: &mut TenantTx, viewer: &Viewer, quiz_id: i64) -> ApiResult<StaffQuiz> {
    if !visible_quiz(tx, viewer, quiz_id).await?.is_staff() {
        return Err(ApiError::Forbidden);
    }
    let (attempts_count, status): (i32, String) =
        sqlx::query_as("SELECT attempts_count, status FROM quizzes WHERE id = $1 FOR UPDATE")
            .bind(quiz_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(StaffQuiz {
        attempts_count,
        status,
    })
}

/// The locked state of a quiz its staff are changing.
#[derive(Debug)]
pub struct StaffQuiz {
    pub attempts_count: i32,
    pub status: String,
}

/// `GET /api/v1/courses/{id}/quizzes`: by due date (undated last), then id.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<QuizView>>> {
    let limit = page.limit()?;
    let after: Option<TimeCursor> = page.after()?;
    let mut tx = db.begin().await?;
    let role = course_role(&mut tx, &Viewer::new(&me), course_id).await?;
    let rows: Vec<QuizView> = sqlx::query_as(&format!(
        "{QUIZ_SELECT}
          WHERE z.course_id = $1 AND ($2 OR z.status = 'published') AND {}
          ORDER BY z.due_at ASC NULLS LAST, z.id LIMIT $5",
        TimeCursor::condition("z.due_at", "z.id", 3, 4)
    ))
    .bind(course_id)
    .bind(role.is_staff())
    .bind(after.as_ref().and_then(|c| c.0))
    .bind(after.as_ref().map(|c| c.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |z| {
        TimeCursor(z.due_at, z.id)
    })))
}

/// `GET /api/v1/quizzes/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<QuizView>> {
    let mut tx = db.begin().await?;
    visible_quiz(&mut tx, &Viewer::new(&me), id).await?;
    let quiz = find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(quiz))
}

fn check_settings(time_limit: Option<i32>, attempts_allowed: Option<i32>) -> ApiResult<()> {
    if time_limit.is_some_and(|m| !(1..=1440).contains(&m)) {
        return Err(ApiError::invalid(
            "time_limit_minutes",
            "must be between 1 and 1440 (or null for no limit)",
        ));
    }
    if attempts_allowed.is_some_and(|n| !(1..=100).contains(&n)) {
        return Err(ApiError::invalid(
            "attempts_allowed",
            "must be between 1 and 100",
        ));
    }
    Ok(())
}

/// Body of `POST /api/v1/courses/{id}/quizzes`. The quiz starts as a draft; add items,
/// then publish it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuiz {
    /// 1 to 300 characters.
    pub title: String,
    #[serde(default)]
    pub instructions: String,
    /// 1 to 1440 minutes; absent or null for no limit.
    pub time_limit_minutes: Option<i32>,
    /// 1 to 100 (default 1).
    pub attempts_allowed: Option<i32>,
    pub due_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/courses/{id}/quizzes`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiPath(course_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateQuiz>,
) -> ApiResult<(StatusCode, Json<QuizView>)> {
    validate::text("title", &body.title, 1, 300)?;
    validate::text("instructions", &body.instructions, 0, 50_000)?;
    check_settings(body.time_limit_minutes, body.attempts_allowed)?;
    let mut tx = db.begin().await?;
    require_staff(&mut tx, &Viewer::new(&me), course_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO quizzes (tenant_id, course_id, created_by_id, title, instructions,
                              time_limit_minutes, attempts_allowed, due_at)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(course_id)
    .bind(me.user_id)
    .bind(body.title.trim())
    .bind(&body.instructions)
    .bind(body.time_limit_minutes)
    .bind(body.attempts_allowed.unwrap_or(1))
    .bind(body.due_at)
    .fetch_one(&mut *tx)
    .await?;
    let quiz = find(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(quiz)))
}

/// Body of `PUT /api/v1/quizzes/{id}`: only the fields present change; `null` clears
/// `time_limit_minutes` or `due_at`. The status changes only through publish.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuiz {
    pub title: Option<String>,
    pub instructions: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub time_limit_minutes: Option<Option<i32>>,
    pub attempts_allowed: Option<i32>,
    #[serde(default, deserialize_with = "double_option")]
    pub due_at: Option<Option<DateTime<Utc>>>,
}

/// `PUT /api/v1/quizzes/{id}`
pub async fn update(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateQuiz>,
) -> ApiResult<Json<QuizView>> {
    if let Some(t) = &body.title {
        validate::text("title", t, 1, 300)?;
    }
    if let Some(i) = &body.instructions {
        validate::text("instructions", i, 0, 50_000)?;
    }
    check_settings(body.time_limit_minutes.flatten(), body.attempts_allowed)?;
    let mut tx = db.begin().await?;
    staff_quiz(&mut tx, &Viewer::new(&me), id).await?;
    sqlx::query(
        "UPDATE quizzes SET title = coalesce($2, title), instructions = coalesce($3, instructions),
                time_limit_minutes = CASE WHEN $4 THEN $5 ELSE time_limit_minutes END,
                attempts_allowed = coalesce($6, attempts_allowed),
                due_at = CASE WHEN $7 THEN $8 ELSE due_at END
          WHERE id = $1",
    )
    .bind(id)
    .bind(body.title.as_deref().map(str::trim))
    .bind(&body.instructions)
    .bind(body.time_limit_minutes.is_some())
    .bind(body.time_limit_minutes.flatten())
    .bind(body.attempts_allowed)
    .bind(body.due_at.is_some())
    .bind(body.due_at.flatten())
    .execute(&mut *tx)
    .await?;
    let quiz = find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(quiz))
}

/// `POST /api/v1/quizzes/{id}/publish`: students can see and take it from now on. A quiz
/// without items cannot be published (409); publishing twice is harmless.
pub async fn publish(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<QuizView>> {
    let mut tx = db.begin().await?;
    let locked = staff_quiz(&mut tx, &Viewer::new(&me), id).await?;
    if locked.status == "archived" {
        return Err(ApiError::conflict(
            "quiz_archived",
            "an archived quiz cannot be published",
        ));
    }
    let quiz = find(&mut tx, id).await?;
    if quiz.items_count == 0 {
        return Err(ApiError::conflict(
            "quiz_empty",
            "add at least one item before publishing the quiz",
        ));
    }
    sqlx::query("UPDATE quizzes SET status = 'published' WHERE id = $1 AND status = 'draft'")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let quiz = find(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(quiz))
}
