//! The API conventions of spec 01, checked over real HTTP: the JSON error format on every
//! error, pagination, cookies, request ids, health.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, TestApp};

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn every_kind_of_bad_request_gets_the_json_error_format() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let url = format!("{}/api/v1/users", app.base_url);
    let send = |req: reqwest::RequestBuilder| async move {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body: Value = res.json().await.unwrap();
        assert_eq!(ct.as_deref(), Some("application/json"));
        (status, body)
    };
    let c = &app.client;
    let t = &admin.token;

    let (s, b) = send(
        c.post(&url)
            .bearer_auth(t)
            .header("content-type", "application/json")
            .body("{\"email\":"),
    )
    .await;
    assert_error(s, &b, 400, "bad_request");
    let (s, b) = send(
        c.post(&url)
            .bearer_auth(t)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_error(s, &b, 415, "unsupported_media_type");
    let (s, b) = send(c.post(&url).bearer_auth(t).body("{}")).await;
    assert_error(s, &b, 415, "unsupported_media_type");
    let (s, b) = send(
        c.post(&url)
            .bearer_auth(t)
            .json(&json!({"email": "a@b.org", "emial": "typo"})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(c.post(&url).bearer_auth(t).json(&json!({"email": 5}))).await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(
        c.post(&url)
            .bearer_auth(t)
            .json(&json!({"email": "not-an-email"})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    assert_eq!(b["error"]["details"]["field"], "email");
    let (s, b) = send(
        c.post(&url)
            .bearer_auth(t)
            .json(&json!({"email": "x@y.org", "roles": ["wizard"]})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    let big = "x".repeat(2 * 1024 * 1024);
    let (s, b) = send(c.post(&url).bearer_auth(t).json(&json!({"email": big}))).await;
    assert_error(s, &b, 413, "payload_too_large");
    let (s, b) = send(c.get(format!("{}/api/v1/no/such/route", app.base_url))).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = send(c.delete(&url).bearer_auth(t)).await;
    assert_error(s, &b, 405, "method_not_allowed");
    let (s, b) = send(c.get(&url)).await;
    assert_error(s, &b, 401, "unauthenticated");
    let (s, b) = send(c.get(&url).bearer_auth("k12u_1_not-a-real-token")).await;
    assert_error(s, &b, 401, "unauthenticated");
    let (s, b) = send(c.get(&url).header("authorization", "Basic Zm9vOmJhcg==")).await;
    assert_error(s, &b, 401, "unauthenticated");
    let (s, b) = send(c.get(format!("{url}/abc")).bearer_auth(t)).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = send(c.get(format!("{url}/999999")).bearer_auth(t)).await;
    assert_error(s, &b, 404, "not_found");
    let (s, b) = send(c.get(format!("{url}?limit=abc")).bearer_auth(t)).await;
    assert_error(s, &b, 400, "bad_request");

    // Duplicate email, case-insensitively: 409, and nothing half-written.
    let (s, _) = app
        .post(
            "/api/v1/users",
            t,
            json!({"email": "dup@alpha.test", "roles": ["teacher"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, b) = app
        .post(
            "/api/v1/users",
            t,
            json!({"email": "DUP@alpha.test", "roles": ["teacher"]}),
        )
        .await;
    assert_error(s, &b, 409, "already_exists");
    let (_, list) = app.get("/api/v1/users?limit=200", t).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_429() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    for _ in 0..10 {
        let (s, b) = app
            .request(
                Method::POST,
                "/api/v1/auth/login",
                Actor::Anonymous,
                Some(json!({"tenant": "alpha", "email": user.email, "password": "wrong-password"})),
            )
            .await;
        assert_error(s, &b, 401, "invalid_credentials");
    }
    let (s, b) = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            Actor::Anonymous,
            Some(json!({"tenant": "alpha", "email": user.email, "password": testkit_password()})),
        )
        .await;
    assert_error(s, &b, 429, "rate_limited");
}

fn testkit_password() -> &'static str {
    "correct-horse-battery"
}

#[tokio::test]
async fn lists_paginate_with_opaque_cursors() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    for i in 0..6 {
        let (s, _) = app
            .post(
                "/api/v1/users",
                &admin.token,
                json!({"email": format!("u{i}@alpha.test")}),
            )
            .await;
        assert_eq!(s, 201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let (s, page) = app.get(&path, &admin.token).await;
        assert_eq!(s, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|u| u["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(sorted, seen, "no duplicates across pages");
    let (_, default_page) = app.get("/api/v1/users", &admin.token).await;
    assert_eq!(default_page["data"].as_array().unwrap().len(), 7);
    assert!(default_page["next_cursor"].is_null());
    for bad in [
        "limit=0",
        "limit=201",
        "cursor=garbage",
        "cursor=bm90IGpzb24",
    ] {
        let (s, b) = app.get(&format!("/api/v1/users?{bad}"), &admin.token).await;
        assert_error(s, &b, 422, "validation_failed");
    }
    let (_, filtered) = app.get("/api/v1/users?role=admin", &admin.token).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn health_is_public_and_responses_carry_a_request_id() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/v1/health", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("x-request-id").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "database": "ok"}));
}

async fn login_cookie(app: &TestApp, headers: &[(&str, &str)]) -> String {
    app.create_tenant("alpha", None).await;
    app.create_user("alpha", "admin", &["admin"], false).await;
    let mut req = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .json(&json!({"tenant": "alpha", "email": "admin@alpha.test", "password": testkit_password()}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    res.headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn development_over_http_uses_the_plain_cookie() {
    let app = TestApp::spawn().await;
    let cookie = login_cookie(&app, &[]).await;
    assert!(cookie.starts_with("k12_session=k12u_"), "{cookie}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let token = cookie.split(';').next().unwrap();
    let res = app
        .client
        .get(format!("{}/api/v1/me", app.base_url))
        .header("cookie", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);

    let https = login_cookie_again(&app, &[("x-forwarded-proto", "https")]).await;
    assert!(
        https.starts_with("__Host-k12_session=") && https.contains("Secure"),
        "{https}"
    );
}

async fn login_cookie_again(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let mut req = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .json(&json!({"tenant": "alpha", "email": "admin@alpha.test", "password": testkit_password()}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    res.headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn production_uses_the_host_prefixed_secure_cookie_only() {
    let app = TestApp::spawn_with_env(platform::config::Environment::Production).await;
    let cookie = login_cookie(&app, &[]).await;
    assert!(cookie.starts_with("__Host-k12_session=k12u_"), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    let me = |c: String| {
        let req = app
            .client
            .get(format!("{}/api/v1/me", app.base_url))
            .header("cookie", c);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(format!("__Host-k12_session={value}")).await, 200);
    assert_eq!(
        me(format!("k12_session={value}")).await,
        401,
        "the development cookie is refused in production"
    );
}

#[tokio::test]
async fn development_responses_report_statement_counts_in_server_timing() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let res = app
        .client
        .get(format!("{}/api/v1/users", app.base_url))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    let timing = res
        .headers()
        .get("server-timing")
        .expect("Server-Timing in development")
        .to_str()
        .unwrap()
        .to_string();
    assert!(timing.starts_with("db;desc=\""), "{timing}");
    let n: u64 = timing
        .trim_start_matches("db;desc=\"")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // One transaction for a GET: the session lookup, the list, COMMIT (BEGIN and
    // set_config travel as one simple query, outside the statement log).
    assert!(
        n >= 3,
        "the auth lookup, the list and the commit run statements: {timing}"
    );
}
