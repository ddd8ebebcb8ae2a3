//! Analytics (spec 05): the figures of a seeded school, the refresh job, and tenant
//! isolation through every analytics route, before and right after a refresh.

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use testkit::{School, TestApp};

/// Two schools; in `beta` a second student submits and the teacher grades 9 of 10.
async fn two_schools(app: &TestApp) -> (School, School) {
    let alpha = School::build(app, "alpha").await;
    let beta = School::build(app, "beta").await;
    let kid = app.create_user("beta", "kid", &["student"], false).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/sections/{}/enrollments", beta.section_id),
            &beta.teacher.token,
            json!({"user_ids": [kid.id], "role": "student"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .post(
            &format!("/api/v1/assignments/{}/submissions", beta.assignment_id),
            &kid.token,
            json!({"body": "Mitochondria."}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .put(
            &format!("/api/v1/submissions/{}/grade", beta.submission_id),
            &beta.teacher.token,
            json!({"grade": 9}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (alpha, beta)
}

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

fn course_ids(body: &Value) -> Vec<i64> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["course_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn figures_are_right_for_a_seeded_school() {
    let app = TestApp::spawn().await;
    let (alpha, beta) = two_schools(&app).await;

    // Before a refresh the new courses are not in the views yet.
    let (status, body) = app
        .get("/api/v1/admin/analytics/courses", &beta.admin.token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([]));
    let before: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["refreshed_at"].clone()).unwrap();

    let at = platform::analytics::refresh(app.pool()).await.unwrap();
    assert!(at > before);

    let (status, body) = app
        .get("/api/v1/admin/analytics/daily?days=7", &beta.admin.token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["days"], 7);
    assert_eq!(
        body["data"],
        json!([{"stat_date": today(), "active_students": 2, "submissions_count": 2, "graded_count": 1}])
    );
    let refreshed: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["refreshed_at"].clone()).unwrap();
    assert_eq!(refreshed, at);

    let (status, body) = app
        .get("/api/v1/admin/analytics/courses", &beta.admin.token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([{
            "course_id": beta.course_id, "name": "Biology 7", "code": "BIO7",
            "enrolled_students": 2, "active_students": 2, "average_grade": 90.0,
            "quiz_participants": 0
        }])
    );
    assert_eq!(body["next_cursor"], Value::Null);

    // The teacher of the course sees the same row; alpha's figures are alpha's own.
    let (status, body) = app
        .get(
            &format!("/api/v1/courses/{}/analytics", beta.course_id),
            &beta.teacher.token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stats"]["enrolled_students"], 2);
    assert_eq!(body["stats"]["average_grade"], 90.0);
    let (_, body) = app
        .get(
            &format!("/api/v1/courses/{}/analytics", alpha.course_id),
            &alpha.teacher.token,
        )
        .await;
    assert_eq!(body["stats"]["enrolled_students"], 1);
    assert_eq!(body["stats"]["active_students"], 1);
    assert_eq!(body["stats"]["average_grade"], Value::Null);
}

#[tokio::test]
async fn no_tenant_sees_another_tenants_rows_before_or_after_a_refresh() {
    let app = TestApp::spawn().await;
    let (alpha, beta) = two_schools(&app).await;
    for refreshed in [false, true] {
        if refreshed {
            platform::analytics::refresh(app.pool()).await.unwrap();
        }
        let (_, a) = app
            .get("/api/v1/admin/analytics/courses", &alpha.admin.token)
            .await;
        let (_, b) = app
            .get("/api/v1/admin/analytics/courses", &beta.admin.token)
            .await;
        let (a, b) = (course_ids(&a), course_ids(&b));
        assert!(!a.contains(&beta.course_id), "alpha sees beta: {a:?}");
        assert!(!b.contains(&alpha.course_id), "beta sees alpha: {b:?}");
        if refreshed {
            assert_eq!(a, vec![alpha.course_id]);
            assert_eq!(b, vec![beta.course_id]);
        }

        let (_, a) = app
            .get("/api/v1/admin/analytics/daily", &alpha.admin.token)
            .await;
        let counts: Vec<i64> = a["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["submissions_count"].as_i64().unwrap())
            .collect();
        assert_eq!(counts, if refreshed { vec![1] } else { vec![] });

        // Another school's course: 404, like any course the caller cannot see.
        for (token, course) in [
            (&alpha.admin.token, beta.course_id),
            (&beta.teacher.token, alpha.course_id),
        ] {
            let (status, body) = app
                .get(&format!("/api/v1/courses/{course}/analytics"), token)
                .await;
            assert_eq!(status, 404, "{body}");
        }
    }
    // Staff only: the enrolled student is refused, a teacher of another course gets 404.
    let (status, _) = app
        .get(
            &format!("/api/v1/courses/{}/analytics", alpha.course_id),
            &alpha.student.token,
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get(
            &format!("/api/v1/courses/{}/analytics", alpha.course_id),
            &alpha.other_teacher.token,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_service_role_cannot_read_or_refresh_the_views_directly() {
    let app = TestApp::spawn().await;
    School::build(&app, "alpha").await;
    let mut conn = PgConnection::connect(&app.db.app_url()).await.unwrap();
    for sql in [
        "SELECT count(*) FROM tenant_daily_stats",
        "SELECT count(*) FROM course_engagement_stats",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY tenant_daily_stats",
        // Outside a system transaction the refresh function refuses.
        "SELECT refresh_analytics()",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code()).unwrap();
        assert!(
            code == "42501" || code == "42809",
            "{sql}: expected a privilege error, got {err}"
        );
    }
    // The owner-only refresh policy does not apply to the service role, whatever it sets.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.analytics_refresh', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM courses")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM analytics_courses(0, 100)")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0, "no tenant set: the reader functions answer nothing");
}

#[tokio::test]
async fn days_must_be_between_1_and_365() {
    let app = TestApp::spawn().await;
    let alpha = School::build(&app, "alpha").await;
    for days in ["0", "366", "-1", "abc", "1.5", ""] {
        let (status, body) = app
            .get(
                &format!("/api/v1/admin/analytics/daily?days={days}"),
                &alpha.admin.token,
            )
            .await;
        assert_eq!(status, 422, "days={days}: {body}");
        assert_eq!(body["error"]["details"]["field"], "days");
    }
    for days in ["1", "365"] {
        let (status, body) = app
            .get(
                &format!("/api/v1/admin/analytics/daily?days={days}"),
                &alpha.admin.token,
            )
            .await;
        assert_eq!(status, 200, "days={days}: {body}");
    }
    // Teachers hold no analytics:read.
    let (status, _) = app
        .get("/api/v1/admin/analytics/daily", &alpha.teacher.token)
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_courses_list_pages_by_course() {
    let app = TestApp::spawn().await;
    let alpha = School::build(&app, "alpha").await;
    for n in 0..3 {
        let (status, _) = app
            .post(
                "/api/v1/courses",
                &alpha.teacher.token,
                json!({"name": format!("Extra {n}")}),
            )
            .await;
        assert_eq!(status, 201);
    }
    platform::analytics::refresh(app.pool()).await.unwrap();
    let mut seen = Vec::new();
    let mut path = "/api/v1/admin/analytics/courses?limit=3".to_string();
    loop {
        let (status, body) = app.get(&path, &alpha.admin.token).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(course_ids(&body));
        match body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/admin/analytics/courses?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, seen);
}

#[tokio::test]
async fn the_refresh_job_is_scheduled_hourly_and_deduplicated() {
    let schedule = platform::jobs::catalog::schedule("refresh-analytics").unwrap();
    assert_eq!(schedule.cron_expr, "0 * * * *");
    let app = TestApp::spawn().await;
    let mut sys = app.pool().system().await.unwrap();
    let first = platform::jobs::enqueue(&mut sys, &platform::analytics::RefreshAnalytics {})
        .await
        .unwrap();
    let second = platform::jobs::enqueue(&mut sys, &platform::analytics::RefreshAnalytics {})
        .await
        .unwrap();
    sys.commit().await.unwrap();
    assert_eq!(first.id, second.id, "a pending refresh absorbs the next");
}

/// A restored database has its views unpopulated (backups do not dump their rows): the
/// routes answer no rows instead of failing, and the next refresh fills them.
#[tokio::test]
async fn unpopulated_views_answer_empty_until_the_next_refresh() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    let (alpha, _beta) = two_schools(&app).await;
    let mut owner = sqlx::PgConnection::connect(&app.db.owner_url())
        .await
        .unwrap();
    for view in ["tenant_daily_stats", "course_engagement_stats"] {
        sqlx::query(&format!("REFRESH MATERIALIZED VIEW {view} WITH NO DATA"))
            .execute(&mut owner)
            .await
            .unwrap();
    }
    for path in [
        "/api/v1/admin/analytics/courses".to_owned(),
        "/api/v1/admin/analytics/daily?days=30".to_owned(),
    ] {
        let (status, body) = app.get(&path, &alpha.admin.token).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["data"], json!([]), "{path}");
    }
    // The refresh job's function copes with unpopulated views (no CONCURRENTLY then).
    platform::analytics::refresh(app.pool()).await.unwrap();
    let (status, body) = app
        .get("/api/v1/admin/analytics/courses", &alpha.admin.token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["data"], json!([]));
}
