//! Walks every route in the OpenAPI document (which the registry builds from every
//! registered route) with every kind of actor, and compares each status with the table
//! of who may do what. A new route fails this test until it is added to the table.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, TestApp};

/// Actor order in the table.
const ACTORS: [&str; 7] = [
    "anonymous",
    "student",
    "teacher",
    "tenant_admin",
    "other_tenant_admin",
    "district_admin",
    "operator",
];

/// (method, path) -> expected status per actor, in [`ACTORS`] order.
fn expectations() -> BTreeMap<(&'static str, &'static str), [u16; 7]> {
    BTreeMap::from([
        (
            ("GET", "/api/v1/health"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        (
            ("GET", "/api/v1/openapi.json"),
            [200, 200, 200, 200, 200, 200, 200],
        ),
        // Wrong credentials for everyone: public routes, 401 from the handler.
        (
            ("POST", "/api/v1/auth/login"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (
            ("POST", "/api/v1/auth/setup"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (
            ("POST", "/api/v1/operator/login"),
            [401, 401, 401, 401, 401, 401, 401],
        ),
        (("GET", "/api/v1/me"), [401, 200, 200, 200, 200, 200, 200]),
        (
            ("POST", "/api/v1/auth/logout"),
            [401, 204, 204, 204, 204, 204, 204],
        ),
        (
            ("GET", "/api/v1/users"),
            [401, 403, 403, 200, 200, 403, 403],
        ),
        (
            ("POST", "/api/v1/users"),
            [401, 403, 403, 201, 201, 403, 403],
        ),
        (
            ("GET", "/api/v1/users/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("PUT", "/api/v1/users/{id}"),
            [401, 403, 403, 200, 404, 403, 403],
        ),
        (
            ("GET", "/api/v1/district/tenants"),
            [401, 403, 403, 403, 403, 200, 403],
        ),
        (
            ("GET", "/api/v1/operator/tenants"),
            [401, 403, 403, 403, 403, 403, 200],
        ),
    ])
}

/// A valid body for routes that take one (unique per call where it matters).
fn body(method: &str, path: &str, n: usize) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/v1/auth/login") => Some(
            json!({"tenant": "alpha", "email": "nobody@alpha.test", "password": "wrong-password"}),
        ),
        ("POST", "/api/v1/auth/setup") => Some(
            json!({"token": "k12s_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password": "a-long-password"}),
        ),
        ("POST", "/api/v1/operator/login") => {
            Some(json!({"email": "nobody@example.org", "password": "wrong-password"}))
        }
        ("POST", "/api/v1/users") => {
            Some(json!({"email": format!("walk{n}@example.org"), "roles": ["student"]}))
        }
        ("PUT", "/api/v1/users/{id}") => Some(json!({"first_name": format!("Walk {n}")})),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_answers_every_actor_as_the_table_says() {
    let app = TestApp::spawn().await;
    let district = app.create_district("district-one").await;
    app.create_tenant("alpha", Some(district)).await;
    app.create_tenant("beta", None).await;
    app.create_tenant("gamma", Some(district)).await;
    let student = app
        .create_user("alpha", "student", &["student"], false)
        .await;
    let teacher = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let other_admin = app.create_user("beta", "admin", &["admin"], false).await;
    let district_admin = app
        .create_user("gamma", "district", &["teacher"], true)
        .await;
    let operator = app.create_operator("ops@example.org").await;
    let tokens = [
        None,
        Some(student.token.as_str()),
        Some(teacher.token.as_str()),
        Some(admin.token.as_str()),
        Some(other_admin.token.as_str()),
        Some(district_admin.token.as_str()),
        Some(operator.as_str()),
    ];

    let (_, doc) = app
        .request(Method::GET, "/api/v1/openapi.json", Actor::Anonymous, None)
        .await;
    let mut routes: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    // Logging out revokes the actor's token: walk it last.
    routes.sort_by_key(|(_, p)| p.ends_with("/logout"));
    let table = expectations();
    let mut mismatches = Vec::new();
    let mut n = 0;
    for (method, path) in &routes {
        let Some(expected) = table.get(&(method.as_str(), path.as_str())) else {
            mismatches.push(format!("{method} {path}: not in the access table"));
            continue;
        };
        for (i, token) in tokens.iter().enumerate() {
            n += 1;
            let concrete = path.replace("{id}", &student.id.to_string());
            let actor = token.map(Actor::Token).unwrap_or(Actor::Anonymous);
            let (status, b) = app
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    &concrete,
                    actor,
                    body(method, path, n),
                )
                .await;
            if status != expected[i] {
                mismatches.push(format!(
                    "{method} {path} as {}: got {status}, want {} ({b})",
                    ACTORS[i], expected[i]
                ));
            }
            if status >= 400 {
                assert!(
                    b["error"]["code"].is_string(),
                    "{method} {path}: error body not in the JSON format: {b}"
                );
            }
        }
    }
    assert_eq!(
        routes.len(),
        table.len(),
        "the table lists routes that are not registered"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
