//! No N+1, proven: every list endpoint runs the same number of SQL statements for a page
//! of 1 and a page of 200 (counted per request by the service and reported in the
//! development `Server-Timing` header). Each list has at least three rows here, so a
//! query per row would show.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::json;
use testkit::{School, TestApp};

/// (path with {placeholders}, who asks, the field holding the rows, the rows needed)
const LISTS: &[(&str, &str, &str, usize)] = &[
    ("/api/v1/users", "admin", "data", 3),
    ("/api/v1/district/tenants", "district_admin", "data", 3),
    ("/api/v1/operator/tenants", "operator", "data", 3),
    ("/api/v1/courses", "admin", "data", 3),
    ("/api/v1/courses", "teacher", "data", 3),
    ("/api/v1/courses", "student", "data", 3),
    ("/api/v1/courses/{course}/sections", "teacher", "data", 3),
    (
        "/api/v1/sections/{section}/enrollments",
        "teacher",
        "data",
        3,
    ),
    ("/api/v1/courses/{course}/assignments", "teacher", "data", 3),
    ("/api/v1/courses/{course}/assignments", "student", "data", 3),
    (
        "/api/v1/assignments/{assignment}/submissions",
        "teacher",
        "data",
        3,
    ),
    ("/api/v1/courses/{course}/discussions", "student", "data", 3),
    (
        "/api/v1/discussions/{discussion}/posts",
        "student",
        "data",
        3,
    ),
    ("/api/v1/academic_years", "student", "data", 3),
    ("/api/v1/guardian_links", "admin", "data", 3),
    ("/api/v1/admin/audit_logs", "admin", "data", 3),
    ("/api/v1/operator/audit_logs", "operator", "data", 3),
    ("/api/v1/operator/jobs", "operator", "failed", 3),
    // Schedules are declared in code: every one is listed, whatever the limit.
    ("/api/v1/operator/schedules", "operator", "data", 2),
    // Question banks, quizzes, attempts, standards (rows made by `quizzes_and_standards`).
    ("/api/v1/question_banks", "teacher", "data", 3),
    (
        "/api/v1/question_banks/{bank}/questions",
        "teacher",
        "data",
        3,
    ),
    ("/api/v1/courses/{course}/quizzes", "teacher", "data", 3),
    ("/api/v1/courses/{course}/quizzes", "student", "data", 3),
    ("/api/v1/quizzes/{quiz}/items", "teacher", "data", 3),
    ("/api/v1/quizzes/{quiz}/items", "student", "data", 3),
    ("/api/v1/quizzes/{quiz}/attempts", "teacher", "data", 3),
    ("/api/v1/quizzes/{quiz}/attempts", "student", "data", 3),
    ("/api/v1/standard_frameworks", "student", "data", 3),
    (
        "/api/v1/standard_frameworks/{framework}/standards",
        "student",
        "data",
        3,
    ),
    (
        "/api/v1/assignments/{assignment}/standards",
        "student",
        "data",
        3,
    ),
];

fn statements(res: &reqwest::Response) -> u64 {
    let timing = res
        .headers()
        .get("server-timing")
        .expect("Server-Timing header in development")
        .to_str()
        .unwrap();
    timing
        .trim_start_matches("db;desc=\"")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_list_runs_the_same_statements_for_1_and_200_rows() {
    let app = TestApp::spawn().await;
    let district = app.create_district("district").await;
    let s = School::build(&app, "alpha").await;
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE tenants SET district_id = $1")
        .bind(district)
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    app.create_tenant("beta", Some(district)).await;
    app.create_tenant("gamma", Some(district)).await;
    let district_admin = app
        .create_user("alpha", "district", &["teacher"], true)
        .await;
    let operator = app.create_operator("ops@example.org").await;

    // At least three rows in every list.
    let mut students = Vec::new();
    for i in 0..3 {
        students.push(
            app.create_user("alpha", &format!("kid{i}"), &["student"], false)
                .await,
        );
        let (st, _) = app
            .post(
                "/api/v1/courses",
                &s.teacher.token,
                json!({"name": format!("Course {i}")}),
            )
            .await;
        assert_eq!(st, 201);
        let (st, _) = app
            .post(
                &format!("/api/v1/courses/{}/sections", s.course_id),
                &s.teacher.token,
                json!({"name": format!("Extra {i}")}),
            )
            .await;
        assert_eq!(st, 201);
        let (st, _) = app
            .post(
                &format!("/api/v1/courses/{}/assignments", s.course_id),
                &s.teacher.token,
                json!({"title": format!("Extra {i}"), "publish": true}),
            )
            .await;
        assert_eq!(st, 201);
        let (st, _) = app
            .post(
                &format!("/api/v1/courses/{}/discussions", s.course_id),
                &s.teacher.token,
                json!({"title": format!("Topic {i}")}),
            )
            .await;
        assert_eq!(st, 201);
        let (st, _) = app
            .post(
                &format!("/api/v1/discussions/{}/posts", s.discussion_id),
                &s.teacher.token,
                json!({"content": format!("Post {i}")}),
            )
            .await;
        assert_eq!(st, 201);
    }
    let ids: Vec<i64> = students.iter().map(|u| u.id).collect();
    let (st, _) = app
        .post(
            &format!("/api/v1/sections/{}/enrollments", s.section_id),
            &s.teacher.token,
            json!({"user_ids": ids, "role": "student"}),
        )
        .await;
    assert_eq!(st, 201);
    for kid in &students {
        let (st, _) = app
            .post(
                &format!("/api/v1/assignments/{}/submissions", s.assignment_id),
                &kid.token,
                json!({"body": "work"}),
            )
            .await;
        assert_eq!(st, 201);
    }
    // The student needs three courses too.
    for i in 0..3 {
        let (_, c) = app
            .post(
                "/api/v1/courses",
                &s.admin.token,
                json!({"name": format!("Student course {i}")}),
            )
            .await;
        let section = c["sections"][0]["id"].as_i64().unwrap();
        app.post(
            &format!("/api/v1/sections/{section}/enrollments"),
            &s.admin.token,
            json!({"user_ids": [s.student.id], "role": "student"}),
        )
        .await;
    }
    let mut sys = app.pool().system().await.unwrap();
    for i in 0..3 {
        platform::jobs::enqueue(
            &mut sys,
            &platform::jobs::kinds::Probe::new(format!("m{i}")),
        )
        .await
        .unwrap();
    }
    sqlx::query("UPDATE jobs SET state = 'failed', attempts = 1, last_error = 'listed', finished_at = now()")
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();

    // Three academic years, three guardian links, and platform audit rows.
    for (i, kid) in students.iter().enumerate() {
        let (st, _) = app
            .post("/api/v1/academic_years", &s.admin.token,
                json!({"name": format!("20{}-{}", 30 + i, 31 + i), "start_date": format!("20{}-08-01", 30 + i), "end_date": format!("20{}-06-30", 31 + i)}))
            .await;
        assert_eq!(st, 201);
        let (st, b) = app
            .post(
                "/api/v1/guardian_links",
                &s.admin.token,
                json!({"guardian_id": s.guardian.id, "student_id": kid.id}),
            )
            .await;
        assert_eq!(st, 201, "{b}");
        let (st, _) = app
            .request(
                Method::POST,
                "/api/v1/auth/login",
                testkit::Actor::Anonymous,
                Some(
                    json!({"tenant": "nowhere", "email": "x@y.org", "password": "wrong-password"}),
                ),
            )
            .await;
        assert_eq!(st, 401);
    }

    let mut placeholders = HashMap::from([
        ("{course}", s.course_id),
        ("{section}", s.section_id),
        ("{assignment}", s.assignment_id),
        ("{discussion}", s.discussion_id),
    ]);
    placeholders.extend(quizzes_and_standards(&app, &s).await);
    let tokens = HashMap::from([
        ("admin", s.admin.token.clone()),
        ("teacher", s.teacher.token.clone()),
        ("student", s.student.token.clone()),
        ("district_admin", district_admin.token.clone()),
        ("operator", operator.clone()),
    ]);
    let mut failures = Vec::new();
    for (template, who, rows_field, min_rows) in LISTS {
        let mut path = template.to_string();
        for (k, v) in &placeholders {
            path = path.replace(k, &v.to_string());
        }
        let mut counts = Vec::new();
        for limit in [1, 200] {
            let res = app
                .client
                .request(Method::GET, format!("{}{path}?limit={limit}", app.base_url))
                .bearer_auth(&tokens[who])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200, "{path} as {who}");
            let n = statements(&res);
            let body: serde_json::Value = res.json().await.unwrap();
            let rows = body[*rows_field]
                .as_array()
                .map(Vec::len)
                .unwrap_or_default();
            if limit == 200 && rows < *min_rows {
                failures.push(format!(
                    "{template} as {who}: only {rows} rows, the check needs {min_rows}"
                ));
            }
            counts.push(n);
        }
        if counts[0] != counts[1] {
            failures.push(format!(
                "{template} as {who}: {} statements for limit=1, {} for limit=200",
                counts[0], counts[1]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Three of everything the quiz and standards lists show: banks, questions, quizzes
/// (published), items, the student's attempts, frameworks, standards and assignment
/// links. Answers the placeholders of their paths.
async fn quizzes_and_standards(app: &TestApp, s: &School) -> Vec<(&'static str, i64)> {
    let made = |what: &str, (status, body): (u16, serde_json::Value)| {
        assert_eq!(status, 201, "{what}: {body}");
        body["id"].as_i64().unwrap()
    };
    let t = &s.teacher.token;
    let mut banks = Vec::new();
    for i in 0..3 {
        banks.push(made(
            "bank",
            app.post(
                "/api/v1/question_banks",
                t,
                json!({"title": format!("Bank {i}")}),
            )
            .await,
        ));
    }
    let mut questions = Vec::new();
    for i in 0..3 {
        questions.push(made(
            "question",
            app.post(
                &format!("/api/v1/question_banks/{}/questions", banks[0]),
                t,
                json!({"type": "true_false", "prompt": format!("Q{i}"), "correct_answer": true}),
            )
            .await,
        ));
    }
    let mut quizzes = Vec::new();
    for i in 0..3 {
        let quiz = made(
            "quiz",
            app.post(
                &format!("/api/v1/courses/{}/quizzes", s.course_id),
                t,
                json!({"title": format!("Quiz {i}"), "attempts_allowed": 3}),
            )
            .await,
        );
        for q in &questions {
            made(
                "item",
                app.post(
                    &format!("/api/v1/quizzes/{quiz}/items"),
                    t,
                    json!({"question_id": q}),
                )
                .await,
            );
        }
        let (st, _) = app
            .post(&format!("/api/v1/quizzes/{quiz}/publish"), t, json!({}))
            .await;
        assert_eq!(st, 200);
        quizzes.push(quiz);
    }
    for _ in 0..3 {
        let attempt = made(
            "attempt",
            app.post(
                &format!("/api/v1/quizzes/{}/attempts", quizzes[0]),
                &s.student.token,
                json!({}),
            )
            .await,
        );
        let (st, _) = app
            .post(
                &format!("/api/v1/attempts/{attempt}/submit"),
                &s.student.token,
                json!({}),
            )
            .await;
        assert_eq!(st, 200);
    }
    let mut frameworks = Vec::new();
    for i in 0..3 {
        frameworks.push(made(
            "framework",
            app.post(
                "/api/v1/standard_frameworks",
                &s.admin.token,
                json!({"name": format!("Framework {i}")}),
            )
            .await,
        ));
    }
    for i in 0..3 {
        let standard = made(
            "standard",
            app.post(
                &format!("/api/v1/standard_frameworks/{}/standards", frameworks[0]),
                &s.admin.token,
                json!({"code": format!("S.{i}")}),
            )
            .await,
        );
        made(
            "child",
            app.post(
                &format!("/api/v1/standard_frameworks/{}/standards", frameworks[0]),
                &s.admin.token,
                json!({"code": format!("S.{i}.a"), "parent_id": standard}),
            )
            .await,
        );
        let (st, _) = app
            .post(
                &format!("/api/v1/assignments/{}/standards", s.assignment_id),
                t,
                json!({"standard_id": standard}),
            )
            .await;
        assert_eq!(st, 201);
    }
    vec![
        ("{bank}", banks[0]),
        ("{quiz}", quizzes[0]),
        ("{framework}", frameworks[0]),
    ]
}
