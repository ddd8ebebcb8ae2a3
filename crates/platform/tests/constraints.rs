//! Every unique constraint in the catalog is accounted for: a duplicate reached through
//! the API answers 409 (never a 5xx), and the constraints the API cannot reach say why.
//! A new unique constraint fails the first test until it is classified here.

use axum::response::IntoResponse;
use platform::error::ApiError;
use platform::tenancy::{self, NewSchool, Slug};
use serde_json::json;
use sqlx::{Connection, PgConnection};
use testkit::{School, TestApp};

/// How a unique constraint is met: through the API (exercised below), or not at all.
enum Reach {
    /// The API can produce a duplicate; the scenario of that name below proves a 409.
    Api(&'static str),
    /// No request can produce a duplicate, and why.
    Never(&'static str),
}

const IDENTITY: Reach = Reach::Never("contains the row's generated identity id");
const TOKEN: Reach = Reach::Never("SHA-256 of a 256-bit random token");
const QUEUE: Reach = Reach::Never("the job queue's own bookkeeping, deduplicated by its code");
const ROLES: Reach = Reach::Never("written once, when the school is created");
const NO_ROUTE: Reach = Reach::Never(
    "no API route writes it yet; `from_sqlx_error_maps_duplicates_to_409` covers the mapping",
);

fn classify(constraint: &str) -> Option<Reach> {
    if constraint.contains("_tenant_id_id_") || constraint.ends_with("_tenant_id_id_key") {
        return Some(IDENTITY);
    }
    Some(match constraint {
        "academic_years_tenant_id_name_key" => Reach::Api("academic year name"),
        "academic_years_one_current" => Reach::Api("current academic year"),
        "assignment_standards_tenant_id_assignment_id_standard_id_key" => {
            Reach::Api("assignment standard link")
        }
        "attempt_answers_tenant_id_quiz_attempt_id_question_id_key" => Reach::Never(
            "answers are upserted per question (ON CONFLICT), so a repeat replaces the answer",
        ),
        "enrollments_tenant_id_user_id_section_id_key" => Reach::Api("enrollment"),
        "guardian_links_tenant_id_guardian_id_student_id_key" => Reach::Api("guardian link"),
        "quiz_attempts_one_in_progress"
        | "quiz_attempts_tenant_id_quiz_id_user_id_attempt_number_key" => {
            Reach::Api("quiz attempt")
        }
        "quiz_items_tenant_id_quiz_id_question_id_key" => Reach::Api("quiz item"),
        "standards_tenant_id_standard_framework_id_code_key" => Reach::Api("standard code"),
        "submissions_tenant_id_assignment_id_user_id_attempt_number_key" => Reach::Never(
            "only two concurrent submissions of one student collide; that answers 409 like any duplicate",
        ),
        "user_roles_tenant_id_user_id_role_id_key" => Reach::Api("user roles"),
        "users_tenant_email_key" => Reach::Api("user email"),
        "districts_slug_key" | "tenants_slug_key" | "operators_email_key" => NO_ROUTE,
        "roles_tenant_id_name_key" | "permissions_tenant_id_role_id_resource_action_key" => ROLES,
        "sessions_token_hash_key"
        | "setup_tokens_token_hash_key"
        | "operator_sessions_token_hash_key"
        | "operator_setup_tokens_token_hash_key"
        | "api_keys_secret_sha256_key" => TOKEN,
        "job_counters_queue_kind_key"
        | "job_probes_probe_key"
        | "job_schedule_ticks_schedule_name_tick_at_key"
        | "job_schedules_name_key"
        | "jobs_unique_pending_key" => QUEUE,
        "tenant_daily_stats_key" | "course_engagement_stats_key" => Reach::Never(
            "materialized views' keys, written only by a refresh of their GROUP BY",
        ),
        "alert_configurations_system_name_key" | "alert_configurations_tenant_name_key" => {
            Reach::Api("alert rule name")
        }
        "ai_task_policies_tenant_id_task_type_key" => Reach::Api("AI task policy"),
        "ai_provider_configs_tenant_id_provider_key" => Reach::Api("AI provider config"),
        "backup_records_storage_key" => Reach::Never(
            "a key the backup service makes from the time and a random suffix",
        ),
        "db_extension_status_name_key" => {
            Reach::Never("written once, by the migration that records the extension")
        }
        "feature_flags_global_key_key" | "feature_flags_tenant_key_key" => Reach::Never(
            "every write of a flag row is an upsert ON CONFLICT on this very index",
        ),
        _ => return None,
    })
}

#[tokio::test]
async fn every_unique_constraint_is_classified() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text
           FROM pg_index i
           JOIN pg_class c ON c.oid = i.indexrelid
           JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
          WHERE n.nspname = 'public' AND i.indisunique AND NOT i.indisprimary
          ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(names.len() > 20, "expected the schema, found {names:?}");
    let unclassified: Vec<&str> = names
        .iter()
        .map(|(n,)| n.as_str())
        .filter(|n| classify(n).is_none())
        .collect();
    assert!(
        unclassified.is_empty(),
        "unique constraints without a classification in tests/constraints.rs: {unclassified:?}"
    );
    for (name,) in &names {
        match classify(name) {
            Some(Reach::Api(scenario)) => assert!(
                SCENARIOS.contains(&scenario),
                "{name}: scenario `{scenario}` is not exercised"
            ),
            Some(Reach::Never(why)) => assert!(!why.is_empty(), "{name}: say why"),
            None => {}
        }
    }
}

/// The scenarios `duplicates_through_the_api_answer_409` runs, by name.
const SCENARIOS: &[&str] = &[
    "user email",
    "user roles",
    "academic year name",
    "current academic year",
    "guardian link",
    "enrollment",
    "quiz item",
    "quiz attempt",
    "standard code",
    "assignment standard link",
    "alert rule name",
    "AI task policy",
    "AI provider config",
];

#[tokio::test]
async fn duplicates_through_the_api_answer_409() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "dup").await;
    let admin = &s.admin.token;
    let teacher = &s.teacher.token;

    // user email (case-insensitive)
    let user = json!({"email": "Twin@dup.test", "first_name": "A", "last_name": "B", "roles": ["teacher"]});
    assert_eq!(app.post("/api/v1/users", admin, user.clone()).await.0, 201);
    let again = json!({"email": "twin@DUP.test", "first_name": "A", "last_name": "B", "roles": ["teacher"]});
    let (st, body) = app.post("/api/v1/users", admin, again).await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_exists");

    // user roles: a role named twice is one role, never a 5xx
    let (st, body) = app
        .put(
            &format!("/api/v1/users/{}", s.other_teacher.id),
            admin,
            json!({"roles": ["teacher", "teacher"]}),
        )
        .await;
    assert!(st < 500, "{st} {body}");

    // academic year name, and a second current year
    let year = |name: &str, current: bool| json!({"name": name, "start_date": "2030-08-20", "end_date": "2031-06-10", "current": current});
    assert_eq!(
        app.post("/api/v1/academic_years", admin, year("2030", false))
            .await
            .0,
        201
    );
    let (st, body) = app
        .post("/api/v1/academic_years", admin, year("2030", false))
        .await;
    assert_eq!(st, 409, "{body}");
    for name in ["2031", "2032"] {
        let (st, body) = app
            .post("/api/v1/academic_years", admin, year(name, true))
            .await;
        assert!(st == 201 || st == 409, "{st} {body}");
    }

    // guardian link
    let link = json!({"guardian_id": s.guardian.id, "student_id": s.student.id});
    let (st, body) = app.post("/api/v1/guardian_links", admin, link).await;
    assert_eq!(st, 409, "the school kit links them already: {body}");

    // enrollment: enrolling an enrolled student again never fails with a 5xx
    let (st, body) = app
        .post(
            &format!("/api/v1/sections/{}/enrollments", s.section_id),
            teacher,
            json!({"user_ids": [s.student.id], "role": "student"}),
        )
        .await;
    assert!(st < 500, "{st} {body}");

    // quiz item and quiz attempt
    let (_, bank) = app
        .post(
            "/api/v1/question_banks",
            teacher,
            json!({"title": "Dup", "subject": "Math", "grade_level": "7"}),
        )
        .await;
    let (_, question) = app
        .post(
            &format!("/api/v1/question_banks/{}/questions", bank["id"]),
            teacher,
            json!({"type": "true_false", "prompt": "Two is even.", "correct_answer": true}),
        )
        .await;
    let (_, quiz) = app
        .post(
            &format!("/api/v1/courses/{}/quizzes", s.course_id),
            teacher,
            json!({"title": "Dup quiz"}),
        )
        .await;
    let items = format!("/api/v1/quizzes/{}/items", quiz["id"]);
    let item = json!({"question_id": question["id"]});
    assert_eq!(app.post(&items, teacher, item.clone()).await.0, 201);
    let (st, body) = app.post(&items, teacher, item).await;
    assert_eq!(st, 409, "{body}");
    let (st, body) = app
        .post(
            &format!("/api/v1/quizzes/{}/publish", quiz["id"]),
            teacher,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let attempts = format!("/api/v1/quizzes/{}/attempts", quiz["id"]);
    assert_eq!(
        app.post(&attempts, &s.student.token, json!({})).await.0,
        201
    );
    let (st, body) = app.post(&attempts, &s.student.token, json!({})).await;
    assert_eq!(st, 409, "{body}");

    // standard code and assignment link
    let (_, framework) = app
        .post(
            "/api/v1/standard_frameworks",
            admin,
            json!({"name": "Dup Math", "jurisdiction": "US", "subject": "Math", "version": "1"}),
        )
        .await;
    let standards = format!("/api/v1/standard_frameworks/{}/standards", framework["id"]);
    let (st, standard) = app.post(&standards, admin, json!({"code": "D.1"})).await;
    assert_eq!(st, 201, "{standard}");
    let (st, body) = app.post(&standards, admin, json!({"code": "D.1"})).await;
    assert_eq!(st, 409, "{body}");
    let links = format!("/api/v1/assignments/{}/standards", s.assignment_id);
    let link = json!({"standard_id": standard["id"]});
    assert_eq!(app.post(&links, teacher, link.clone()).await.0, 201);
    let (st, body) = app.post(&links, teacher, link).await;
    assert_eq!(st, 409, "{body}");

    // alert rule name: a school's, and a system-wide one
    let rule = json!({"name": "Backlog", "metric": "job_queue_depth", "comparison": "gt",
                      "threshold": 10, "channel": "email", "target": "ops@dup.test"});
    let path = "/api/v1/admin/alert_configurations";
    assert_eq!(app.post(path, admin, rule.clone()).await.0, 201);
    let (st, body) = app.post(path, admin, rule.clone()).await;
    assert_eq!(st, 409, "{body}");
    let op = app.create_operator("ops@dup.test").await;
    let path = "/api/v1/operator/alert_configurations";
    assert_eq!(app.post(path, &op, rule.clone()).await.0, 201);
    let (st, body) = app.post(path, &op, rule).await;
    assert_eq!(st, 409, "{body}");

    // AI task policy: every school starts with lesson_plan
    let path = "/api/v1/admin/ai/task_policies";
    let (st, body) = app
        .post(path, admin, json!({"task_type": "lesson_plan"}))
        .await;
    assert_eq!(st, 409, "{body}");
    // AI provider config: one per provider
    let path = "/api/v1/admin/ai/providers";
    let provider = json!({"provider": "demo", "default_model": "demo"});
    assert_eq!(app.post(path, admin, provider.clone()).await.0, 201);
    let (st, body) = app.post(path, admin, provider).await;
    assert_eq!(st, 409, "{body}");
}

/// The constraints no route writes yet still map to 409 when violated.
#[tokio::test]
async fn from_sqlx_error_maps_duplicates_to_409() {
    let app = TestApp::spawn().await;
    let slug = Slug::parse("twice").unwrap();
    let mut tx = app.pool().system().await.unwrap();
    tenancy::create_district(&mut tx, "Twice", &slug)
        .await
        .unwrap();
    let e = tenancy::create_district(&mut tx, "Twice", &slug)
        .await
        .unwrap_err();
    assert_eq!(ApiError::from(e).into_response().status(), 409);
    drop(tx);

    let school = NewSchool {
        district_id: None,
        name: "Twice",
        slug: &slug,
        timezone: "UTC",
        address: None,
    };
    let sys = app.pool().system().await.unwrap();
    let (tx, _) = tenancy::create_school(sys, &school).await.unwrap();
    tx.commit().await.unwrap();
    let sys = app.pool().system().await.unwrap();
    let Err(e) = tenancy::create_school(sys, &school).await else {
        panic!("a second school with the same slug was created");
    };
    assert_eq!(ApiError::from(e).into_response().status(), 409);
}

/// A reference to another school's record is a 422 naming the API field, never the
/// database's constraint name.
#[tokio::test]
async fn a_foreign_key_error_names_the_api_field() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "fk").await;
    let other = School::build(&app, "fk-other").await;
    let (st, year) = app
        .post(
            "/api/v1/academic_years",
            &other.admin.token,
            json!({"name": "2040", "start_date": "2040-08-20", "end_date": "2041-06-10"}),
        )
        .await;
    assert_eq!(st, 201, "{year}");
    let (st, term) = app
        .post(
            &format!("/api/v1/academic_years/{}/terms", year["id"]),
            &other.admin.token,
            json!({"name": "Fall", "start_date": "2040-08-20", "end_date": "2041-01-10"}),
        )
        .await;
    assert_eq!(st, 201, "{term}");
    let (st, body) = app
        .post(
            &format!("/api/v1/courses/{}/sections", s.course_id),
            &s.admin.token,
            json!({"name": "Sneaky", "term_id": term["id"]}),
        )
        .await;
    assert_eq!(st, 422, "{body}");
    assert_eq!(body["error"]["details"]["field"], "term_id", "{body}");
    assert!(
        !body.to_string().contains("fkey"),
        "no constraint name in the answer: {body}"
    );
}
