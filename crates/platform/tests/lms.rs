//! Visibility and business rules of the teaching core (spec 02), through the API as each
//! role.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp};

fn ids(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect()
}

fn hours(h: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::hours(h)).to_rfc3339()
}

#[tokio::test]
async fn each_role_sees_exactly_the_courses_it_should() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let course = format!("/api/v1/courses/{}", s.course_id);
    for (who, token, sees) in [
        ("admin", &s.admin.token, true),
        ("teacher", &s.teacher.token, true),
        ("other teacher", &s.other_teacher.token, false),
        ("student", &s.student.token, true),
        ("outsider", &s.outsider.token, false),
        ("guardian", &s.guardian.token, true),
        ("other tenant admin", &other.admin.token, false),
    ] {
        let (_, list) = app.get("/api/v1/courses", token).await;
        assert_eq!(ids(&list).contains(&s.course_id), sees, "{who}: {list}");
        let (status, body) = app.get(&course, token).await;
        assert_eq!(status, if sees { 200 } else { 404 }, "{who}: {body}");
    }
    let (_, c) = app.get(&course, &s.teacher.token).await;
    assert_eq!(c["sections"][0]["id"], s.section_id);
    assert_eq!(
        c["counters"],
        json!({"assignments_count": 2, "discussions_count": 1, "quizzes_count": 0, "enrollments_count": 2})
    );

    // Archiving hides the course from students and guardians, not from staff.
    let (st, _) = app
        .post(&format!("{course}/archive"), &s.teacher.token, json!({}))
        .await;
    assert_eq!(st, 200);
    for token in [&s.student.token, &s.guardian.token] {
        assert_eq!(app.get(&course, token).await.0, 404);
        assert!(!ids(&app.get("/api/v1/courses", token).await.1).contains(&s.course_id));
    }
    assert_eq!(app.get(&course, &s.teacher.token).await.0, 200);
    assert!(!ids(&app.get("/api/v1/courses", &s.admin.token).await.1).contains(&s.course_id));
    assert!(ids(&app
        .get("/api/v1/courses?include_archived=true", &s.admin.token)
        .await
        .1)
    .contains(&s.course_id));
}

#[tokio::test]
async fn students_see_published_work_and_only_their_own_submissions() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let classmate = app
        .create_user("alpha", "classmate", &["student"], false)
        .await;
    app.post(
        &format!("/api/v1/sections/{}/enrollments", s.section_id),
        &s.teacher.token,
        json!({"user_ids": [classmate.id], "role": "student"}),
    )
    .await;
    let (st, theirs) = app
        .post(
            &format!("/api/v1/assignments/{}/submissions", s.assignment_id),
            &classmate.token,
            json!({"body": "mine"}),
        )
        .await;
    assert_eq!(st, 201, "{theirs}");

    let list = format!("/api/v1/courses/{}/assignments", s.course_id);
    assert_eq!(
        ids(&app.get(&list, &s.student.token).await.1),
        [s.assignment_id]
    );
    assert_eq!(ids(&app.get(&list, &s.teacher.token).await.1).len(), 2);
    assert_eq!(
        app.get(
            &format!("/api/v1/assignments/{}", s.draft_assignment_id),
            &s.student.token
        )
        .await
        .0,
        404
    );

    let subs = format!("/api/v1/assignments/{}/submissions", s.assignment_id);
    assert_eq!(
        ids(&app.get(&subs, &s.student.token).await.1),
        [s.submission_id]
    );
    assert_eq!(
        ids(&app.get(&subs, &s.guardian.token).await.1),
        [s.submission_id],
        "guardians see their linked student's work"
    );
    let (_, all) = app.get(&subs, &s.teacher.token).await;
    assert_eq!(ids(&all).len(), 2);
    assert_eq!(all["data"][0]["student_name"], "student Test");
    let theirs_path = format!("/api/v1/submissions/{}", theirs["id"]);
    assert_eq!(app.get(&theirs_path, &s.student.token).await.0, 404);
    assert_eq!(app.get(&theirs_path, &s.guardian.token).await.0, 404);
    assert_eq!(app.get(&theirs_path, &classmate.token).await.0, 200);

    // Guardians read, never write.
    let (st, _) = app
        .post(&subs, &s.guardian.token, json!({"body": "x"}))
        .await;
    assert_eq!(st, 403);
    let (st, _) = app
        .post(
            &format!("/api/v1/discussions/{}/posts", s.discussion_id),
            &s.guardian.token,
            json!({"content": "hi"}),
        )
        .await;
    assert_eq!(st, 403);
    // A student who can see the course may not manage it.
    let (st, _) = app
        .post(
            &format!("/api/v1/courses/{}/assignments", s.course_id),
            &s.student.token,
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(st, 403);
    // A teacher of another course cannot even see this one.
    let (st, _) = app
        .post(
            &format!("/api/v1/courses/{}/assignments", s.course_id),
            &s.other_teacher.token,
            json!({"title": "x"}),
        )
        .await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn another_tenants_teaching_records_answer_404() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let paths = [
        format!("/api/v1/courses/{}", s.course_id),
        format!("/api/v1/courses/{}/sections", s.course_id),
        format!("/api/v1/courses/{}/assignments", s.course_id),
        format!("/api/v1/courses/{}/discussions", s.course_id),
        format!("/api/v1/sections/{}/enrollments", s.section_id),
        format!("/api/v1/assignments/{}", s.assignment_id),
        format!("/api/v1/assignments/{}/submissions", s.assignment_id),
        format!("/api/v1/submissions/{}", s.submission_id),
        format!("/api/v1/discussions/{}", s.discussion_id),
        format!("/api/v1/discussions/{}/posts", s.discussion_id),
    ];
    for path in &paths {
        for token in [
            &other.admin.token,
            &other.teacher.token,
            &other.student.token,
        ] {
            let (status, body) = app.get(path, token).await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{path}"
            );
        }
    }
    let writes = [
        (
            Method::PUT,
            format!("/api/v1/courses/{}", s.course_id),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            format!("/api/v1/courses/{}/archive", s.course_id),
            json!({}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/courses/{}", s.course_id),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/api/v1/sections/{}/enrollments", s.section_id),
            json!({"user_ids": [other.student.id], "role": "student"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/submissions/{}/grade", s.submission_id),
            json!({"grade": 1}),
        ),
        (
            Method::POST,
            format!("/api/v1/assignments/{}/publish", s.draft_assignment_id),
            json!({}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/discussion_posts/{}", s.post_id),
            Value::Null,
        ),
    ];
    for (method, path, body) in writes {
        let body = if body.is_null() { None } else { Some(body) };
        let (status, _) = app
            .request(method, &path, Actor::Token(&other.admin.token), body)
            .await;
        assert_eq!(status, 404, "{path}");
    }
    // Enrolling another tenant's user into one's own section is refused too.
    let (status, _) = app
        .post(
            &format!("/api/v1/sections/{}/enrollments", other.section_id),
            &other.teacher.token,
            json!({"user_ids": [s.student.id], "role": "student"}),
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn submission_windows_late_work_and_resubmission() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let course = s.course_id;
    let make = |body: Value| {
        let app = &app;
        let token = s.teacher.token.clone();
        async move {
            let (st, a) = app
                .post(
                    &format!("/api/v1/courses/{course}/assignments"),
                    &token,
                    body,
                )
                .await;
            assert_eq!(st, 201, "{a}");
            format!("/api/v1/assignments/{}/submissions", a["id"])
        }
    };
    let work = json!({"body": "my work"});
    let locked = make(
        json!({"title": "Locked", "publish": true, "due_at": hours(-3), "lock_at": hours(-2)}),
    )
    .await;
    let (st, b) = app.post(&locked, &s.student.token, work.clone()).await;
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("locked")));
    let past_due = make(json!({"title": "Past due", "publish": true, "due_at": hours(-1)})).await;
    let (st, b) = app.post(&past_due, &s.student.token, work.clone()).await;
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("past_due")));
    let late_ok = make(json!({"title": "Late ok", "publish": true, "due_at": hours(-1), "allow_late_submission": true})).await;
    let (st, b) = app.post(&late_ok, &s.student.token, work.clone()).await;
    assert_eq!((st, b["late"].as_bool()), (201, Some(true)), "{b}");
    let not_open = make(json!({"title": "Later", "publish": true, "unlock_at": hours(2)})).await;
    let (st, b) = app.post(&not_open, &s.student.token, work.clone()).await;
    assert_eq!((st, b["error"]["code"].as_str()), (409, Some("not_open")));

    let subs = format!("/api/v1/assignments/{}/submissions", s.assignment_id);
    let (st, again) = app
        .post(&subs, &s.student.token, json!({"body": "second try"}))
        .await;
    assert_eq!((st, again["attempt_number"].as_i64()), (201, Some(2)));
    let (st, _) = app
        .post(&subs, &s.student.token, json!({"body": " "}))
        .await;
    assert_eq!(st, 422, "empty work is refused");
    let (st, _) = app
        .post(
            &subs,
            &s.student.token,
            json!({"body": "x", "url": "javascript:alert(1)"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = app.post(&subs, &s.teacher.token, work.clone()).await;
    assert_eq!(st, 403, "teachers do not submit");
    let (st, _) = app.post(&subs, &s.outsider.token, work.clone()).await;
    assert_eq!(st, 404, "a student outside the course cannot see it");
    let (st, _) = app
        .post(
            &format!("/api/v1/assignments/{}/submissions", s.draft_assignment_id),
            &s.student.token,
            work,
        )
        .await;
    assert_eq!(st, 404, "drafts are invisible to students");
    let (_, a) = app
        .get(
            &format!("/api/v1/assignments/{}", s.assignment_id),
            &s.teacher.token,
        )
        .await;
    assert_eq!(a["submissions_count"], 2);
}

#[tokio::test]
async fn grading_stays_in_range_records_the_grader_and_returns_work() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let grade = format!("/api/v1/submissions/{}/grade", s.submission_id);
    let ret = format!("/api/v1/submissions/{}/return", s.submission_id);
    let (st, b) = app.post(&ret, &s.teacher.token, json!({})).await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("invalid_state")),
        "ungraded work is not returned"
    );
    for bad in [-1.0, 10.5, 1000.0] {
        let (st, b) = app
            .put(&grade, &s.teacher.token, json!({"grade": bad}))
            .await;
        assert_eq!(
            (st, b["error"]["details"]["field"].as_str()),
            (422, Some("grade")),
            "{bad}"
        );
    }
    let (st, _) = app
        .put(&grade, &s.student.token, json!({"grade": 10}))
        .await;
    assert_eq!(st, 403);
    let (st, _) = app
        .put(&grade, &s.other_teacher.token, json!({"grade": 10}))
        .await;
    assert_eq!(st, 404);
    let (st, g) = app
        .put(
            &grade,
            &s.teacher.token,
            json!({"grade": 9.5, "feedback": "Good"}),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(
        (g["grade"].as_f64(), g["status"].as_str()),
        (Some(9.5), Some("graded"))
    );
    assert_eq!(g["graded_by_id"], s.teacher.id);
    assert_eq!(g["grader_name"], "teacher Test");
    assert!(g["graded_at"].is_string());
    let (st, r) = app.post(&ret, &s.teacher.token, json!({})).await;
    assert_eq!((st, r["status"].as_str()), (200, Some("returned")));
    let (_, mine) = app
        .get(
            &format!("/api/v1/submissions/{}", s.submission_id),
            &s.student.token,
        )
        .await;
    assert_eq!(mine["feedback"], "Good");
}

#[tokio::test]
async fn courses_with_submissions_are_archived_before_deletion() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let course = format!("/api/v1/courses/{}", s.course_id);
    let (st, b) = app
        .request(
            Method::DELETE,
            &course,
            Actor::Token(&s.teacher.token),
            None,
        )
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("archive_first"))
    );
    let (st, b) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/assignments/{}", s.assignment_id),
            Actor::Token(&s.teacher.token),
            None,
        )
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("archive_first"))
    );
    app.post(&format!("{course}/archive"), &s.teacher.token, json!({}))
        .await;
    let (st, _) = app
        .request(
            Method::DELETE,
            &course,
            Actor::Token(&s.teacher.token),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(app.get(&course, &s.admin.token).await.0, 404);
    let mut tx = app.tenant_tx(s.tenant_id).await;
    let (courses, left): (i32, i64) = sqlx::query_as(
        "SELECT courses_count, (SELECT count(*) FROM submissions) + (SELECT count(*) FROM discussion_posts) FROM tenants")
        .fetch_one(&mut *tx).await.unwrap();
    assert_eq!(
        (courses, left),
        (0, 0),
        "the cascade removed everything and the counter followed"
    );
    // An empty course can go at once.
    let (_, c) = app
        .post(
            "/api/v1/courses",
            &s.teacher.token,
            json!({"name": "Empty"}),
        )
        .await;
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/courses/{}", c["id"]),
            Actor::Token(&s.teacher.token),
            None,
        )
        .await;
    assert_eq!(st, 204);
}

#[tokio::test]
async fn discussion_threads_and_their_rules() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    let posts = format!("/api/v1/discussions/{}/posts", s.discussion_id);
    let (st, reply) = app
        .post(
            &posts,
            &s.teacher.token,
            json!({"content": "It supports the cell.", "parent_post_id": s.post_id}),
        )
        .await;
    assert_eq!(
        (st, reply["parent_post_id"].as_i64()),
        (201, Some(s.post_id))
    );
    let (st, b) = app
        .post(
            &posts,
            &s.student.token,
            json!({"content": "x", "parent_post_id": other.post_id}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["details"]["field"].as_str()),
        (422, Some("parent_post_id"))
    );
    let (_, list) = app.get(&posts, &s.student.token).await;
    assert_eq!(ids(&list), [s.post_id, reply["id"].as_i64().unwrap()]);
    // Guardians follow their own child's work, not classmates' discussion posts.
    assert_eq!(app.get(&posts, &s.guardian.token).await.0, 403);
    assert_eq!(list["data"][0]["author_name"], "student Test");
    // Only the author or staff delete; replies go with their parent and the counter follows.
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/discussion_posts/{}", reply["id"]),
            Actor::Token(&s.student.token),
            None,
        )
        .await;
    assert_eq!(st, 403);
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/discussion_posts/{}", s.post_id),
            Actor::Token(&s.student.token),
            None,
        )
        .await;
    assert_eq!(st, 204);
    let (_, d) = app
        .get(
            &format!("/api/v1/discussions/{}", s.discussion_id),
            &s.teacher.token,
        )
        .await;
    assert_eq!(d["posts_count"], 0);
    let mut tx = app.tenant_tx(s.tenant_id).await;
    sqlx::query("UPDATE discussions SET status = 'closed'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (st, b) = app
        .post(&posts, &s.student.token, json!({"content": "late"}))
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("discussion_closed"))
    );
}

#[tokio::test]
async fn assignment_updates_validate_and_null_out_dates() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let path = format!("/api/v1/assignments/{}", s.assignment_id);
    let (st, a) = app
        .put(
            &path,
            &s.teacher.token,
            json!({"due_at": null, "title": "Cells II"}),
        )
        .await;
    assert_eq!(st, 200, "{a}");
    assert!(a["due_at"].is_null());
    assert_eq!(a["title"], "Cells II");
    let (st, b) = app
        .put(
            &path,
            &s.teacher.token,
            json!({"unlock_at": hours(5), "lock_at": hours(1)}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["details"]["field"].as_str()),
        (422, Some("lock_at"))
    );
    let (st, _) = app
        .put(
            &path,
            &s.teacher.token,
            json!({"assignment_type": "quiz-ish"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, _) = app
        .post(
            &format!("/api/v1/courses/{}/assignments", s.course_id),
            &s.teacher.token,
            json!({"title": ""}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, a) = app
        .post(&format!("{path}/archive"), &s.teacher.token, json!({}))
        .await;
    assert_eq!((st, a["status"].as_str()), (200, Some("archived")));
    let (st, b) = app
        .post(&format!("{path}/publish"), &s.teacher.token, json!({}))
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("invalid_state"))
    );
}
