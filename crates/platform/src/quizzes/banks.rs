//! Question banks and their questions: tenant-wide staff tools (read with
//! `question_banks:read`, change with `question_banks:manage`), not bound to a course.
//! Quizzes draw their items from here.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::check_points;
use super::question::{Choice, QuestionContent, QuestionType};
use crate::audit::{self, AuditEvent, TenantActor};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{double_option, Page, PageParams};
use crate::http::validate;
use crate::request::RequestMeta;

/// A question bank with its question counter.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct QuestionBankView {
    pub id: i64,
    pub title: String,
    pub subject: String,
    pub grade_level: String,
    /// `active` or `archived`.
    pub status: String,
    pub questions_count: i32,
    pub created_by_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const BANK_SELECT: &str = "
    SELECT b.id, b.title, b.subject, b.grade_level, b.status, b.questions_count,
           b.created_by_id, b.created_at, b.updated_at
      FROM question_banks b";

async fn find_bank(tx: &mut TenantTx, id: i64) -> ApiResult<QuestionBankView> {
    sqlx::query_as(&format!("{BANK_SELECT} WHERE b.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Query parameters of the question bank list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct BankListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only banks of this status (`active` or `archived`).
    pub status: Option<String>,
}

/// `GET /api/v1/question_banks`: the school's banks, oldest first.
pub async fn list(
    TenantScope { me: _, db }: TenantScope,
    ApiQuery(params): ApiQuery<BankListParams>,
) -> ApiResult<Json<Page<QuestionBankView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: i64 = page.after()?.unwrap_or(0);
    let mut tx = db.begin().await?;
    let rows: Vec<QuestionBankView> = sqlx::query_as(&format!(
        "{BANK_SELECT} WHERE b.id > $1 AND ($2::text IS NULL OR b.status = $2)
          ORDER BY b.id LIMIT $3"
    ))
    .bind(after)
    .bind(&params.status)
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |b| b.id)))
}

/// `GET /api/v1/question_banks/{id}`
pub async fn show(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<QuestionBankView>> {
    let mut tx = db.begin().await?;
    let bank = find_bank(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(bank))
}

/// Body of `POST /api/v1/question_banks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBank {
    /// 1 to 300 characters.
    pub title: String,
    /// Up to 100 characters.
    #[serde(default)]
    pub subject: String,
    /// Up to 20 characters, e.g. `"7"` or `"K-2"`.
    #[serde(default)]
    pub grade_level: String,
}

/// `POST /api/v1/question_banks`
pub async fn create(
    TenantScope { me, db }: TenantScope,
    ApiJson(body): ApiJson<CreateBank>,
) -> ApiResult<(StatusCode, Json<QuestionBankView>)> {
    validate::text("title", &body.title, 1, 300)?;
    validate::text("subject", &body.subject, 0, 100)?;
    validate::text("grade_level", &body.grade_level, 0, 20)?;
    let mut tx = db.begin().await?;
    let bank: QuestionBankView = sqlx::query_as(
        "INSERT INTO question_banks (tenant_id, created_by_id, title, subject, grade_level)
         VALUES (current_tenant_id(), $1, $2, $3, $4)
         RETURNING id, title, subject, grade_level, status, questions_count, created_by_id,
                   created_at, updated_at",
    )
    .bind(me.user_id)
    .bind(body.title.trim())
    .bind(body.subject.trim())
    .bind(body.grade_level.trim())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(bank)))
}

/// A question with its answer key, as staff see it in a bank.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct QuestionView {
    pub id: i64,
    pub question_bank_id: i64,
    /// `multiple_choice`, `true_false`, `short_answer` or `essay`.
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub prompt: String,
    /// The choices of a multiple-choice question; empty for other types.
    #[sqlx(json)]
    pub choices: Vec<Choice>,
    /// Multiple choice: a choice id; true/false: a boolean; short answer and essay: an
    /// optional reference answer (string) or null.
    pub correct_answer: Option<Value>,
    pub points: f64,
    pub position: i32,
    /// How many quizzes ask this question (it cannot be deleted while any does).
    pub quizzes_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const QUESTION_SELECT: &str = "
    SELECT q.id, q.question_bank_id, q.type, q.prompt, q.choices, q.correct_answer,
           q.points::float8 AS points, q.position,
           (SELECT count(*) FROM quiz_items i WHERE i.question_id = q.id) AS quizzes_count,
           q.created_at, q.updated_at
      FROM questions q";

async fn find_question(tx: &mut TenantTx, id: i64) -> ApiResult<QuestionView> {
    sqlx::query_as(&format!("{QUESTION_SELECT} WHERE q.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(ApiError::NotFound)
}

/// `GET /api/v1/question_banks/{id}/questions`: by position, then id.
pub async fn list_questions(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(bank_id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<QuestionView>>> {
    let limit = page.limit()?;
    let after: Option<(i32, i64)> = page.after()?;
    let mut tx = db.begin().await?;
    bank_exists(&mut tx, bank_id).await?;
    let rows: Vec<QuestionView> = sqlx::query_as(&format!(
        "{QUESTION_SELECT}
          WHERE q.question_bank_id = $1 AND ($2::int IS NULL OR (q.position, q.id) > ($2, $3))
          ORDER BY q.position, q.id LIMIT $4"
    ))
    .bind(bank_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |q| (q.position, q.id))))
}

/// 404 unless the bank exists (in the caller's tenant).
async fn bank_exists(tx: &mut TenantTx, bank_id: i64) -> ApiResult<()> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM question_banks WHERE id = $1")
        .bind(bank_id)
        .fetch_optional(&mut **tx)
        .await?;
    found.map(drop).ok_or(ApiError::NotFound)
}

/// Body of `POST /api/v1/question_banks/{id}/questions`. The shapes of `choices`,
/// `correct_answer` and answers per type are in the module table of
/// [`super::question`]: multiple choice takes 2 to 50 `{"id", "text"}` choices and the id
/// of the correct one; true/false takes no choices and a boolean; short answer and essay
/// take no choices and an optional reference answer string.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQuestion {
    /// `multiple_choice`, `true_false`, `short_answer` or `essay`.
    #[serde(rename = "type")]
    pub kind: String,
    /// 1 to 20000 characters.
    pub prompt: String,
    /// Multiple choice only: e.g. `[{"id": "a", "text": "Paris"}, {"id": "b", "text": "Lyon"}]`.
    #[serde(default)]
    pub choices: Vec<Choice>,
    /// Multiple choice: a choice id (`"a"`); true/false: `true`/`false`; short answer and
    /// essay: an optional reference answer string.
    pub correct_answer: Option<Value>,
    /// Default points when the question is added to a quiz (default 1).
    pub points: Option<f64>,
    /// Position in the bank (default: after the last question).
    pub position: Option<i32>,
}

/// `POST /api/v1/question_banks/{id}/questions`
pub async fn create_question(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(bank_id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreateQuestion>,
) -> ApiResult<(StatusCode, Json<QuestionView>)> {
    validate::text("prompt", &body.prompt, 1, 20_000)?;
    let content = QuestionContent::parse(
        QuestionType::parse(&body.kind)?,
        body.choices,
        body.correct_answer,
    )?;
    let points = body.points.unwrap_or(1.0);
    check_points("points", points)?;
    let mut tx = db.begin().await?;
    bank_exists(&mut tx, bank_id).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO questions (tenant_id, question_bank_id, type, prompt, choices, correct_answer,
                                points, position)
         SELECT current_tenant_id(), $1, $2, $3, $4, $5, $6,
                coalesce($7, (SELECT coalesce(max(position), 0) + 1 FROM questions
                               WHERE question_bank_id = $1))
         RETURNING id",
    )
    .bind(bank_id)
    .bind(content.kind().as_str())
    .bind(&body.prompt)
    .bind(content.choices_json())
    .bind(content.correct_answer())
    .bind(points)
    .bind(body.position)
    .fetch_one(&mut *tx)
    .await?;
    let question = find_question(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(question)))
}

/// Body of `PUT /api/v1/questions/{id}`: only the fields present change, and the result
/// must be a valid question as a whole (changing `type` usually means sending `choices`
/// and `correct_answer` too). `"correct_answer": null` clears an open question's key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQuestion {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub prompt: Option<String>,
    pub choices: Option<Vec<Choice>>,
    #[serde(default, deserialize_with = "double_option")]
    pub correct_answer: Option<Option<Value>>,
    pub points: Option<f64>,
    pub position: Option<i32>,
}

/// `PUT /api/v1/questions/{id}`. Attempts already graded keep their marks.
pub async fn update_question(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateQuestion>,
) -> ApiResult<Json<QuestionView>> {
    if let Some(p) = &body.prompt {
        validate::text("prompt", p, 1, 20_000)?;
    }
    if let Some(p) = body.points {
        check_points("points", p)?;
    }
    let mut tx = db.begin().await?;
    let current = find_question(&mut tx, id).await?;
    let kind = QuestionType::parse(body.kind.as_deref().unwrap_or(&current.kind))?;
    let content = QuestionContent::parse(
        kind,
        body.choices.unwrap_or(current.choices),
        body.correct_answer.unwrap_or(current.correct_answer),
    )?;
    sqlx::query(
        "UPDATE questions SET type = $2, prompt = coalesce($3, prompt), choices = $4,
                correct_answer = $5, points = coalesce($6, points), position = coalesce($7, position)
          WHERE id = $1",
    )
    .bind(id)
    .bind(content.kind().as_str())
    .bind(&body.prompt)
    .bind(content.choices_json())
    .bind(content.correct_answer())
    .bind(body.points)
    .bind(body.position)
    .execute(&mut *tx)
    .await?;
    let question = find_question(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(question))
}

/// `DELETE /api/v1/questions/{id}`: refused with 409 while any quiz asks the question
/// (remove it from those quizzes first), so no quiz loses an item silently.
pub async fn delete_question(
    TenantScope { me, db }: TenantScope,
    meta: RequestMeta,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let mut tx = db.begin().await?;
    let row: Option<(i64, bool)> = sqlx::query_as(
        "SELECT q.question_bank_id, EXISTS (SELECT 1 FROM quiz_items i WHERE i.question_id = q.id)
           FROM questions q WHERE q.id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (bank_id, in_use) = row.ok_or(ApiError::NotFound)?;
    if in_use {
        return Err(question_in_use());
    }
    sqlx::query("DELETE FROM questions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            // A quiz added the question after the check (quiz_items restricts the delete).
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => question_in_use(),
            _ => ApiError::from(e),
        })?;
    audit::record_tenant(
        &mut tx,
        TenantActor::User(me.user_id),
        &meta,
        AuditEvent::new("question.deleted")
            .on("question", id)
            .with(json!({ "question_bank_id": bank_id })),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn question_in_use() -> ApiError {
    ApiError::conflict(
        "question_in_use",
        "a quiz uses this question; remove it from the quiz first",
    )
}
