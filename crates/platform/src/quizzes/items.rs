//! The items of a quiz: which bank questions it asks, in which order, for how many
//! points. Positions run 1..n; adding, removing and reordering keep them so.
//!
//! Learners never see answer keys. They see a published quiz's items only once they have
//! started an attempt (guardians: once a linked student has), so the time limit means
//! something. Items cannot be added or removed once anyone has attempted the quiz, since
//! that would change what earlier attempts were graded against; reordering stays allowed.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check_points;
use super::question::Choice;
use super::quiz::{staff_quiz, visible_quiz, StaffQuiz};
use crate::courses::access::Viewer;
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};

/// The most items one quiz may have.
pub const MAX_ITEMS: i64 = 500;

/// A quiz item with its question. `correct_answer` is present for the course's staff
/// only (null for open questions without a reference answer) and never sent to learners
/// or guardians.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct QuizItemView {
    pub id: i64,
    pub quiz_id: i64,
    pub question_id: i64,
    /// 1-based order in the quiz.
    pub position: i32,
    pub points: f64,
    /// `multiple_choice`, `true_false`, `short_answer` or `essay`.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub prompt: String,
    #[sqlx(json)]
    pub choices: Vec<Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct_answer: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// Items with their questions; `$1` says whether to include the answer keys.
const ITEM_SELECT: &str = "
    SELECT i.id, i.quiz_id, i.question_id, i.position, i.points::float8 AS points,
           q.type, q.prompt, q.choices,
           CASE WHEN $1 THEN coalesce(q.correct_answer, 'null'::jsonb) END AS correct_answer,
           i.created_at
      FROM quiz_items i JOIN questions q ON q.id = i.question_id";

async fn staff_items(tx: &mut TenantTx, quiz_id: i64) -> ApiResult<Vec<QuizItemView>> {
    Ok(sqlx::query_as(&format!(
        "{ITEM_SELECT} WHERE i.quiz_id = $2 ORDER BY i.position, i.id"
    ))
    .bind(true)
    .bind(quiz_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// `GET /api/v1/quizzes/{id}/items`: by position.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(quiz_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<QuizItemView>>> {
    let limit = page.limit()?;
    let after: Option<(i32, i64)> = page.after()?;
    let viewer = Viewer::new(&me);
    let mut tx = db.begin().await?;
    let staff = visible_quiz(&mut tx, &viewer, quiz_id).await?.is_staff();
    if !staff {
        let (started,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM quiz_attempts a
                             WHERE a.quiz_id = $1
                               AND (a.user_id = $2 OR a.user_id IN (
                                    SELECT g.student_id FROM guardian_links g WHERE g.guardian_id = $2)))",
        )
        .bind(quiz_id)
        .bind(viewer.user_id)
        .fetch_one(&mut *tx)
        .await?;
        if !started {
            return Err(ApiError::conflict(
                "attempt_not_started",
                "the questions are shown once an attempt has started",
            ));
        }
    }
    let rows: Vec<QuizItemView> = sqlx::query_as(&format!(
        "{ITEM_SELECT}
          WHERE i.quiz_id = $2 AND ($3::int IS NULL OR (i.position, i.id) > ($3, $4))
          ORDER BY i.position, i.id LIMIT $5"
    ))
    .bind(staff)
    .bind(quiz_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |i| (i.position, i.id))))
}

fn refuse_if_attempted(quiz: &StaffQuiz) -> ApiResult<()> {
    if quiz.attempts_count > 0 {
        return Err(ApiError::conflict(
            "quiz_has_attempts",
            "students have attempted this quiz; its items can no longer be added or removed",
        ));
    }
    Ok(())
}

/// Body of `POST /api/v1/quizzes/{id}/items`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateItem {
    /// A question from any of the school's banks; each question at most once per quiz.
    pub question_id: i64,
    /// Points for this item (default: the question's points).
    pub points: Option<f64>,
    /// 1-based position; later items move down. Default: last.
    pub position: Option<i32>,
}

/// `POST /api/v1/quizzes/{id}/items`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiPath(quiz_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateItem>,
) -> ApiResult<(StatusCode, Json<QuizItemView>)> {
    if let Some(p) = body.points {
        check_points("points", p)?;
    }
    if body.position.is_some_and(|p| p < 1) {
        return Err(ApiError::invalid("position", "must be 1 or more"));
    }
    let mut tx = db.begin().await?;
    let quiz = staff_quiz(&mut tx, &Viewer::new(&me), quiz_id).await?;
    refuse_if_attempted(&quiz)?;
    let (count, question_points): (i64, Option<f64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM quiz_items WHERE quiz_id = $1),
                (SELECT points::float8 FROM questions WHERE id = $2)",
    )
    .bind(quiz_id)
    .bind(body.question_id)
    .fetch_one(&mut *tx)
    .await?;
    let question_points = question_points
        .ok_or_else(|| ApiError::invalid("question_id", "is not a question of this school"))?;
    if count >= MAX_ITEMS {
        return Err(ApiError::conflict(
            "quiz_full",
            format!("a quiz has at most {MAX_ITEMS} items"),
        ));
    }
    let position = body
        .position
        .map_or(count + 1, |p| i64::from(p).min(count + 1));
    sqlx::query(
        "UPDATE quiz_items SET position = position + 1 WHERE quiz_id = $1 AND position >= $2",
    )
    .bind(quiz_id)
    .bind(position as i32)
    .execute(&mut *tx)
    .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO quiz_items (tenant_id, quiz_id, question_id, position, points)
         VALUES (current_tenant_id(), $1, $2, $3, $4) RETURNING id",
    )
    .bind(quiz_id)
    .bind(body.question_id)
    .bind(position as i32)
    .bind(body.points.unwrap_or(question_points))
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => {
            ApiError::conflict("already_exists", "this question is already on the quiz")
        }
        other => other,
    })?;
    let item: QuizItemView = sqlx::query_as(&format!("{ITEM_SELECT} WHERE i.id = $2"))
        .bind(true)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(item)))
}

/// `DELETE /api/v1/quizzes/{id}/items/{item_id}`: later items move up.
pub async fn delete(
    TenantScope { me, db }: TenantScope,
    ApiPath((quiz_id, item_id)): ApiPath<(i64, i64)>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let quiz = staff_quiz(&mut tx, &Viewer::new(&me), quiz_id).await?;
    refuse_if_attempted(&quiz)?;
    let removed: Option<(i32,)> =
        sqlx::query_as("DELETE FROM quiz_items WHERE id = $1 AND quiz_id = $2 RETURNING position")
            .bind(item_id)
            .bind(quiz_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (position,) = removed.ok_or(ApiError::NotFound)?;
    sqlx::query(
        "UPDATE quiz_items SET position = position - 1 WHERE quiz_id = $1 AND position > $2",
    )
    .bind(quiz_id)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `PUT /api/v1/quizzes/{id}/items/order`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderItems {
    /// Every item id of the quiz exactly once, in the new order.
    pub item_ids: Vec<i64>,
}

/// `PUT /api/v1/quizzes/{id}/items/order`: rewrites every position in one statement and
/// answers the items in their new order.
pub async fn reorder(
    TenantScope { me, db }: TenantScope,
    ApiPath(quiz_id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReorderItems>,
) -> ApiResult<Json<Vec<QuizItemView>>> {
    let mut tx = db.begin().await?;
    staff_quiz(&mut tx, &Viewer::new(&me), quiz_id).await?;
    let (mut current,): (Vec<i64>,) =
        sqlx::query_as("SELECT coalesce(array_agg(id), '{}') FROM quiz_items WHERE quiz_id = $1")
            .bind(quiz_id)
            .fetch_one(&mut *tx)
            .await?;
    let mut wanted = body.item_ids.clone();
    current.sort_unstable();
    wanted.sort_unstable();
    if current != wanted {
        return Err(ApiError::invalid(
            "item_ids",
            "must list every item of the quiz exactly once",
        ));
    }
    sqlx::query(
        "UPDATE quiz_items i SET position = x.ord
           FROM unnest($2::bigint[]) WITH ORDINALITY AS x(id, ord)
          WHERE i.id = x.id AND i.quiz_id = $1 AND i.position IS DISTINCT FROM x.ord::int",
    )
    .bind(quiz_id)
    .bind(&body.item_ids)
    .execute(&mut *tx)
    .await?;
    let items = staff_items(&mut tx, quiz_id).await?;
    tx.commit().await?;
    Ok(Json(items))
}
