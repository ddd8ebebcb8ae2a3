//! Inbound hardening seen from the outside: NUL characters never reach PostgreSQL, the
//! security headers on every registered route and every fallback, the cross-site check
//! on cookie-authenticated writes, CORS from the allow-list, and the OpenAPI document's
//! 204 responses without a body.

use platform::config::Environment;
use platform::http::ServiceConfig;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, School, TestApp};

const ALWAYS: [(&str, &str); 8] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
    ("x-permitted-cross-domain-policies", "none"),
];

fn missing_headers(headers: &HeaderMap) -> Vec<String> {
    let mut missing: Vec<String> = ALWAYS
        .iter()
        .filter(|(name, value)| headers.get(*name).and_then(|v| v.to_str().ok()) != Some(*value))
        .map(|(name, _)| name.to_string())
        .collect();
    for banned in ["server", "x-powered-by"] {
        if headers.contains_key(banned) {
            missing.push(format!("{banned} (must be absent)"));
        }
    }
    missing
}

async fn routes(app: &TestApp) -> Vec<(Method, String, bool)> {
    let (_, doc) = app
        .request(Method::GET, "/api/v1/openapi.json", Actor::Anonymous, None)
        .await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "1" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            routes.push((
                Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                concrete,
                op.get("requestBody").is_some(),
            ));
        }
    }
    routes.sort_by_key(|(_, p, _)| p.ends_with("/logout"));
    routes
}

#[tokio::test]
async fn every_route_and_every_fallback_carries_the_security_headers() {
    let app = TestApp::spawn_with_env(Environment::Production).await;
    let s = School::build(&app, "hdr").await;
    let mut problems = Vec::new();
    for (method, path, has_body) in routes(&app).await {
        for token in [None, Some(s.admin.token.as_str())] {
            let mut req = app
                .client
                .request(method.clone(), format!("{}{path}", app.base_url));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if has_body {
                req = req.json(&json!({}));
            }
            let res = req.send().await.unwrap();
            let headers = res.headers();
            let mut missing = missing_headers(headers);
            if headers.get("strict-transport-security").is_none() {
                missing.push("strict-transport-security".into());
            }
            if token.is_some()
                && headers.get("cache-control").and_then(|v| v.to_str().ok()) != Some("no-store")
            {
                missing.push("cache-control: no-store".into());
            }
            if !missing.is_empty() {
                problems.push(format!("{method} {path} ({}): {missing:?}", res.status()));
            }
        }
    }
    // Fallbacks and middleware answers: unknown route, wrong method, too large, no login.
    let big = "x".repeat(2 * 1024 * 1024);
    let fallbacks = [
        app.client.get(format!("{}/api/v1/nowhere", app.base_url)),
        app.client.delete(format!("{}/api/v1/health", app.base_url)),
        app.client
            .post(format!("{}/api/v1/auth/login", app.base_url))
            .header("content-type", "application/json")
            .body(big),
        app.client.get(format!("{}/api/v1/users", app.base_url)),
    ];
    let mut statuses = Vec::new();
    for req in fallbacks {
        let res = req.send().await.unwrap();
        statuses.push(res.status().as_u16());
        let missing = missing_headers(res.headers());
        if !missing.is_empty() {
            problems.push(format!("fallback {}: {missing:?}", res.status()));
        }
    }
    assert_eq!(statuses, [404, 405, 413, 401]);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn hsts_only_in_production() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/v1/health", app.base_url))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
    assert!(missing_headers(res.headers()).is_empty());
    assert!(
        res.headers().get("cache-control").is_none(),
        "anonymous answers may be cached"
    );
}

#[tokio::test]
async fn nul_characters_are_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "nul").await;
    let login = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .header("content-type", "application/json")
        .body(r#"{"tenant":"a\u0000b","email":"x@y.z","password":"pw"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 422);
    let body: Value = login.json().await.unwrap();
    assert_eq!(body["error"]["details"]["field"], "tenant", "{body}");

    let cases = [
        (
            Method::POST,
            "/api/v1/question_banks".to_string(),
            json!({"title": "a\u{0}b", "subject": "Math"}),
            "title",
        ),
        (
            Method::POST,
            "/api/v1/standard_frameworks".to_string(),
            json!({"name": "x\u{0}"}),
            "name",
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{}", s.teacher.id),
            json!({"roles": ["te\u{0}acher"]}),
            "roles[0]",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, b) = app
            .request(method, &path, Actor::Token(&s.admin.token), Some(body))
            .await;
        assert_eq!(status, 422, "{path}: {b}");
        assert_eq!(b["error"]["details"]["field"], field, "{path}: {b}");
    }
    let (status, b) = app
        .get("/api/v1/question_banks?status=%00", &s.admin.token)
        .await;
    assert_eq!(status, 422, "{b}");
    assert_eq!(b["error"]["details"]["field"], "status");
    // An escaped backslash followed by "u0000" is text, not NUL.
    let (status, b) = app
        .post(
            "/api/v1/question_banks",
            &s.admin.token,
            json!({"title": "C:\\u0000 path", "subject": "Math"}),
        )
        .await;
    assert_eq!(status, 201, "{b}");
}

#[tokio::test]
async fn a_204_is_documented_without_a_body() {
    let app = TestApp::spawn().await;
    let (_, doc) = app
        .request(Method::GET, "/api/v1/openapi.json", Actor::Anonymous, None)
        .await;
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(no_content) = op["responses"].get("204") {
                seen += 1;
                assert!(
                    no_content.get("content").is_none(),
                    "{method} {path}: a 204 has no content"
                );
            }
        }
    }
    assert!(seen > 3, "expected DELETE routes answering 204");
}

/// Signs in and answers the session cookie's `name=value`.
async fn cookie(app: &TestApp, tenant: &str, email: &str) -> String {
    let res = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .json(&json!({"tenant": tenant, "email": email, "password": testkit::PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn cookie_authenticated_writes_must_come_from_this_site() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "csrf").await;
    let teacher = cookie(&app, "csrf", &s.teacher.email).await;
    let host = app.base_url.trim_start_matches("http://").to_string();
    let publish = format!(
        "{}/api/v1/assignments/{}/publish",
        app.base_url, s.draft_assignment_id
    );
    let form = |origin: Option<&str>, site: Option<&str>| {
        let mut req = app
            .client
            .post(&publish)
            .header("cookie", &teacher)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req
    };
    let refused = [
        form(Some("https://evil.example"), None),
        form(Some("null"), None),
        form(None, Some("same-site")),
        form(None, Some("cross-site")),
    ];
    for req in refused {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site_request");
    }
    let (_, a) = app
        .get(
            &format!("/api/v1/assignments/{}", s.draft_assignment_id),
            &s.teacher.token,
        )
        .await;
    assert_eq!(a["status"], "draft", "nothing was published");

    // Our own origin passes, and so does a bearer token from anywhere.
    let own = form(Some(&format!("http://{host}")), Some("same-origin"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let bearer = app
        .client
        .post(format!(
            "{}/api/v1/assignments/{}/archive",
            app.base_url, s.draft_assignment_id
        ))
        .bearer_auth(&s.teacher.token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn every_body_less_write_checks_the_site_of_a_cookie_request() {
    let app = TestApp::spawn().await;
    let s = School::build(&app, "walk").await;
    let admin = cookie(&app, "walk", &s.admin.email).await;
    let mut checked = 0;
    for (method, path, has_body) in routes(&app).await {
        if method == Method::GET || has_body {
            continue;
        }
        checked += 1;
        let res = app
            .client
            .request(method.clone(), format!("{}{path}", app.base_url))
            .header("cookie", &admin)
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{method} {path}");
    }
    assert!(checked >= 10, "only {checked} body-less writes found");
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let outbound = testkit::test_outbound(testkit::test_egress());
    let mut config = ServiceConfig::new(Environment::Development, outbound);
    config.cors_origins = vec!["https://app.example.org".into()];
    let app = TestApp::spawn_with_config(config).await;
    let preflight = |origin: &str| {
        app.client
            .request(Method::OPTIONS, format!("{}/api/v1/courses", app.base_url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let ok = preflight("https://app.example.org").send().await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.org");
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    let other = preflight("https://evil.example").send().await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // With no origin configured, no CORS header at all.
    let plain = TestApp::spawn().await;
    let res = plain
        .client
        .get(format!("{}/api/v1/health", plain.base_url))
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    // An allowed origin may also send cookie-authenticated writes.
    let s = School::build(&app, "cors").await;
    let teacher = cookie(&app, "cors", &s.teacher.email).await;
    let res = app
        .client
        .post(format!(
            "{}/api/v1/assignments/{}/publish",
            app.base_url, s.draft_assignment_id
        ))
        .header("cookie", teacher)
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
