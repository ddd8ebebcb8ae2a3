//! What a school's admin sets up: the calendar, guardian links, and reading the audit
//! trail; and the operator's platform audit trail.

use reqwest::Method;
use serde_json::json;
use testkit::{Actor, School, TestApp};

#[tokio::test]
async fn academic_years_and_terms() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let year = |name: &str, start: &str, end: &str, current: bool| json!({"name": name, "start_date": start, "end_date": end, "current": current});
    let (st, y1) = app
        .post(
            "/api/v1/academic_years",
            &s.admin.token,
            year("2026-27", "2026-08-24", "2027-06-18", true),
        )
        .await;
    assert_eq!(st, 201, "{y1}");
    let (st, y2) = app
        .post(
            "/api/v1/academic_years",
            &s.admin.token,
            year("2027-28", "2027-08-23", "2028-06-16", true),
        )
        .await;
    assert_eq!(st, 201);
    let (st, b) = app
        .post(
            "/api/v1/academic_years",
            &s.admin.token,
            year("2027-28", "2027-08-23", "2028-06-16", false),
        )
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (409, Some("already_exists"))
    );
    let (st, b) = app
        .post(
            "/api/v1/academic_years",
            &s.admin.token,
            year("Backwards", "2028-08-01", "2028-01-01", false),
        )
        .await;
    assert_eq!(
        (st, b["error"]["details"]["field"].as_str()),
        (422, Some("end_date"))
    );
    let (st, _) = app
        .post(
            "/api/v1/academic_years",
            &s.teacher.token,
            year("Nope", "2030-08-01", "2031-06-01", false),
        )
        .await;
    assert_eq!(st, 403);

    let terms = format!("/api/v1/academic_years/{}/terms", y2["id"]);
    let (st, t) = app
        .post(
            &terms,
            &s.admin.token,
            json!({"name": "Fall", "start_date": "2027-08-23", "end_date": "2028-01-14"}),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    let (st, b) = app
        .post(
            &terms,
            &s.admin.token,
            json!({"name": "Summer", "start_date": "2028-06-01", "end_date": "2028-08-01"}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["code"].as_str()),
        (422, Some("validation_failed")),
        "terms fall within their year"
    );

    let (_, list) = app.get("/api/v1/academic_years", &s.student.token).await;
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["2027-28", "2026-27"], "newest first");
    assert_eq!(list["data"][0]["current"], true);
    assert_eq!(
        list["data"][1]["current"], false,
        "one current year per school"
    );
    assert_eq!(list["data"][0]["terms"][0]["name"], "Fall");
    assert_eq!(y1["terms"], json!([]));
    // A course can be put in the year.
    let (st, c) = app
        .put(
            &format!("/api/v1/courses/{}", s.course_id),
            &s.teacher.token,
            json!({"academic_year_id": y2["id"]}),
        )
        .await;
    assert_eq!(
        (st, c["academic_year"]["name"].as_str()),
        (200, Some("2027-28"))
    );
}

#[tokio::test]
async fn guardian_links_decide_what_a_guardian_sees() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let parent = app
        .create_user("alpha", "parent", &["guardian"], false)
        .await;
    let course = format!("/api/v1/courses/{}", s.course_id);
    assert_eq!(app.get(&course, &parent.token).await.0, 404);

    let (st, link) = app
        .post(
            "/api/v1/guardian_links",
            &s.admin.token,
            json!({"guardian_id": parent.id, "student_id": s.student.id, "relationship": "mother"}),
        )
        .await;
    assert_eq!(st, 201, "{link}");
    assert_eq!(link["student_name"], "student Test");
    assert_eq!(app.get(&course, &parent.token).await.0, 200);
    let subs = format!("/api/v1/assignments/{}/submissions", s.assignment_id);
    let (_, page) = app.get(&subs, &parent.token).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);

    let (st, _) = app
        .post(
            "/api/v1/guardian_links",
            &s.admin.token,
            json!({"guardian_id": parent.id, "student_id": s.student.id}),
        )
        .await;
    assert_eq!(st, 409);
    let (st, b) = app
        .post(
            "/api/v1/guardian_links",
            &s.admin.token,
            json!({"guardian_id": s.teacher.id, "student_id": s.student.id}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["details"]["field"].as_str()),
        (422, Some("guardian_id"))
    );
    let (st, b) = app
        .post(
            "/api/v1/guardian_links",
            &s.admin.token,
            json!({"guardian_id": parent.id, "student_id": s.teacher.id}),
        )
        .await;
    assert_eq!(
        (st, b["error"]["details"]["field"].as_str()),
        (422, Some("student_id"))
    );

    let (_, links) = app
        .get(
            &format!("/api/v1/guardian_links?student_id={}", s.student.id),
            &s.admin.token,
        )
        .await;
    assert_eq!(
        links["data"].as_array().unwrap().len(),
        2,
        "the school's guardian and the new parent"
    );
    let (st, _) = app
        .request(
            Method::DELETE,
            &format!("/api/v1/guardian_links/{}", link["id"]),
            Actor::Token(&s.admin.token),
            None,
        )
        .await;
    assert_eq!(st, 204);
    assert_eq!(
        app.get(&course, &parent.token).await.0,
        404,
        "unlinked, the course is gone from view"
    );
}

#[tokio::test]
async fn audit_trails_for_admins_and_operators() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let other = School::build(&app, "beta").await;
    app.put(
        &format!("/api/v1/users/{}", s.student.id),
        &s.admin.token,
        json!({"first_name": "Sam"}),
    )
    .await;
    let (st, page) = app
        .get(
            "/api/v1/admin/audit_logs?event_type=user.updated",
            &s.admin.token,
        )
        .await;
    assert_eq!(st, 200);
    let rows = page["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["actor_user_id"], s.admin.id);
    assert_eq!(rows[0]["auditable_id"], s.student.id);
    assert_eq!(rows[0]["ip"], "127.0.0.1");
    assert!(rows[0]["request_id"].is_string());
    let (_, logins) = app
        .get(
            "/api/v1/admin/audit_logs?event_type=auth.login&limit=200",
            &s.admin.token,
        )
        .await;
    assert_eq!(
        logins["data"].as_array().unwrap().len(),
        6,
        "six users of this school signed in"
    );
    let (_, theirs) = app
        .get(
            "/api/v1/admin/audit_logs?event_type=user.updated",
            &other.admin.token,
        )
        .await;
    assert_eq!(
        theirs["data"].as_array().unwrap().len(),
        0,
        "another school's trail is invisible"
    );
    let (_, none) = app
        .get(
            "/api/v1/admin/audit_logs?since=2999-01-01T00:00:00Z",
            &s.admin.token,
        )
        .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0);
    assert_eq!(
        app.get("/api/v1/admin/audit_logs", &s.teacher.token)
            .await
            .0,
        403
    );

    let operator = app.create_operator("ops@example.org").await;
    let (_, ops) = app.get("/api/v1/operator/audit_logs", &operator).await;
    let kinds: Vec<&str> = ops["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["operator.login", "operator.created"],
        "newest first"
    );
    assert_eq!(
        app.get("/api/v1/operator/audit_logs", &s.admin.token)
            .await
            .0,
        403
    );
}
