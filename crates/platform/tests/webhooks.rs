//! Webhooks and integrations on real PostgreSQL: endpoint CRUD with the secret shown once,
//! URLs judged by the URL guard (422 `unsafe_url`), tenant isolation, signed delivery to a
//! loopback receiver (the only allow-listed target) that is down at first and then
//! receives the event exactly once, the test ping, and write-only integration secrets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use platform::config::Environment;
use platform::db::{Db, TenantId};
use platform::jobs::{Worker, WorkerConfig};
use platform::outbound::{AllowEntry, EgressConfig};
use platform::webhooks::sign;
use reqwest::Method;
use serde_json::{json, Value};
use testkit::{test_egress, test_outbound, Actor, School, TestApp};

const ENDPOINTS: &str = "/api/v1/admin/webhook_endpoints";

/// A port that nothing listens on (yet).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The test policy plus the loopback receiver's `127.0.0.1:port`, allow-listed.
fn egress_allowing(port: u16) -> EgressConfig {
    let mut egress = test_egress();
    egress.policy.allowlist = vec![AllowEntry::parse(&format!("127.0.0.1:{port}")).unwrap()];
    egress
}

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver on `127.0.0.1:port` that records every request and answers 200.
async fn start_receiver(port: u16) -> (Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let store = received.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (received, server)
}

fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) {
    let header = headers["x-k12-signature"].to_str().unwrap();
    let t: i64 = header
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 300);
    assert_eq!(header, sign(secret.as_bytes(), t, body), "HMAC of t.body");
}

async fn deliveries(db: &Db, tenant: i64) -> Vec<(i64, String, String, i32, Option<i32>)> {
    let mut tx = db.tenant(TenantId(tenant)).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT id, event, status, attempts, last_status_code FROM webhook_deliveries ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rows
}

/// Runs a worker (with the app's egress) until `done` holds for the tenant's deliveries.
async fn run_worker_until(
    db: &Db,
    egress: EgressConfig,
    tenant: i64,
    done: impl Fn(&[(i64, String, String, i32, Option<i32>)]) -> bool,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        run_schedules: false,
        retry_base: Duration::from_millis(100),
        ..WorkerConfig::default()
    };
    let worker = tokio::spawn(
        Worker::new(db.clone(), config)
            .with_outbound(test_outbound(egress))
            .run(async {
                let _ = stopped.await;
            }),
    );
    let mut ok = false;
    for _ in 0..500 {
        if done(&deliveries(db, tenant).await) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
    assert!(
        ok,
        "condition not reached: {:?}",
        deliveries(db, tenant).await
    );
}

#[tokio::test]
async fn endpoints_crud_secret_once_unsafe_urls_and_tenant_isolation() {
    let app = TestApp::spawn().await;
    let school = School::build(&app, "alpha").await;
    let admin = &school.admin.token;
    app.create_tenant("beta", None).await;
    let other = app.create_user("beta", "admin", &["admin"], false).await;

    let (status, created) = app
        .post(
            ENDPOINTS,
            admin,
            json!({"url": "https://93.184.215.14/hook", "events": ["submission.created", "submission.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["events"], json!(["submission.created"]));
    assert_eq!(created["active"], json!(true));

    // The secret is never shown again, and is stored sealed.
    let (_, shown) = app.get(&format!("{ENDPOINTS}/{id}"), admin).await;
    assert!(shown.get("secret").is_none(), "{shown}");
    let (_, list) = app.get(ENDPOINTS, admin).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(secret));
    let mut tx = app.tenant_tx(school.tenant_id).await;
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT secret_encrypted FROM webhook_endpoints WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"whsec_"));

    // Unsafe URLs: 422 unsafe_url with the guard's rule, on create and on update.
    for (url, reason) in [
        ("http://169.254.169.254/", "metadata_address"),
        ("https://127.0.0.1/", "loopback_address"),
        ("https://10.0.0.1/", "private_address"),
        ("gopher://93.184.215.14/", "scheme_not_allowed"),
        ("https://user@93.184.215.14/", "userinfo_not_allowed"),
    ] {
        let (status, body) = app
            .post(
                ENDPOINTS,
                admin,
                json!({"url": url, "events": ["enrollment.created"]}),
            )
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["error"]["code"], "unsafe_url", "{url}: {body}");
        assert_eq!(body["error"]["details"]["reason"], reason, "{url}: {body}");
        let (status, body) = app
            .put(&format!("{ENDPOINTS}/{id}"), admin, json!({"url": url}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (422, json!("unsafe_url"))
        );
    }
    let (status, body) = app
        .post(
            ENDPOINTS,
            admin,
            json!({"url": "https://93.184.215.14/", "events": ["grade.deleted"]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .post(
            ENDPOINTS,
            admin,
            json!({"url": "https://93.184.215.14/", "events": ["ping"], "secret": "mine"}),
        )
        .await;
    assert_eq!(status, 422, "the secret is the server's to choose");

    let (status, updated) = app
        .put(
            &format!("{ENDPOINTS}/{id}"),
            admin,
            json!({"events": ["assignment.published", "submission.graded"], "active": false}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["active"], json!(false));
    assert_eq!(updated["url"], "https://93.184.215.14/hook");

    // Another school sees nothing and touches nothing.
    let (_, theirs) = app.get(ENDPOINTS, &other.token).await;
    assert_eq!(theirs["data"], json!([]));
    for (method, path) in [
        (Method::GET, format!("{ENDPOINTS}/{id}")),
        (Method::PUT, format!("{ENDPOINTS}/{id}")),
        (Method::DELETE, format!("{ENDPOINTS}/{id}")),
        (Method::POST, format!("{ENDPOINTS}/{id}/test")),
        (Method::GET, format!("{ENDPOINTS}/{id}/deliveries")),
    ] {
        let body = (method == Method::PUT).then(|| json!({"active": true}));
        let (status, _) = app
            .request(method.clone(), &path, Actor::Token(&other.token), body)
            .await;
        assert_eq!(status, 404, "{method} {path}");
    }
    // Teachers may not manage webhooks.
    let (status, _) = app.get(ENDPOINTS, &school.teacher.token).await;
    assert_eq!(status, 403);

    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("{ENDPOINTS}/{id}"),
            Actor::Token(admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app.get(&format!("{ENDPOINTS}/{id}"), admin).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn events_are_signed_retried_while_the_receiver_is_down_and_delivered_once() {
    let port = free_port();
    let egress = egress_allowing(port);
    let app = TestApp::spawn_with(Environment::Production, egress.clone()).await;
    let school = School::build(&app, "alpha").await;
    let admin = &school.admin.token;
    let db = app.pool();
    let url = format!("http://127.0.0.1:{port}/hook");

    let (status, created) = app
        .post(
            ENDPOINTS,
            admin,
            json!({"url": url, "events": ["submission.graded"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    // Not subscribed to this one: no delivery.
    app.post(
        ENDPOINTS,
        admin,
        json!({"url": url, "events": ["enrollment.created"], "active": false}),
    )
    .await;

    // The change and its event commit together.
    let (status, _) = app
        .put(
            &format!("/api/v1/submissions/{}/grade", school.submission_id),
            &school.teacher.token,
            json!({"grade": 8}),
        )
        .await;
    assert_eq!(status, 200);
    let rows = deliveries(db, school.tenant_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2.as_str()),
        ("submission.graded", "pending")
    );

    // The receiver is down: attempts fail and are recorded, the delivery is retrying.
    run_worker_until(db, egress.clone(), school.tenant_id, |rows| rows[0].3 >= 2).await;
    let rows = deliveries(db, school.tenant_id).await;
    assert_eq!(rows[0].2, "retrying", "{rows:?}");
    let (_, listed) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries"), admin)
        .await;
    let error = listed["data"][0]["last_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("connect"), "{error}");
    assert!(!listed.to_string().contains(&secret));

    // The receiver comes up: the next retry delivers, once.
    let (received, _server) = start_receiver(port).await;
    run_worker_until(db, egress.clone(), school.tenant_id, |rows| {
        rows[0].2 == "delivered"
    })
    .await;
    run_worker_until(db, egress.clone(), school.tenant_id, |_| true).await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "delivered exactly once after recovery");
    let (headers, body) = &got[0];
    verify(&secret, headers, body);
    assert_eq!(headers["x-k12-event"], "submission.graded");
    assert_eq!(headers["x-k12-delivery"], rows[0].0.to_string().as_str());
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["event"], "submission.graded");
    assert_eq!(event["data"]["submission_id"], school.submission_id);
    assert_eq!(event["data"]["grade"], 8.0);
    let rows = deliveries(db, school.tenant_id).await;
    assert!(rows[0].3 >= 3 && rows[0].4 == Some(200), "{rows:?}");

    // The test ping: signed, sent now, recorded as a delivery, newest first.
    let (status, ping) = app
        .post(&format!("{ENDPOINTS}/{id}/test"), admin, json!({}))
        .await;
    assert_eq!(status, 200, "{ping}");
    assert_eq!(ping["delivered"], json!(true), "{ping}");
    assert_eq!(ping["status_code"], 200);
    assert!(ping["duration_ms"].is_u64());
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    verify(&secret, &got[1].0, &got[1].1);
    assert_eq!(got[1].0["x-k12-event"], "ping");
    let (_, listed) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries?limit=1"), admin)
        .await;
    assert_eq!(listed["data"][0]["event"], "ping");
    assert!(listed["next_cursor"].is_string());

    // An endpoint that no longer passes the guard is refused at delivery time too.
    let mut tx = app.tenant_tx(school.tenant_id).await;
    sqlx::query("UPDATE webhook_endpoints SET url = 'http://127.0.0.1:1/hook' WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (_, ping) = app
        .post(&format!("{ENDPOINTS}/{id}/test"), admin, json!({}))
        .await;
    assert_eq!(ping["delivered"], json!(false));
    let error = ping["error"].as_str().unwrap();
    assert!(error.contains("URL refused (port_not_allowed)"), "{ping}");
    assert_eq!(received.lock().unwrap().len(), 2);

    // An endpoint switched off after an event: that delivery fails once, without retries.
    app.put(&format!("{ENDPOINTS}/{id}"), admin, json!({"url": url}))
        .await;
    app.put(
        &format!("/api/v1/submissions/{}/grade", school.submission_id),
        &school.teacher.token,
        json!({"grade": 9}),
    )
    .await;
    let (status, _) = app
        .put(
            &format!("{ENDPOINTS}/{id}"),
            admin,
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200);
    run_worker_until(db, egress, school.tenant_id, |rows| {
        rows.last().is_some_and(|r| r.2 == "failed")
    })
    .await;
    let last = deliveries(db, school.tenant_id).await.pop().unwrap();
    assert_eq!(
        (last.1.as_str(), last.3),
        ("submission.graded", 1),
        "{last:?}"
    );
    assert_eq!(received.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn integration_secrets_are_write_only_and_urls_are_guarded() {
    let app = TestApp::spawn().await;
    let school = School::build(&app, "alpha").await;
    let admin = &school.admin.token;
    let path = "/api/v1/admin/integrations";

    let (status, created) = app
        .post(
            path,
            admin,
            json!({"provider": "oneroster", "settings": {"base_url": "https://93.184.215.14/ims"},
                   "secrets": {"client_secret": "s3cr3t-value", "client_id": "id-123"}}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        created["secret_keys"],
        json!(["client_id", "client_secret"])
    );
    assert_eq!(created["status"], "active");
    assert!(!created.to_string().contains("s3cr3t-value"));
    let (_, shown) = app.get(&format!("{path}/{id}"), admin).await;
    assert!(!shown.to_string().contains("s3cr3t-value"), "{shown}");
    let (_, list) = app.get(path, admin).await;
    assert!(!list.to_string().contains("s3cr3t-value"));
    let mut tx = app.tenant_tx(school.tenant_id).await;
    let (sealed,): (Vec<u8>,) =
        sqlx::query_as("SELECT secrets_encrypted FROM integration_configs WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));

    // Any http(s) URL in the settings, at any depth, is judged.
    for (settings, field, reason) in [
        (
            json!({"base_url": "http://169.254.169.254/latest"}),
            "settings.base_url",
            "metadata_address",
        ),
        (
            json!({"hooks": [{"url": "https://10.0.0.1/"}]}),
            "settings.hooks[0].url",
            "private_address",
        ),
        (
            json!({"x": "https://127.0.0.1/"}),
            "settings.x",
            "loopback_address",
        ),
    ] {
        let (status, body) = app
            .post(
                path,
                admin,
                json!({"provider": "slack", "settings": settings}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "unsafe_url");
        assert_eq!(body["error"]["details"]["reason"], reason);
        assert_eq!(body["error"]["details"]["field"], field);
        let (status, body) = app
            .put(
                &format!("{path}/{id}"),
                admin,
                json!({"settings": settings}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (422, json!("unsafe_url"))
        );
    }

    let (status, updated) = app
        .put(
            &format!("{path}/{id}"),
            admin,
            json!({"secrets": {"token": "new-secret"}, "status": "disabled"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["secret_keys"], json!(["token"]));
    assert_eq!(updated["status"], "disabled");
    assert_eq!(updated["settings"]["base_url"], "https://93.184.215.14/ims");
    assert!(!updated.to_string().contains("new-secret"));

    app.create_tenant("beta", None).await;
    let other = app.create_user("beta", "admin", &["admin"], false).await;
    let (status, _) = app.get(&format!("{path}/{id}"), &other.token).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("{path}/{id}"),
            Actor::Token(admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn each_change_emits_its_event_in_its_own_transaction() {
    let app = TestApp::spawn().await;
    let school = School::build(&app, "alpha").await;
    let (admin, teacher) = (&school.admin.token, &school.teacher.token);
    let (status, _) = app
        .post(
            ENDPOINTS,
            admin,
            json!({"url": "https://93.184.215.14/hook", "events": platform::webhooks::EVENTS}),
        )
        .await;
    assert_eq!(status, 201);
    let events = |rows: Vec<(i64, String, String, i32, Option<i32>)>| {
        rows.into_iter().map(|r| r.1).collect::<Vec<_>>()
    };

    let (_, draft) = app
        .post(
            &format!("/api/v1/courses/{}/assignments", school.course_id),
            teacher,
            json!({"title": "Later"}),
        )
        .await;
    assert!(events(deliveries(app.pool(), school.tenant_id).await).is_empty());
    let draft = draft["id"].as_i64().unwrap();
    app.post(
        &format!("/api/v1/assignments/{draft}/publish"),
        teacher,
        json!({}),
    )
    .await;
    app.post(
        &format!("/api/v1/courses/{}/assignments", school.course_id),
        teacher,
        json!({"title": "Now", "publish": true}),
    )
    .await;
    let (status, _) = app
        .post(
            &format!("/api/v1/assignments/{draft}/submissions"),
            &school.student.token,
            json!({"body": "done"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post(
            &format!("/api/v1/sections/{}/enrollments", school.section_id),
            teacher,
            json!({"user_ids": [school.outsider.id], "role": "student"}),
        )
        .await;
    assert_eq!(status, 201);
    // A refused change (a grade out of range) commits nothing, event included.
    let (status, _) = app
        .put(
            &format!("/api/v1/submissions/{}/grade", school.submission_id),
            teacher,
            json!({"grade": 1000}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        events(deliveries(app.pool(), school.tenant_id).await),
        [
            "assignment.published",
            "assignment.published",
            "submission.created",
            "enrollment.created"
        ]
    );
}
