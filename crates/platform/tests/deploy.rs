//! Deploy windows through the API: school hours (validation, audit), the operator verdict
//! in the school's own time zone, and audited overrides.

use serde_json::json;
use sqlx::{Connection, PgConnection};
use testkit::{School, TestApp};

#[tokio::test]
async fn school_hours_drive_the_verdict_and_overrides_are_audited() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "alpha").await;
    let op = app.create_operator("ops@example.org").await;
    let hours = "/api/v1/admin/school_hours";

    let (status, body) = app.get(hours, &s.admin.token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["default"], true);
    assert_eq!(
        (body["start"].as_str(), body["end"].as_str()),
        (Some("08:00"), Some("15:00"))
    );
    assert_eq!(body["days"], json!(["mon", "tue", "wed", "thu", "fri"]));

    for bad in [
        json!({"start": "8am", "end": "15:00", "days": ["mon"]}),
        json!({"start": "15:00", "end": "08:00", "days": ["mon"]}),
        json!({"start": "08:00", "end": "15:00", "days": []}),
        json!({"start": "08:00", "end": "15:00", "days": ["funday"]}),
    ] {
        let (status, body) = app.put(hours, &s.admin.token, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {body}");
    }

    let every_day = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let (status, body) = app
        .put(
            hours,
            &s.admin.token,
            json!({"start": "06:00", "end": "22:00", "days": every_day, "holidays": ["2026-12-25"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["default"], false);
    assert_eq!(body["days"], every_day);

    let mut tx = app.tenant_tx(s.tenant_id).await;
    sqlx::query("UPDATE schools SET timezone = 'Asia/Tokyo'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // 03:00 UTC is 12:00 in Tokyo: blocked until 22:00 (13:00 UTC); the next runway
    // starts at 05:45 Tokyo (20:45 UTC).
    let (status, v) = app
        .get(
            "/api/v1/operator/deploy/window?at=2026-12-07T03:00:00Z",
            &op,
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["safe"], false);
    assert_eq!(v["blocking"][0]["tenant"], "alpha");
    assert_eq!(v["blocking"][0]["timezone"], "Asia/Tokyo");
    assert_eq!(v["blocking"][0]["local_time"], "2026-12-07T12:00:00+09:00");
    assert_eq!(v["next_safe_window"]["start"], "2026-12-07T13:00:00Z");
    assert_eq!(v["next_safe_window"]["end"], "2026-12-07T20:45:00Z");
    assert_eq!(v["next_safe_window"]["wait_minutes"], 600);
    // The holiday is free.
    let (_, v) = app
        .get(
            "/api/v1/operator/deploy/window?at=2026-12-25T03:00:00Z",
            &op,
        )
        .await;
    assert_eq!(v["safe"], true, "{v}");
    let (status, _) = app
        .get("/api/v1/operator/deploy/window?at=yesterday", &op)
        .await;
    assert_eq!(status, 400);

    let overrides = "/api/v1/operator/deploy/overrides";
    for bad in [
        json!({"reason": "x", "minutes": 30}),
        json!({"reason": "hotfix", "minutes": 0}),
        json!({"reason": "hotfix", "minutes": 241}),
    ] {
        let (status, body) = app.post(overrides, &op, bad.clone()).await;
        assert_eq!(status, 422, "{bad} -> {body}");
    }
    let (status, o) = app
        .post(
            overrides,
            &op,
            json!({"reason": "security fix", "minutes": 30}),
        )
        .await;
    assert_eq!(status, 201, "{o}");
    let (_, v) = app.get("/api/v1/operator/deploy/window", &op).await;
    assert_eq!(v["safe"], true, "{v}");
    assert_eq!(v["override"]["id"], o["id"]);
    assert_eq!(v["override"]["reason"], "security fix");
    assert_eq!(v["override"]["created_by"], "ops@example.org");

    let mut conn = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM platform_audit_logs
          WHERE event_type = 'deploy.override_created' AND metadata->>'reason' = 'security fix'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(n, 1);
    let (old_start, new_start): (String, String) = sqlx::query_as(
        "SELECT metadata->'old'->>'start', metadata->'new'->>'start' FROM audit_logs
          WHERE event_type = 'school_hours.updated'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((old_start.as_str(), new_start.as_str()), ("08:00", "06:00"));
}
