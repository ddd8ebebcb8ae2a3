//! Closing attempts and auto-grading them, set-based: one statement closes any number
//! of attempts, so closing the overdue attempts of a whole quiz costs the same as closing
//! one.
//!
//! Closing an attempt marks each saved multiple-choice or true/false answer `correct`
//! when it equals the question's `correct_answer` (JSON equality) and awards the quiz
//! item's points, or 0. The attempt's `score` is the sum of those points. When every item
//! of the quiz is auto-gradable the attempt becomes `graded` with `percentage` = score /
//! the items' total points; otherwise it is `submitted` (short answers and essays await a
//! person) with the auto-graded part in `score` and no percentage yet. Unanswered items
//! earn nothing.
//!
//! An attempt is closed at `least(now, started_at + time_limit)`: one whose time ran out
//! is closed at the limit, whenever the closing happens to run.

use crate::db::TenantTx;

/// Which in-progress attempts to close.
#[derive(Clone, Copy, Debug)]
pub enum Closing {
    /// This attempt, now (its student submits it).
    Submit(i64),
    /// This attempt, if its time limit has passed.
    IfOverdue(i64),
    /// Every attempt at this quiz whose time limit has passed (only this student's, if
    /// given).
    OverdueAt { quiz_id: i64, user_id: Option<i64> },
}

/// SQL condition: attempt `a` of quiz `z` has run out of time.
pub(crate) const OVERDUE: &str = "z.time_limit_minutes IS NOT NULL
    AND a.started_at + make_interval(mins => z.time_limit_minutes) <= now()";

/// Closes and grades the attempts `closing` names that are still in progress; answers
/// how many it closed.
pub async fn close(tx: &mut TenantTx, closing: Closing) -> Result<u64, sqlx::Error> {
    let (filter, id, user_id) = match closing {
        Closing::Submit(id) => ("a.id = $1 AND $2::bigint IS NULL".to_string(), id, None),
        Closing::IfOverdue(id) => (
            format!("a.id = $1 AND $2::bigint IS NULL AND {OVERDUE}"),
            id,
            None,
        ),
        Closing::OverdueAt { quiz_id, user_id } => (
            format!("a.quiz_id = $1 AND ($2::bigint IS NULL OR a.user_id = $2) AND {OVERDUE}"),
            quiz_id,
            user_id,
        ),
    };
    let sql = format!(
        "WITH target AS (
             SELECT a.id, a.quiz_id,
                    least(now(), a.started_at + make_interval(mins => z.time_limit_minutes)) AS closed_at
               FROM quiz_attempts a JOIN quizzes z ON z.id = a.quiz_id
              WHERE a.status = 'in_progress' AND {filter}
                FOR UPDATE OF a
         ), marks AS (
             SELECT aa.id, aa.quiz_attempt_id, aa.answer = q.correct_answer AS correct,
                    CASE WHEN aa.answer = q.correct_answer THEN qi.points ELSE 0 END AS points
               FROM target t
               JOIN attempt_answers aa ON aa.quiz_attempt_id = t.id
               JOIN quiz_items qi ON qi.quiz_id = t.quiz_id AND qi.question_id = aa.question_id
               JOIN questions q ON q.id = aa.question_id
              WHERE q.type IN ('multiple_choice', 'true_false')
         ), marked AS (
             UPDATE attempt_answers aa SET correct = m.correct, points_awarded = m.points
               FROM marks m WHERE aa.id = m.id
             RETURNING aa.id
         ), totals AS (
             SELECT t.id, t.closed_at,
                    coalesce(sum(qi.points), 0) AS possible,
                    count(qi.id) FILTER (WHERE q.type NOT IN ('multiple_choice', 'true_false')) AS open_items,
                    (SELECT coalesce(sum(m.points), 0) FROM marks m WHERE m.quiz_attempt_id = t.id) AS score
               FROM target t
               LEFT JOIN quiz_items qi ON qi.quiz_id = t.quiz_id
               LEFT JOIN questions q ON q.id = qi.question_id
              GROUP BY t.id, t.closed_at
         )
         UPDATE quiz_attempts a
            SET status = CASE WHEN tt.open_items = 0 THEN 'graded' ELSE 'submitted' END,
                submitted_at = tt.closed_at,
                score = tt.score,
                percentage = CASE WHEN tt.open_items = 0 AND tt.possible > 0
                                  THEN round(100 * tt.score / tt.possible, 2) END
           FROM totals tt
          WHERE a.id = tt.id"
    );
    let done = sqlx::query(&sql)
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}
