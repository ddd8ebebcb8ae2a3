//! The question bank, quiz, quiz item and attempt routes.

use axum::http::StatusCode;

use super::*;
use crate::auth::permission::{perm, Access};
use crate::http::api::{Api, Operation as Op};
use crate::http::page::{Page, PageParams};

/// Registers the question bank, quiz and attempt routes.
pub fn register(api: &mut Api) {
    use Access::Tenant;
    let (ok, created, gone) = (StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT);

    api.add(
        Op::get("/api/v1/question_banks", Tenant(perm::QUESTION_BANKS_READ))
            .summary("question banks", "The school's question banks")
            .query::<banks::BankListParams>()
            .response::<Page<banks::QuestionBankView>>(ok),
        banks::list,
    );
    api.add(
        Op::post(
            "/api/v1/question_banks",
            Tenant(perm::QUESTION_BANKS_MANAGE),
        )
        .summary("question banks", "Create a question bank")
        .request::<banks::CreateBank>()
        .response::<banks::QuestionBankView>(created),
        banks::create,
    );
    api.add(
        Op::get(
            "/api/v1/question_banks/{id}",
            Tenant(perm::QUESTION_BANKS_READ),
        )
        .summary("question banks", "One question bank")
        .response::<banks::QuestionBankView>(ok),
        banks::show,
    );
    api.add(
        Op::get(
            "/api/v1/question_banks/{id}/questions",
            Tenant(perm::QUESTION_BANKS_READ),
        )
        .summary(
            "question banks",
            "Questions of a bank, by position, with their answer keys",
        )
        .query::<PageParams>()
        .response::<Page<banks::QuestionView>>(ok),
        banks::list_questions,
    );
    api.add(
        Op::post(
            "/api/v1/question_banks/{id}/questions",
            Tenant(perm::QUESTION_BANKS_MANAGE),
        )
        .summary(
            "question banks",
            "Add a question (multiple_choice, true_false, short_answer or essay)",
        )
        .request::<banks::CreateQuestion>()
        .response::<banks::QuestionView>(created),
        banks::create_question,
    );
    api.add(
        Op::put(
            "/api/v1/questions/{id}",
            Tenant(perm::QUESTION_BANKS_MANAGE),
        )
        .summary(
            "question banks",
            "Update a question; the result is validated whole",
        )
        .request::<banks::UpdateQuestion>()
        .response::<banks::QuestionView>(ok),
        banks::update_question,
    );
    api.add(
        Op::delete(
            "/api/v1/questions/{id}",
            Tenant(perm::QUESTION_BANKS_MANAGE),
        )
        .summary(
            "question banks",
            "Delete a question; refused (409) while a quiz uses it",
        )
        .response::<()>(gone),
        banks::delete_question,
    );

    api.add(
        Op::get("/api/v1/courses/{id}/quizzes", Tenant(perm::QUIZZES_READ))
            .summary(
                "quizzes",
                "Quizzes of a course by due date (learners and guardians: published only)",
            )
            .query::<PageParams>()
            .response::<Page<quiz::QuizView>>(ok),
        quiz::list,
    );
    api.add(
        Op::post("/api/v1/courses/{id}/quizzes", Tenant(perm::QUIZZES_MANAGE))
            .summary("quizzes", "Create a draft quiz (course staff)")
            .request::<quiz::CreateQuiz>()
            .response::<quiz::QuizView>(created),
        quiz::create,
    );
    api.add(
        Op::get("/api/v1/quizzes/{id}", Tenant(perm::QUIZZES_READ))
            .summary("quizzes", "One quiz")
            .response::<quiz::QuizView>(ok),
        quiz::show,
    );
    api.add(
        Op::put("/api/v1/quizzes/{id}", Tenant(perm::QUIZZES_MANAGE))
            .summary("quizzes", "Update a quiz (course staff)")
            .request::<quiz::UpdateQuiz>()
            .response::<quiz::QuizView>(ok),
        quiz::update,
    );
    api.add(
        Op::post("/api/v1/quizzes/{id}/publish", Tenant(perm::QUIZZES_MANAGE))
            .summary("quizzes", "Publish a quiz that has at least one item")
            .response::<quiz::QuizView>(ok),
        quiz::publish,
    );
    api.add(
        Op::get("/api/v1/quizzes/{id}/items", Tenant(perm::QUIZZES_READ))
            .summary(
                "quizzes",
                "Items of a quiz in order; answer keys for staff only, learners once they started an attempt",
            )
            .query::<PageParams>()
            .response::<Page<items::QuizItemView>>(ok),
        items::list,
    );
    api.add(
        Op::post("/api/v1/quizzes/{id}/items", Tenant(perm::QUIZZES_MANAGE))
            .summary(
                "quizzes",
                "Add a question from a bank to a quiz, with points and position",
            )
            .request::<items::CreateItem>()
            .response::<items::QuizItemView>(created),
        items::create,
    );
    api.add(
        Op::delete(
            "/api/v1/quizzes/{id}/items/{item_id}",
            Tenant(perm::QUIZZES_MANAGE),
        )
        .summary(
            "quizzes",
            "Remove an item; refused (409) once the quiz has attempts",
        )
        .response::<()>(gone),
        items::delete,
    );
    api.add(
        Op::put(
            "/api/v1/quizzes/{id}/items/order",
            Tenant(perm::QUIZZES_MANAGE),
        )
        .summary(
            "quizzes",
            "Reorder the items: item_ids lists every item exactly once",
        )
        .request::<items::ReorderItems>()
        .response::<Vec<items::QuizItemView>>(ok),
        items::reorder,
    );

    api.add(
        Op::post(
            "/api/v1/quizzes/{id}/attempts",
            Tenant(perm::QUIZZES_ATTEMPT),
        )
        .summary(
            "quizzes",
            "Start an attempt (an enrolled student, within attempts_allowed, one at a time)",
        )
        .response::<attempts::AttemptDetail>(created),
        attempts::start,
    );
    api.add(
        Op::get("/api/v1/quizzes/{id}/attempts", Tenant(perm::QUIZZES_READ))
            .summary(
                "quizzes",
                "Attempts at a quiz (staff: all; students: their own; guardians: their students')",
            )
            .query::<attempts::AttemptListParams>()
            .response::<Page<attempts::AttemptView>>(ok),
        attempts::list,
    );
    api.add(
        Op::get("/api/v1/attempts/{id}", Tenant(perm::QUIZZES_READ))
            .summary("quizzes", "One attempt with its answers")
            .response::<attempts::AttemptDetail>(ok),
        attempts::show,
    );
    api.add(
        Op::put(
            "/api/v1/attempts/{id}/answers",
            Tenant(perm::QUIZZES_ATTEMPT),
        )
        .summary(
            "quizzes",
            "Save answers of an attempt in progress (its student; upsert by question)",
        )
        .request::<attempts::SaveAnswers>()
        .response::<attempts::AttemptDetail>(ok),
        attempts::save_answers,
    );
    api.add(
        Op::post(
            "/api/v1/attempts/{id}/submit",
            Tenant(perm::QUIZZES_ATTEMPT),
        )
        .summary(
            "quizzes",
            "Submit an attempt; multiple-choice and true/false answers are graded at once",
        )
        .response::<attempts::AttemptDetail>(ok),
        attempts::submit,
    );
}
