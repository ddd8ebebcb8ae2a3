//! Quiz attempts: a student enrolled in the course starts an attempt at a published quiz,
//! saves answers while it is in progress, and submits it, which grades what can be graded
//! automatically ([`super::grading`]).
//!
//! Rules: at most `attempts_allowed` attempts per student (409 beyond), one in progress at
//! a time (409), a closed attempt is immutable (409), and an attempt whose time limit has
//! passed is closed at the limit with what was saved; saving or submitting after the
//! limit answers 409. Overdue attempts are closed lazily, by whichever request touches
//! them first (start, list, show, answers, submit), always with `submitted_at` at the
//! limit, so the outcome does not depend on when anyone looks.
//!
//! Who sees attempts: the course's staff all of them, a student their own, a guardian
//! those of their linked students; anyone else gets 404. Only the student changes one.

use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::grading::{self, Closing, OVERDUE};
use super::question::{check_answer, Choice, QuestionType};
use super::quiz::visible_quiz;
use crate::courses::access::{CourseRole, Viewer};
use crate::db::TenantTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, TenantScope};
use crate::http::page::{Page, PageParams};

/// The most answers one request may save.
const MAX_ANSWERS_PER_REQUEST: usize = 500;

/// An attempt, as listed.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AttemptView {
    pub id: i64,
    pub quiz_id: i64,
    /// The student.
    pub user_id: i64,
    pub student_name: String,
    pub attempt_number: i32,
    /// `in_progress`, `submitted` (open questions await a person) or `graded`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    /// When the time limit closes the attempt (null without a limit).
    pub deadline_at: Option<DateTime<Utc>>,
    pub submitted_at: Option<DateTime<Utc>>,
    /// Points earned so far (auto-graded part while `submitted`).
    pub score: Option<f64>,
    /// 0 to 100, once `graded`.
    pub percentage: Option<f64>,
    /// The sum of the quiz items' points.
    pub points_possible: f64,
}

/// One saved answer; `correct` and `points_awarded` are set when a multiple-choice or
/// true/false answer is graded.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AnswerView {
    pub question_id: i64,
    pub answer: Value,
    pub correct: Option<bool>,
    pub points_awarded: Option<f64>,
}

/// An attempt with its answers (in quiz order). Never includes answer keys.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct AttemptDetail {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub attempt: AttemptView,
    #[sqlx(json)]
    pub answers: Vec<AnswerView>,
}

const ATTEMPT_COLUMNS: &str = "
    a.id, a.quiz_id, a.user_id, trim(u.first_name || ' ' || u.last_name) AS student_name,
    a.attempt_number, a.status, a.started_at,
    a.started_at + make_interval(mins => z.time_limit_minutes) AS deadline_at,
    a.submitted_at, a.score::float8 AS score, a.percentage::float8 AS percentage,
    (SELECT coalesce(sum(qi.points), 0)::float8 FROM quiz_items qi WHERE qi.quiz_id = a.quiz_id)
        AS points_possible";

const ATTEMPT_FROM: &str = "
      FROM quiz_attempts a
      JOIN quizzes z ON z.id = a.quiz_id
      JOIN users u ON u.id = a.user_id";

async fn detail(tx: &mut TenantTx, id: i64) -> ApiResult<AttemptDetail> {
    sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS},
                coalesce((SELECT jsonb_agg(jsonb_build_object(
                                    'question_id', aa.question_id, 'answer', aa.answer,
                                    'correct', aa.correct, 'points_awarded', aa.points_awarded::float8)
                                  ORDER BY qi.position, aa.question_id)
                            FROM attempt_answers aa
                            LEFT JOIN quiz_items qi ON qi.quiz_id = a.quiz_id AND qi.question_id = aa.question_id
                           WHERE aa.quiz_attempt_id = a.id), '[]'::jsonb) AS answers
           {ATTEMPT_FROM}
          WHERE a.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(ApiError::NotFound)
}

/// An attempt the viewer may see, and whose it is.
struct SeenAttempt {
    quiz_id: i64,
    owned: bool,
}

/// 404 unless the viewer may see the attempt: staff of the quiz's course, the student
/// who made it, or a guardian linked to that student.
async fn visible_attempt(tx: &mut TenantTx, viewer: &Viewer, id: i64) -> ApiResult<SeenAttempt> {
    let row: Option<(i64, i64, bool)> = sqlx::query_as(
        "SELECT a.quiz_id, a.user_id,
                EXISTS (SELECT 1 FROM guardian_links g WHERE g.guardian_id = $2 AND g.student_id = a.user_id)
           FROM quiz_attempts a WHERE a.id = $1",
    )
    .bind(id)
    .bind(viewer.user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let (quiz_id, user_id, guards) = row.ok_or(ApiError::NotFound)?;
    let owned = user_id == viewer.user_id;
    let role = visible_quiz(tx, viewer, quiz_id).await?;
    let sees = match role {
        CourseRole::Staff => true,
        CourseRole::Learner => owned,
        CourseRole::Guardian => guards,
    };
    if !sees {
        return Err(ApiError::NotFound);
    }
    Ok(SeenAttempt { quiz_id, owned })
}

/// For the student changing their attempt: locks it and refuses (409) unless it is in
/// progress. An attempt whose time has run out is closed at the limit and committed before
/// the refusal, so it ends graded with what was saved.
async fn lock_open_attempt(
    mut tx: TenantTx,
    viewer: &Viewer,
    id: i64,
) -> ApiResult<(TenantTx, i64)> {
    let seen = visible_attempt(&mut tx, viewer, id).await?;
    if !seen.owned {
        return Err(ApiError::Forbidden);
    }
    let (status, overdue): (String, bool) = sqlx::query_as(&format!(
        "SELECT a.status, {OVERDUE}
           FROM quiz_attempts a JOIN quizzes z ON z.id = a.quiz_id
          WHERE a.id = $1 FOR UPDATE OF a"
    ))
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if status != "in_progress" {
        return Err(ApiError::conflict(
            "attempt_closed",
            "this attempt has been submitted and can no longer change",
        ));
    }
    if overdue {
        grading::close(&mut tx, Closing::IfOverdue(id)).await?;
        tx.commit().await?;
        return Err(ApiError::conflict(
            "time_limit_passed",
            "the time limit has passed; the attempt was closed at the limit with the answers saved by then",
        ));
    }
    Ok((tx, seen.quiz_id))
}

/// `POST /api/v1/quizzes/{id}/attempts`: the signed-in student starts their next attempt.
pub async fn start(
    TenantScope { me, db }: TenantScope,
    ApiPath(quiz_id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<AttemptDetail>)> {
    let viewer = Viewer::new(&me);
    let mut tx = db.begin().await?;
    if visible_quiz(&mut tx, &viewer, quiz_id).await? != CourseRole::Learner {
        return Err(ApiError::Forbidden);
    }
    grading::close(
        &mut tx,
        Closing::OverdueAt {
            quiz_id,
            user_id: Some(me.user_id),
        },
    )
    .await?;
    let (student, allowed, used, last, in_progress): (bool, i32, i64, i32, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM enrollments e
                         WHERE e.course_id = z.course_id AND e.user_id = $2 AND e.role = 'student'),
                z.attempts_allowed, count(a.id), coalesce(max(a.attempt_number), 0),
                coalesce(bool_or(a.status = 'in_progress'), false)
           FROM quizzes z LEFT JOIN quiz_attempts a ON a.quiz_id = z.id AND a.user_id = $2
          WHERE z.id = $1
          GROUP BY z.id",
    )
    .bind(quiz_id)
    .bind(me.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if !student {
        // Observers see the course but do not take its quizzes.
        return Err(ApiError::Forbidden);
    }
    if in_progress {
        return Err(attempt_in_progress());
    }
    if used >= i64::from(allowed) {
        return Err(ApiError::conflict(
            "attempts_exhausted",
            format!("this quiz allows {allowed} attempt(s) and all have been used"),
        ));
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO quiz_attempts (tenant_id, quiz_id, user_id, attempt_number)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
    )
    .bind(quiz_id)
    .bind(me.user_id)
    .bind(last + 1)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        // A concurrent start won the race (one in progress; attempt numbers are unique).
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => attempt_in_progress(),
        _ => ApiError::from(e),
    })?;
    let attempt = detail(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(attempt)))
}

fn attempt_in_progress() -> ApiError {
    ApiError::conflict(
        "attempt_in_progress",
        "an attempt at this quiz is already in progress; submit it first",
    )
}

/// Query parameters of the attempt list.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AttemptListParams {
    #[serde(flatten)]
    pub page: PageParams,
    /// Only this student's attempts.
    pub user_id: Option<i64>,
}

/// `GET /api/v1/quizzes/{id}/attempts`: by student, then attempt.
pub async fn list(
    TenantScope { me, db }: TenantScope,
    ApiPath(quiz_id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<AttemptListParams>,
) -> ApiResult<Json<Page<AttemptView>>> {
    let page = &params.page;
    let limit = page.limit()?;
    let after: Option<(i64, i64)> = page.after()?;
    let viewer = Viewer::new(&me);
    let mut tx = db.begin().await?;
    let role = visible_quiz(&mut tx, &viewer, quiz_id).await?;
    grading::close(
        &mut tx,
        Closing::OverdueAt {
            quiz_id,
            user_id: None,
        },
    )
    .await?;
    // Staff see every attempt; others their own and their linked students'.
    let restricted_to = (!role.is_staff()).then_some(viewer.user_id);
    let rows: Vec<AttemptView> = sqlx::query_as(&format!(
        "SELECT {ATTEMPT_COLUMNS} {ATTEMPT_FROM}
          WHERE a.quiz_id = $1
            AND ($2::bigint IS NULL OR a.user_id = $2
                 OR a.user_id IN (SELECT g.student_id FROM guardian_links g WHERE g.guardian_id = $2))
            AND ($3::bigint IS NULL OR a.user_id = $3)
            AND ($4::bigint IS NULL OR (a.user_id, a.id) > ($4, $5))
          ORDER BY a.user_id, a.id LIMIT $6"
    ))
    .bind(quiz_id)
    .bind(restricted_to)
    .bind(params.user_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Json(Page::from_rows(rows, limit, |a| (a.user_id, a.id))))
}

/// `GET /api/v1/attempts/{id}`
pub async fn show(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AttemptDetail>> {
    let mut tx = db.begin().await?;
    visible_attempt(&mut tx, &Viewer::new(&me), id).await?;
    grading::close(&mut tx, Closing::IfOverdue(id)).await?;
    let attempt = detail(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(attempt))
}

/// One answer to save.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// A question on the attempt's quiz.
    pub question_id: i64,
    /// Multiple choice: a choice id (`"a"`); true/false: `true`/`false`; short answer and
    /// essay: a string.
    pub answer: Value,
}

/// Body of `PUT /api/v1/attempts/{id}/answers`: answers replace earlier answers to the
/// same questions; questions not mentioned keep theirs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAnswers {
    /// 1 to 500 answers, each question at most once.
    pub answers: Vec<AnswerInput>,
}

/// `PUT /api/v1/attempts/{id}/answers`
pub async fn save_answers(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SaveAnswers>,
) -> ApiResult<Json<AttemptDetail>> {
    if body.answers.is_empty() || body.answers.len() > MAX_ANSWERS_PER_REQUEST {
        return Err(ApiError::invalid(
            "answers",
            format!("must hold 1 to {MAX_ANSWERS_PER_REQUEST} answers"),
        ));
    }
    let mut ids: Vec<i64> = body.answers.iter().map(|a| a.question_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != body.answers.len() {
        return Err(ApiError::invalid(
            "answers",
            "answer each question at most once",
        ));
    }
    let tx = db.begin().await?;
    let (mut tx, quiz_id) = lock_open_attempt(tx, &Viewer::new(&me), id).await?;
    let questions: Vec<(i64, String, sqlx::types::Json<Vec<Choice>>)> = sqlx::query_as(
        "SELECT q.id, q.type, q.choices FROM quiz_items i JOIN questions q ON q.id = i.question_id
          WHERE i.quiz_id = $1 AND q.id = ANY($2)",
    )
    .bind(quiz_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    for a in &body.answers {
        let Some((_, kind, choices)) = questions.iter().find(|q| q.0 == a.question_id) else {
            return Err(ApiError::invalid(
                "answers",
                format!("question {} is not on this quiz", a.question_id),
            ));
        };
        check_answer(QuestionType::parse(kind)?, choices, &a.answer).map_err(|reason| {
            ApiError::invalid(
                "answers",
                format!("question {}: the answer {reason}", a.question_id),
            )
        })?;
    }
    let answers: Vec<Value> = body.answers.iter().map(|a| a.answer.clone()).collect();
    let question_ids: Vec<i64> = body.answers.iter().map(|a| a.question_id).collect();
    sqlx::query(
        "INSERT INTO attempt_answers (tenant_id, quiz_attempt_id, question_id, answer)
         SELECT current_tenant_id(), $1, x.question_id, x.answer
           FROM unnest($2::bigint[], $3::jsonb[]) AS x(question_id, answer)
         ON CONFLICT (tenant_id, quiz_attempt_id, question_id)
         DO UPDATE SET answer = EXCLUDED.answer",
    )
    .bind(id)
    .bind(&question_ids)
    .bind(&answers)
    .execute(&mut *tx)
    .await?;
    let attempt = detail(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(attempt))
}

/// `POST /api/v1/attempts/{id}/submit`: closes the attempt now and grades it.
pub async fn submit(
    TenantScope { me, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<AttemptDetail>> {
    let tx = db.begin().await?;
    let (mut tx, _) = lock_open_attempt(tx, &Viewer::new(&me), id).await?;
    grading::close(&mut tx, Closing::Submit(id)).await?;
    let attempt = detail(&mut tx, id).await?;
    tx.commit().await?;
    Ok(Json(attempt))
}
