//! Question banks, quizzes and attempts through the API as each role: visibility, the
//! business rules of spec 02 (attempts allowed, immutability, time limits), auto-grading,
//! item order, and the counters.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp, TestUser};

/// A school plus a bank of four questions (one per type).
struct Quizzing {
    s: School,
    bank: i64,
    /// Multiple choice, correct answer "b", 2 points.
    mc: i64,
    /// True/false, correct answer true.
    tf: i64,
    /// Essay, no key.
    essay: i64,
}

fn id(body: &Value) -> i64 {
    body["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {body}"))
}

fn created(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 201, "creating {what}: {body}");
    body
}

fn ok(what: &str, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{what}: {body}");
    body
}

fn ids(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(id)
        .collect()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.request(Method::DELETE, path, Actor::Token(token), None)
        .await
}

async fn setup(app: &TestApp, slug: &str) -> Quizzing {
    let s = School::build(app, slug).await;
    let bank = id(&created(
        "bank",
        app.post(
            "/api/v1/question_banks",
            &s.teacher.token,
            json!({"title": "Cells", "subject": "Biology", "grade_level": "7"}),
        )
        .await,
    ));
    let questions = format!("/api/v1/question_banks/{bank}/questions");
    let mc = id(&created(
        "mc",
        app.post(
            &questions,
            &s.teacher.token,
            json!({"type": "multiple_choice", "prompt": "Powerhouse of the cell?",
                   "choices": [{"id": "a", "text": "Nucleus"}, {"id": "b", "text": "Mitochondrion"}],
                   "correct_answer": "b", "points": 2}),
        )
        .await,
    ));
    let tf = id(&created(
        "tf",
        app.post(
            &questions,
            &s.teacher.token,
            json!({"type": "true_false", "prompt": "Plant cells have walls.", "correct_answer": true}),
        )
        .await,
    ));
    let essay = id(&created(
        "essay",
        app.post(
            &questions,
            &s.teacher.token,
            json!({"type": "essay", "prompt": "Describe osmosis."}),
        )
        .await,
    ));
    Quizzing {
        s,
        bank,
        mc,
        tf,
        essay,
    }
}

/// A quiz in the school's course asking `questions` (in order), published if asked.
async fn quiz(
    app: &TestApp,
    q: &Quizzing,
    settings: Value,
    questions: &[i64],
    publish: bool,
) -> i64 {
    let mut body = json!({"title": "Quiz"});
    body.as_object_mut()
        .unwrap()
        .extend(settings.as_object().unwrap().clone());
    let quiz = id(&created(
        "quiz",
        app.post(
            &format!("/api/v1/courses/{}/quizzes", q.s.course_id),
            &q.s.teacher.token,
            body,
        )
        .await,
    ));
    for question in questions {
        created(
            "item",
            app.post(
                &format!("/api/v1/quizzes/{quiz}/items"),
                &q.s.teacher.token,
                json!({"question_id": question}),
            )
            .await,
        );
    }
    if publish {
        ok(
            "publish",
            app.post(
                &format!("/api/v1/quizzes/{quiz}/publish"),
                &q.s.teacher.token,
                json!({}),
            )
            .await,
        );
    }
    quiz
}

async fn start(app: &TestApp, quiz: i64, student: &TestUser) -> (u16, Value) {
    app.post(
        &format!("/api/v1/quizzes/{quiz}/attempts"),
        &student.token,
        json!({}),
    )
    .await
}

async fn answer(app: &TestApp, attempt: i64, token: &str, answers: Value) -> (u16, Value) {
    app.put(
        &format!("/api/v1/attempts/{attempt}/answers"),
        token,
        json!({ "answers": answers }),
    )
    .await
}

async fn submit(app: &TestApp, attempt: i64, token: &str) -> (u16, Value) {
    app.post(
        &format!("/api/v1/attempts/{attempt}/submit"),
        token,
        json!({}),
    )
    .await
}

/// Every counter this feature touches equals COUNT(*).
async fn assert_counters_exact(app: &TestApp, tenant: i64) {
    let mut tx = app.tenant_tx(tenant).await;
    let (banks, quizzes, courses): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM question_banks b
                  WHERE questions_count <> (SELECT count(*) FROM questions q WHERE q.question_bank_id = b.id)),
                (SELECT count(*) FROM quizzes z
                  WHERE attempts_count <> (SELECT count(*) FROM quiz_attempts a WHERE a.quiz_id = z.id)),
                (SELECT count(*) FROM courses c
                  WHERE quizzes_count <> (SELECT count(*) FROM quizzes z WHERE z.course_id = c.id))",
    )
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(
        (banks, quizzes, courses),
        (0, 0, 0),
        "counters that differ from COUNT(*)"
    );
}

#[tokio::test]
async fn question_banks_are_staff_tools_and_validate_each_question_type() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let s = &q.s;
    let bank = format!("/api/v1/question_banks/{}", q.bank);
    let questions = format!("{bank}/questions");

    for (who, token, status) in [
        ("admin", &s.admin.token, 200),
        ("teacher", &s.teacher.token, 200),
        ("other teacher", &s.other_teacher.token, 200),
        ("student", &s.student.token, 403),
        ("guardian", &s.guardian.token, 403),
        ("other tenant admin", &other.admin.token, 404),
    ] {
        assert_eq!(app.get(&bank, token).await.0, status, "{who}: {bank}");
        assert_eq!(
            app.get(&questions, token).await.0,
            status,
            "{who}: {questions}"
        );
    }
    assert_eq!(
        app.get("/api/v1/question_banks", &s.student.token).await.0,
        403
    );
    assert!(!ids(&app
        .get("/api/v1/question_banks", &other.admin.token)
        .await
        .1)
    .contains(&q.bank));
    let (_, page) = app.get(&questions, &s.teacher.token).await;
    assert_eq!(ids(&page), [q.mc, q.tf, q.essay], "by position");
    assert_eq!(page["data"][0]["correct_answer"], "b");
    assert_eq!(page["data"][0]["points"], 2.0);
    assert_eq!(page["data"][1]["correct_answer"], true);
    assert_eq!(page["data"][2]["correct_answer"], Value::Null);
    let (_, b) = app.get(&bank, &s.teacher.token).await;
    assert_eq!(b["questions_count"], 3);

    let invalid = [
        json!({"type": "multiple_choice", "prompt": "One choice", "choices": [{"id": "a", "text": "A"}], "correct_answer": "a"}),
        json!({"type": "multiple_choice", "prompt": "Key not a choice", "choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct_answer": "c"}),
        json!({"type": "multiple_choice", "prompt": "No key", "choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}]}),
        json!({"type": "multiple_choice", "prompt": "Twice", "choices": [{"id": "a", "text": "A"}, {"id": "a", "text": "B"}], "correct_answer": "a"}),
        json!({"type": "true_false", "prompt": "String key", "correct_answer": "true"}),
        json!({"type": "true_false", "prompt": "Choices", "choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}], "correct_answer": true}),
        json!({"type": "essay", "prompt": "Numeric key", "correct_answer": 4}),
        json!({"type": "matching", "prompt": "Unknown type"}),
        json!({"type": "essay", "prompt": ""}),
        json!({"type": "essay", "prompt": "Negative", "points": -1}),
    ];
    for body in invalid {
        let (st, err) = app.post(&questions, &s.teacher.token, body.clone()).await;
        assert_eq!(st, 422, "{body} -> {err}");
        assert_eq!(err["error"]["code"], "validation_failed");
    }
    let (st, _) = app
        .post(
            &questions,
            &s.teacher.token,
            json!({"type": "short_answer", "prompt": "Name an organelle.", "correct_answer": "ribosome"}),
        )
        .await;
    assert_eq!(st, 201);
    // Students and guardians may not write; another school cannot reach the bank.
    for token in [&s.student.token, &s.guardian.token] {
        let (st, _) = app
            .post(&questions, token, json!({"type": "essay", "prompt": "x"}))
            .await;
        assert_eq!(st, 403);
    }
    let (st, _) = app
        .post(
            &questions,
            &other.admin.token,
            json!({"type": "essay", "prompt": "x"}),
        )
        .await;
    assert_eq!(st, 404);

    // Updates are validated as a whole.
    let mc = format!("/api/v1/questions/{}", q.mc);
    let (st, _) = app
        .put(&mc, &s.teacher.token, json!({"correct_answer": "z"}))
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .put(&mc, &s.teacher.token, json!({"type": "true_false"}))
        .await;
    assert_eq!(st, 422, "choices must go when the type changes");
    let updated = ok(
        "update",
        app.put(
            &mc,
            &s.teacher.token,
            json!({"correct_answer": "a", "prompt": "Holds the DNA?"}),
        )
        .await,
    );
    assert_eq!(updated["correct_answer"], "a");
    assert_eq!(updated["prompt"], "Holds the DNA?");
    let updated = ok(
        "type change",
        app.put(
            &format!("/api/v1/questions/{}", q.essay),
            &s.teacher.token,
            json!({"type": "true_false", "correct_answer": false}),
        )
        .await,
    );
    assert_eq!(updated["type"], "true_false");
    assert_eq!(
        app.put(&mc, &other.admin.token, json!({"prompt": "x"}))
            .await
            .0,
        404
    );

    // A question a quiz uses cannot be deleted; once removed from the quiz it can.
    let quiz_id = quiz(&app, &q, json!({}), &[q.tf], false).await;
    let tf = format!("/api/v1/questions/{}", q.tf);
    let (st, err) = delete(&app, &tf, &s.teacher.token).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("question_in_use"))
    );
    let (_, items) = app
        .get(
            &format!("/api/v1/quizzes/{quiz_id}/items"),
            &s.teacher.token,
        )
        .await;
    let item = ids(&items)[0];
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/quizzes/{quiz_id}/items/{item}"),
            &s.teacher.token
        )
        .await
        .0,
        204
    );
    assert_eq!(delete(&app, &tf, &other.admin.token).await.0, 404);
    assert_eq!(delete(&app, &tf, &s.student.token).await.0, 403);
    assert_eq!(delete(&app, &tf, &s.teacher.token).await.0, 204);
    let (_, b) = app.get(&bank, &s.teacher.token).await;
    assert_eq!(b["questions_count"], 3);
    assert_counters_exact(&app, s.tenant_id).await;
}

#[tokio::test]
async fn each_role_sees_quizzes_as_the_visibility_rules_say() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let s = &q.s;
    let draft = quiz(&app, &q, json!({"title": "Draft"}), &[q.mc], false).await;
    let published = quiz(
        &app,
        &q,
        json!({"title": "Live", "attempts_allowed": 3}),
        &[q.mc, q.tf],
        true,
    )
    .await;
    let list = format!("/api/v1/courses/{}/quizzes", s.course_id);

    for (who, token, sees_course, staff) in [
        ("admin", &s.admin.token, true, true),
        ("teacher", &s.teacher.token, true, true),
        ("other teacher", &s.other_teacher.token, false, false),
        ("student", &s.student.token, true, false),
        ("outsider", &s.outsider.token, false, false),
        ("guardian", &s.guardian.token, true, false),
        ("other tenant admin", &other.admin.token, false, false),
    ] {
        let (st, page) = app.get(&list, token).await;
        if sees_course {
            assert_eq!(st, 200, "{who}: {page}");
            let expected = if staff {
                vec![draft, published]
            } else {
                vec![published]
            };
            assert_eq!(ids(&page), expected, "{who}");
        } else {
            assert_eq!(st, 404, "{who}: {page}");
        }
        let draft_status = app.get(&format!("/api/v1/quizzes/{draft}"), token).await.0;
        assert_eq!(draft_status, if staff { 200 } else { 404 }, "{who}: draft");
        let live_status = app
            .get(&format!("/api/v1/quizzes/{published}"), token)
            .await
            .0;
        assert_eq!(
            live_status,
            if sees_course { 200 } else { 404 },
            "{who}: live"
        );
    }

    // Only the course's staff manage; students who see the quiz get 403, others 404.
    let put = format!("/api/v1/quizzes/{published}");
    for (token, status) in [
        (&s.teacher.token, 200),
        (&s.admin.token, 200),
        (&s.student.token, 403),
        (&s.guardian.token, 403),
        (&s.other_teacher.token, 404),
        (&other.admin.token, 404),
    ] {
        assert_eq!(
            app.put(&put, token, json!({"instructions": "Read twice."}))
                .await
                .0,
            status
        );
    }
    let (st, _) = app
        .post(&list, &s.other_teacher.token, json!({"title": "Mine"}))
        .await;
    assert_eq!(st, 404);
    let (st, _) = app
        .post(&list, &s.student.token, json!({"title": "Mine"}))
        .await;
    assert_eq!(st, 403);

    // Items: answer keys for staff only; learners only once they have started.
    let items = format!("/api/v1/quizzes/{published}/items");
    let (_, staff_items) = app.get(&items, &s.teacher.token).await;
    assert_eq!(staff_items["data"][0]["correct_answer"], "b");
    let (st, err) = app.get(&items, &s.student.token).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("attempt_not_started"))
    );
    assert_eq!(app.get(&items, &s.guardian.token).await.0, 409);
    assert_eq!(app.get(&items, &s.outsider.token).await.0, 404);
    assert_eq!(app.get(&items, &other.admin.token).await.0, 404);
    assert_eq!(
        app.get(&format!("/api/v1/quizzes/{draft}/items"), &s.student.token)
            .await
            .0,
        404
    );
    let attempt = id(&created(
        "attempt",
        start(&app, published, &s.student).await,
    ));
    for token in [&s.student.token, &s.guardian.token] {
        let (st, page) = app.get(&items, token).await;
        assert_eq!(st, 200, "{page}");
        for item in page["data"].as_array().unwrap() {
            assert!(
                item.get("correct_answer").is_none(),
                "a learner saw an answer key: {item}"
            );
            assert!(item["prompt"].is_string());
        }
        assert_eq!(page["data"][0]["choices"][1]["text"], "Mitochondrion");
    }

    // Attempts: the student and their guardian see theirs; outsiders and other schools
    // see nothing; only the student may change it.
    let classmate = app
        .create_user("alpha", "classmate", &["student"], false)
        .await;
    created(
        "enrollment",
        app.post(
            &format!("/api/v1/sections/{}/enrollments", s.section_id),
            &s.teacher.token,
            json!({"user_ids": [classmate.id], "role": "student"}),
        )
        .await,
    );
    let theirs = id(&created("theirs", start(&app, published, &classmate).await));
    let attempts = format!("/api/v1/quizzes/{published}/attempts");
    for (who, token, expected) in [
        ("teacher", &s.teacher.token, vec![attempt, theirs]),
        ("admin", &s.admin.token, vec![attempt, theirs]),
        ("student", &s.student.token, vec![attempt]),
        ("guardian", &s.guardian.token, vec![attempt]),
        ("classmate", &classmate.token, vec![theirs]),
    ] {
        let (st, page) = app.get(&attempts, token).await;
        assert_eq!(st, 200, "{who}: {page}");
        let mut got = ids(&page);
        got.sort_unstable();
        assert_eq!(got, expected, "{who}");
    }
    for token in [
        &s.outsider.token,
        &s.other_teacher.token,
        &other.admin.token,
    ] {
        assert_eq!(app.get(&attempts, token).await.0, 404);
    }
    let mine = format!("/api/v1/attempts/{attempt}");
    for (who, token, status) in [
        ("student", &s.student.token, 200),
        ("guardian", &s.guardian.token, 200),
        ("teacher", &s.teacher.token, 200),
        ("admin", &s.admin.token, 200),
        ("classmate", &classmate.token, 404),
        ("outsider", &s.outsider.token, 404),
        ("other teacher", &s.other_teacher.token, 404),
        ("other tenant admin", &other.admin.token, 404),
    ] {
        assert_eq!(app.get(&mine, token).await.0, status, "{who}");
    }
    let answers = json!([{"question_id": q.mc, "answer": "b"}]);
    for (who, token, status) in [
        ("guardian", &s.guardian.token, 403),
        ("teacher", &s.teacher.token, 403),
        ("admin", &s.admin.token, 403),
        ("classmate", &classmate.token, 404),
        ("other tenant admin", &other.admin.token, 404),
    ] {
        assert_eq!(
            answer(&app, attempt, token, answers.clone()).await.0,
            status,
            "{who} answering"
        );
        assert_eq!(
            submit(&app, attempt, token).await.0,
            status,
            "{who} submitting"
        );
    }
    // Guardians read only; staff and outsiders cannot start attempts.
    assert_eq!(start(&app, published, &s.guardian).await.0, 403);
    assert_eq!(start(&app, published, &s.teacher).await.0, 403);
    assert_eq!(start(&app, published, &s.admin).await.0, 403);
    assert_eq!(start(&app, published, &s.outsider).await.0, 404);
    assert_eq!(start(&app, draft, &s.student).await.0, 404);
    assert_eq!(start(&app, published, &other.admin).await.0, 404);
    assert_counters_exact(&app, s.tenant_id).await;
}

#[tokio::test]
async fn another_tenants_quiz_records_answer_404() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let quiz_id = quiz(&app, &q, json!({}), &[q.mc], true).await;
    let attempt = id(&created(
        "attempt",
        start(&app, quiz_id, &q.s.student).await,
    ));
    let (_, items) = app
        .get(
            &format!("/api/v1/quizzes/{quiz_id}/items"),
            &q.s.teacher.token,
        )
        .await;
    let item = ids(&items)[0];
    let reads = [
        format!("/api/v1/question_banks/{}", q.bank),
        format!("/api/v1/question_banks/{}/questions", q.bank),
        format!("/api/v1/courses/{}/quizzes", q.s.course_id),
        format!("/api/v1/quizzes/{quiz_id}"),
        format!("/api/v1/quizzes/{quiz_id}/items"),
        format!("/api/v1/quizzes/{quiz_id}/attempts"),
        format!("/api/v1/attempts/{attempt}"),
    ];
    for path in &reads {
        for token in [&other.admin.token, &other.teacher.token] {
            let (st, body) = app.get(path, token).await;
            assert_eq!(
                (st, body["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{path}"
            );
        }
    }
    let t = &other.admin.token;
    let writes = [
        (
            Method::POST,
            format!("/api/v1/question_banks/{}/questions", q.bank),
            json!({"type": "essay", "prompt": "x"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/questions/{}", q.mc),
            json!({"prompt": "x"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/questions/{}", q.essay),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/courses/{}/quizzes", q.s.course_id),
            json!({"title": "x"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/quizzes/{quiz_id}"),
            json!({"title": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/quizzes/{quiz_id}/publish"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/quizzes/{quiz_id}/items"),
            json!({"question_id": q.tf}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/quizzes/{quiz_id}/items/{item}"),
            Value::Null,
        ),
        (
            Method::PUT,
            format!("/api/v1/quizzes/{quiz_id}/items/order"),
            json!({"item_ids": [item]}),
        ),
        (
            Method::POST,
            format!("/api/v1/quizzes/{quiz_id}/attempts"),
            json!({}),
        ),
        (
            Method::PUT,
            format!("/api/v1/attempts/{attempt}/answers"),
            json!({"answers": [{"question_id": q.mc, "answer": "b"}]}),
        ),
        (
            Method::POST,
            format!("/api/v1/attempts/{attempt}/submit"),
            json!({}),
        ),
    ];
    for (method, path, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let (st, res) = app
            .request(method.clone(), &path, Actor::Token(t), body)
            .await;
        assert_eq!(st, 404, "{method} {path}: {res}");
    }
    // And the other school's question cannot be put on this school's quiz.
    let their_bank = id(&created(
        "their bank",
        app.post("/api/v1/question_banks", t, json!({"title": "Theirs"}))
            .await,
    ));
    let theirs = id(&created(
        "their question",
        app.post(
            &format!("/api/v1/question_banks/{their_bank}/questions"),
            t,
            json!({"type": "true_false", "prompt": "x", "correct_answer": true}),
        )
        .await,
    ));
    let draft = quiz(&app, &q, json!({}), &[], false).await;
    let (st, _) = app
        .post(
            &format!("/api/v1/quizzes/{draft}/items"),
            &q.s.teacher.token,
            json!({"question_id": theirs}),
        )
        .await;
    assert_eq!(st, 422);
}

#[tokio::test]
async fn items_are_added_at_a_position_removed_and_reordered_in_one_go() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let t = &q.s.teacher.token;
    let quiz_id = quiz(&app, &q, json!({}), &[q.mc, q.tf], false).await;
    let items = format!("/api/v1/quizzes/{quiz_id}/items");

    // Publishing needs items.
    let empty = quiz(&app, &q, json!({}), &[], false).await;
    let (st, err) = app
        .post(&format!("/api/v1/quizzes/{empty}/publish"), t, json!({}))
        .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("quiz_empty"))
    );

    let essay_item = created(
        "essay first",
        app.post(
            &items,
            t,
            json!({"question_id": q.essay, "position": 1, "points": 5}),
        )
        .await,
    );
    assert_eq!(essay_item["position"], 1);
    assert_eq!(essay_item["points"], 5.0);
    let (_, page) = app.get(&items, t).await;
    let questions: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["question_id"].as_i64().unwrap())
        .collect();
    assert_eq!(questions, [q.essay, q.mc, q.tf]);
    let positions: Vec<i64> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3]);
    assert_eq!(
        page["data"][1]["points"], 2.0,
        "the question's points by default"
    );
    let (st, err) = app.post(&items, t, json!({"question_id": q.mc})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    let item_ids = ids(&page);
    let (essay, mc, tf) = (item_ids[0], item_ids[1], item_ids[2]);

    // Pagination walks the items in order.
    let (_, first) = app.get(&format!("{items}?limit=2"), t).await;
    assert_eq!(ids(&first), [essay, mc]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("{items}?limit=2&cursor={cursor}"), t)
        .await;
    assert_eq!(ids(&second), [tf]);
    assert!(second["next_cursor"].is_null());

    let order = format!("{items}/order");
    for bad in [
        json!([tf, mc]),
        json!([tf, mc, essay, essay]),
        json!([tf, mc, essay + 1000]),
        json!([]),
    ] {
        let (st, _) = app.put(&order, t, json!({ "item_ids": bad })).await;
        assert_eq!(st, 422, "{bad}");
    }
    let (st, reordered) = app
        .put(&order, t, json!({"item_ids": [tf, essay, mc]}))
        .await;
    assert_eq!(st, 200, "{reordered}");
    let got: Vec<(i64, i64)> = reordered
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (id(i), i["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [(tf, 1), (essay, 2), (mc, 3)]);
    assert_eq!(
        app.put(
            &order,
            &q.s.student.token,
            json!({"item_ids": [tf, essay, mc]})
        )
        .await
        .0,
        403
    );

    // Removing an item closes the gap.
    assert_eq!(delete(&app, &format!("{items}/{essay}"), t).await.0, 204);
    assert_eq!(delete(&app, &format!("{items}/{essay}"), t).await.0, 404);
    let (_, page) = app.get(&items, t).await;
    let got: Vec<(i64, i64)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (id(i), i["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, [(tf, 1), (mc, 2)]);
    let (_, shown) = app.get(&format!("/api/v1/quizzes/{quiz_id}"), t).await;
    assert_eq!(shown["items_count"], 2);
    assert_eq!(shown["points_possible"], 3.0);

    // Once students have attempted it, items can be reordered but not added or removed.
    ok(
        "publish",
        app.post(&format!("/api/v1/quizzes/{quiz_id}/publish"), t, json!({}))
            .await,
    );
    created("attempt", start(&app, quiz_id, &q.s.student).await);
    let (st, err) = app.post(&items, t, json!({"question_id": q.essay})).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("quiz_has_attempts"))
    );
    assert_eq!(delete(&app, &format!("{items}/{mc}"), t).await.0, 409);
    assert_eq!(
        app.put(&order, t, json!({"item_ids": [mc, tf]})).await.0,
        200
    );
}

#[tokio::test]
async fn submitting_auto_grades_multiple_choice_and_true_false() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let s = &q.s;
    let auto = quiz(&app, &q, json!({}), &[q.mc, q.tf], true).await;
    let attempt = created("attempt", start(&app, auto, &s.student).await);
    assert_eq!(attempt["status"], "in_progress");
    assert_eq!(attempt["attempt_number"], 1);
    assert_eq!(attempt["points_possible"], 3.0);
    assert!(attempt["deadline_at"].is_null());
    let a = id(&attempt);

    // Answers are checked against the quiz and the question types.
    for bad in [
        json!([{"question_id": q.essay, "answer": "not on this quiz"}]),
        json!([{"question_id": q.mc, "answer": "z"}]),
        json!([{"question_id": q.tf, "answer": "yes"}]),
        json!([{"question_id": q.tf, "answer": null}]),
        json!([{"question_id": q.tf, "answer": true}, {"question_id": q.tf, "answer": false}]),
        json!([]),
    ] {
        let (st, err) = answer(&app, a, &s.student.token, bad.clone()).await;
        assert_eq!(st, 422, "{bad}: {err}");
    }
    // Upsert: the second answer to a question replaces the first.
    ok(
        "answer",
        answer(
            &app,
            a,
            &s.student.token,
            json!([{"question_id": q.mc, "answer": "a"}, {"question_id": q.tf, "answer": false}]),
        )
        .await,
    );
    let saved = ok(
        "answer again",
        answer(
            &app,
            a,
            &s.student.token,
            json!([{"question_id": q.mc, "answer": "b"}]),
        )
        .await,
    );
    assert_eq!(saved["answers"].as_array().unwrap().len(), 2);
    assert_eq!(saved["answers"][0]["answer"], "b");
    assert!(saved["answers"][0]["correct"].is_null(), "not graded yet");

    let graded = ok("submit", submit(&app, a, &s.student.token).await);
    assert_eq!(graded["status"], "graded");
    assert_eq!(graded["score"], 2.0);
    assert_eq!(graded["percentage"], 66.67);
    assert!(graded["submitted_at"].is_string());
    assert_eq!(
        graded["answers"],
        json!([
            {"question_id": q.mc, "answer": "b", "correct": true, "points_awarded": 2.0},
            {"question_id": q.tf, "answer": false, "correct": false, "points_awarded": 0.0},
        ])
    );
    for key in ["correct_answer", "choices"] {
        assert!(
            !graded.to_string().contains(key),
            "the attempt leaks {key}: {graded}"
        );
    }

    // A quiz with an essay waits for a person: submitted, auto part scored, no percentage.
    let mixed = quiz(&app, &q, json!({}), &[q.tf, q.essay], true).await;
    let m = id(&created("mixed", start(&app, mixed, &s.student).await));
    ok(
        "mixed answers",
        answer(
            &app,
            m,
            &s.student.token,
            json!([{"question_id": q.tf, "answer": true}, {"question_id": q.essay, "answer": "Water moves."}]),
        )
        .await,
    );
    let submitted = ok("submit mixed", submit(&app, m, &s.student.token).await);
    assert_eq!(submitted["status"], "submitted");
    assert_eq!(submitted["score"], 1.0);
    assert!(submitted["percentage"].is_null());
    assert!(
        submitted["answers"][1]["correct"].is_null(),
        "essays are not auto-graded"
    );

    // Unanswered items earn nothing.
    let blank = quiz(&app, &q, json!({}), &[q.mc, q.tf], true).await;
    let b = id(&created("blank", start(&app, blank, &s.student).await));
    let graded = ok("submit blank", submit(&app, b, &s.student.token).await);
    assert_eq!(
        (
            graded["status"].as_str(),
            graded["score"].as_f64(),
            graded["percentage"].as_f64()
        ),
        (Some("graded"), Some(0.0), Some(0.0))
    );
}

#[tokio::test]
async fn attempts_beyond_attempts_allowed_and_concurrent_attempts_are_refused() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let s = &q.s;
    let quiz_id = quiz(&app, &q, json!({"attempts_allowed": 2}), &[q.tf], true).await;

    let first = id(&created("first", start(&app, quiz_id, &s.student).await));
    let (st, err) = start(&app, quiz_id, &s.student).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("attempt_in_progress")),
        "one attempt in progress at a time"
    );
    ok("submit", submit(&app, first, &s.student.token).await);
    let second = created("second", start(&app, quiz_id, &s.student).await);
    assert_eq!(second["attempt_number"], 2);
    ok("submit", submit(&app, id(&second), &s.student.token).await);
    let (st, err) = start(&app, quiz_id, &s.student).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("attempts_exhausted"))
    );
    // Raising the allowance lets the student try again.
    ok(
        "raise",
        app.put(
            &format!("/api/v1/quizzes/{quiz_id}"),
            &s.teacher.token,
            json!({"attempts_allowed": 3}),
        )
        .await,
    );
    let third = created("third", start(&app, quiz_id, &s.student).await);
    assert_eq!(third["attempt_number"], 3);
    let (_, shown) = app
        .get(&format!("/api/v1/quizzes/{quiz_id}"), &s.teacher.token)
        .await;
    assert_eq!(shown["attempts_count"], 3);
    assert_counters_exact(&app, s.tenant_id).await;
}

#[tokio::test]
async fn a_submitted_attempt_is_immutable() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let s = &q.s;
    let quiz_id = quiz(&app, &q, json!({"attempts_allowed": 2}), &[q.mc], true).await;
    let a = id(&created("attempt", start(&app, quiz_id, &s.student).await));
    ok(
        "answer",
        answer(
            &app,
            a,
            &s.student.token,
            json!([{"question_id": q.mc, "answer": "a"}]),
        )
        .await,
    );
    let graded = ok("submit", submit(&app, a, &s.student.token).await);
    let (st, err) = answer(
        &app,
        a,
        &s.student.token,
        json!([{"question_id": q.mc, "answer": "b"}]),
    )
    .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("attempt_closed"))
    );
    let (st, err) = submit(&app, a, &s.student.token).await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("attempt_closed"))
    );
    let (_, after) = app
        .get(&format!("/api/v1/attempts/{a}"), &s.student.token)
        .await;
    assert_eq!(after, graded, "nothing changed");
}

#[tokio::test]
async fn an_attempt_past_its_time_limit_is_closed_at_the_limit() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let s = &q.s;
    let quiz_id = quiz(
        &app,
        &q,
        json!({"time_limit_minutes": 10, "attempts_allowed": 3}),
        &[q.mc, q.tf],
        true,
    )
    .await;
    let attempt = created("attempt", start(&app, quiz_id, &s.student).await);
    assert!(attempt["deadline_at"].is_string());
    let a = id(&attempt);
    ok(
        "answer in time",
        answer(
            &app,
            a,
            &s.student.token,
            json!([{"question_id": q.mc, "answer": "b"}]),
        )
        .await,
    );
    // Fifteen minutes pass.
    let mut tx = app.tenant_tx(s.tenant_id).await;
    sqlx::query(
        "UPDATE quiz_attempts SET started_at = started_at - interval '15 minutes' WHERE id = $1",
    )
    .bind(a)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let (st, err) = answer(
        &app,
        a,
        &s.student.token,
        json!([{"question_id": q.tf, "answer": true}]),
    )
    .await;
    assert_eq!(
        (st, err["error"]["code"].as_str()),
        (409, Some("time_limit_passed"))
    );
    let (st, _) = submit(&app, a, &s.student.token).await;
    assert_eq!(st, 409, "the attempt is closed already");
    let closed = ok(
        "show",
        app.get(&format!("/api/v1/attempts/{a}"), &s.student.token)
            .await,
    );
    assert_eq!(closed["status"], "graded");
    assert_eq!(closed["score"], 2.0, "graded with what was saved in time");
    assert_eq!(closed["percentage"], 66.67);
    assert_eq!(closed["answers"].as_array().unwrap().len(), 1);
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (at_limit,): (bool,) = sqlx::query_as(
        "SELECT submitted_at = started_at + interval '10 minutes' FROM quiz_attempts WHERE id = $1",
    )
    .bind(a)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(at_limit, "submitted_at is started_at + the limit");

    // An overdue attempt nobody touched is closed at its limit by the next start.
    let b = id(&created("second", start(&app, quiz_id, &s.student).await));
    let mut tx = app.tenant_tx(s.tenant_id).await;
    sqlx::query(
        "UPDATE quiz_attempts SET started_at = started_at - interval '1 hour' WHERE id = $1",
    )
    .bind(b)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let third = created(
        "third after overdue",
        start(&app, quiz_id, &s.student).await,
    );
    assert_eq!(third["attempt_number"], 3);
    let (_, page) = app
        .get(
            &format!("/api/v1/quizzes/{quiz_id}/attempts"),
            &s.teacher.token,
        )
        .await;
    let statuses: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["graded", "graded", "in_progress"]);
    assert_eq!(page["data"][1]["score"], 0.0);
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (at_limit,): (bool,) = sqlx::query_as(
        "SELECT submitted_at = started_at + interval '10 minutes' FROM quiz_attempts WHERE id = $1",
    )
    .bind(b)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(at_limit);
    assert_counters_exact(&app, s.tenant_id).await;
}

#[tokio::test]
async fn counters_equal_count_after_quiz_activity_and_deletes() {
    let app = TestApp::spawn().await;
    let q = setup(&app, "alpha").await;
    let s = &q.s;
    let quiz_id = quiz(&app, &q, json!({"attempts_allowed": 5}), &[q.tf], true).await;
    for _ in 0..3 {
        let a = id(&created("attempt", start(&app, quiz_id, &s.student).await));
        ok("submit", submit(&app, a, &s.student.token).await);
    }
    let bank2 = id(&created(
        "bank",
        app.post(
            "/api/v1/question_banks",
            &s.admin.token,
            json!({"title": "Second"}),
        )
        .await,
    ));
    let mut made = Vec::new();
    for i in 0..4 {
        made.push(id(&created(
            "question",
            app.post(
                &format!("/api/v1/question_banks/{bank2}/questions"),
                &s.admin.token,
                json!({"type": "short_answer", "prompt": format!("Q{i}")}),
            )
            .await,
        )));
    }
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/questions/{}", made[0]),
            &s.admin.token
        )
        .await
        .0,
        204
    );
    let (_, bank) = app
        .get(&format!("/api/v1/question_banks/{bank2}"), &s.admin.token)
        .await;
    assert_eq!(bank["questions_count"], 3);
    let (_, shown) = app
        .get(&format!("/api/v1/quizzes/{quiz_id}"), &s.teacher.token)
        .await;
    assert_eq!(shown["attempts_count"], 3);
    let (_, course) = app
        .get(
            &format!("/api/v1/courses/{}", s.course_id),
            &s.teacher.token,
        )
        .await;
    assert_eq!(course["counters"]["quizzes_count"], 1);
    assert_counters_exact(&app, s.tenant_id).await;

    // A cascading delete (the course, once archived) keeps the course-level counters exact.
    ok(
        "archive",
        app.post(
            &format!("/api/v1/courses/{}/archive", s.course_id),
            &s.admin.token,
            json!({}),
        )
        .await,
    );
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/courses/{}", s.course_id),
            &s.admin.token
        )
        .await
        .0,
        204
    );
    assert_counters_exact(&app, s.tenant_id).await;
}
