//! Sessions, logins, setup tokens, operators, users administration and the audit trail.

use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, TestApp};

const PASSWORD: &str = "correct-horse-battery";

async fn login_raw(app: &TestApp, tenant: &str, email: &str, password: &str) -> (u16, Value) {
    app.request(
        Method::POST,
        "/api/v1/auth/login",
        Actor::Anonymous,
        Some(json!({"tenant": tenant, "email": email, "password": password})),
    )
    .await
}

async fn audit_events(app: &TestApp, tenant: i64) -> Vec<(String, Value)> {
    let mut tx = app.tenant_tx(tenant).await;
    sqlx::query_as("SELECT event_type, metadata FROM audit_logs ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn login_answers_token_user_and_audits_success_and_failure_alike() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    let (s, body) = login_raw(&app, "alpha", "TEACHER@alpha.test", PASSWORD).await;
    assert_eq!(s, 200, "{body}");
    assert!(body["token"].as_str().unwrap().starts_with("k12u_"));
    assert!(body["expires_at"].is_string());
    assert_eq!(body["user"]["id"], user.id);
    assert_eq!(body["user"]["roles"], json!(["teacher"]));
    assert_eq!(body["user"]["tenant"]["slug"], "alpha");

    let (s1, wrong) = login_raw(&app, "alpha", &user.email, "wrong-password").await;
    let (s2, unknown) = login_raw(&app, "alpha", "ghost@alpha.test", "wrong-password").await;
    let (s3, no_tenant) = login_raw(&app, "nowhere", "ghost@alpha.test", "wrong-password").await;
    assert_eq!((s1, s2, s3), (401, 401, 401));
    assert_eq!(
        wrong, unknown,
        "the same answer whether the email exists or not"
    );
    assert_eq!(wrong, no_tenant);

    let events = audit_events(&app, t).await;
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "auth.login",
            "auth.login",
            "auth.login_failed",
            "auth.login_failed"
        ]
    );
    assert_eq!(events[2].1["reason"], "wrong_password");
    assert_eq!(events[3].1["reason"], "unknown_email");
    let mut sys = app.pool().system().await.unwrap();
    let (platform_failures,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM platform_audit_logs WHERE event_type = 'auth.login_failed'",
    )
    .fetch_one(&mut *sys)
    .await
    .unwrap();
    assert_eq!(
        platform_failures, 1,
        "a login naming no known tenant is audited system-wide"
    );
}

#[tokio::test]
async fn logout_and_expiry_end_a_session() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    let user = app
        .create_user("alpha", "teacher", &["teacher"], false)
        .await;
    assert_eq!(app.get("/api/v1/me", &user.token).await.0, 200);
    let (s, _) = app
        .request(
            Method::POST,
            "/api/v1/auth/logout",
            Actor::Token(&user.token),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.get("/api/v1/me", &user.token).await.0, 401);

    let token = app.login("alpha", &user.email, PASSWORD).await;
    assert_eq!(app.get("/api/v1/me", &token).await.0, 200);
    let mut tx = app.tenant_tx(t).await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.0, 401);
    let mut tx = app.tenant_tx(t).await;
    let (hashed,): (bool,) =
        sqlx::query_as("SELECT bool_and(length(token_hash) = 32) FROM sessions")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert!(hashed, "only SHA-256 hashes are stored");
}

#[tokio::test]
async fn setup_tokens_are_single_use_and_expire() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let (s, created) = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"email": "new@alpha.test", "first_name": "New", "roles": ["teacher"]}),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let setup = created["setup_token"].as_str().unwrap().to_string();
    assert_eq!(
        login_raw(&app, "alpha", "new@alpha.test", "whatever-password")
            .await
            .0,
        401
    );

    let setup_req = |token: String, password: &'static str| {
        app.request(
            Method::POST,
            "/api/v1/auth/setup",
            Actor::Anonymous,
            Some(json!({"token": token, "password": password})),
        )
    };
    let (s, b) = setup_req(setup.clone(), "short").await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    // Common and guessable passwords are refused with the reason, and the token survives.
    for weak in ["password123", "Summer2024!", "new@alpha.test"] {
        let (s, b) = setup_req(setup.clone(), weak).await;
        assert_eq!(
            (s, b["error"]["details"]["field"].as_str()),
            (422, Some("password")),
            "{weak}: {b}"
        );
        let reason = b["error"]["details"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("at least 10") || reason.contains("too easy to guess"),
            "{reason}"
        );
    }
    let (s, b) = setup_req(setup.clone(), "new@alpha.test").await;
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email or name"),
        "{s} {b}"
    );
    let (s, b) = setup_req(setup.clone(), "a-long-new-password").await;
    assert_eq!(s, 200, "a strong passphrase: {b}");
    assert_eq!(b["kind"], "user");
    assert_eq!(
        app.get("/api/v1/me", b["token"].as_str().unwrap()).await.0,
        200
    );
    let (s, _) = setup_req(setup.clone(), "another-password").await;
    assert_eq!(s, 401, "a setup token works once");
    assert_eq!(
        login_raw(&app, "alpha", "new@alpha.test", "a-long-new-password")
            .await
            .0,
        200
    );

    // Expired tokens are refused.
    let (_, created) = app
        .post(
            "/api/v1/users",
            &admin.token,
            json!({"email": "late@alpha.test"}),
        )
        .await;
    let mut tx = app.tenant_tx(t).await;
    sqlx::query(
        "UPDATE setup_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (s, _) = setup_req(
        created["setup_token"].as_str().unwrap().to_string(),
        "a-long-new-password",
    )
    .await;
    assert_eq!(s, 401);
    let (s, _) = setup_req(
        "k12s_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        "a-long-new-password",
    )
    .await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn operators_set_up_sign_in_and_list_tenants() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    app.create_tenant("beta", None).await;
    let mut tx = app.pool().system().await.unwrap();
    let created = platform::operators::create(
        &mut tx,
        &platform::identity::Email::parse("ops@example.org").unwrap(),
        "Ops",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (s, b) = app
        .request(
            Method::POST,
            "/api/v1/auth/setup",
            Actor::Anonymous,
            Some(json!({"token": created.setup_token, "password": "operator-password"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["kind"], "operator");
    let (s, b) = app
        .request(
            Method::POST,
            "/api/v1/operator/login",
            Actor::Anonymous,
            Some(json!({"email": "OPS@example.org", "password": "operator-password"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let token = b["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("k12o_"));
    let (s, me) = app.get("/api/v1/me", &token).await;
    assert_eq!((s, me["kind"].as_str()), (200, Some("operator")));
    let (s, page) = app.get("/api/v1/operator/tenants?limit=1", &token).await;
    assert_eq!(s, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let (_, page2) = app
        .get(
            &format!(
                "/api/v1/operator/tenants?limit=1&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(page2["data"][0]["slug"], "beta");
    let (s, _) = app
        .request(
            Method::POST,
            "/api/v1/operator/login",
            Actor::Anonymous,
            Some(json!({"email": "ops@example.org", "password": "nope-nope-nope"})),
        )
        .await;
    assert_eq!(s, 401);
    let mut sys = app.pool().system().await.unwrap();
    let kinds: Vec<(String,)> =
        sqlx::query_as("SELECT event_type FROM platform_audit_logs ORDER BY id")
            .fetch_all(&mut *sys)
            .await
            .unwrap();
    let kinds: Vec<&str> = kinds.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "operator.created",
            "operator.setup",
            "operator.login",
            "operator.login_failed"
        ]
    );
}

#[tokio::test]
async fn tenant_admins_manage_users_and_roles() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    let admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let student = app
        .create_user("alpha", "student", &["student"], false)
        .await;

    let (s, u) = app
        .put(
            &format!("/api/v1/users/{}", student.id),
            &admin.token,
            json!({"roles": ["teacher", "curriculum_lead"], "first_name": "Promoted"}),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["roles"], json!(["curriculum_lead", "teacher"]));
    assert_eq!(u["first_name"], "Promoted");
    let (_, me) = app.get("/api/v1/me", &student.token).await;
    assert!(me["permissions"]
        .as_array()
        .unwrap()
        .contains(&json!("standards:manage")));

    let (s, u) = app
        .put(
            &format!("/api/v1/users/{}", student.id),
            &admin.token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!((s, u["disabled"].as_bool()), (200, Some(true)));
    assert_eq!(
        app.get("/api/v1/me", &student.token).await.0,
        401,
        "disabling ends sessions"
    );
    assert_eq!(
        login_raw(&app, "alpha", &student.email, PASSWORD).await.0,
        401
    );
    let (s, _) = app
        .put(
            &format!("/api/v1/users/{}", student.id),
            &admin.token,
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        login_raw(&app, "alpha", &student.email, PASSWORD).await.0,
        200
    );

    let (s, b) = app
        .put(
            &format!("/api/v1/users/{}", admin.id),
            &admin.token,
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("self_lockout"))
    );
    let (s, _) = app
        .put(
            &format!("/api/v1/users/{}", admin.id),
            &admin.token,
            json!({"roles": ["teacher"]}),
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = app
        .put(
            &format!("/api/v1/users/{}", student.id),
            &admin.token,
            json!({"roles": ["admin", "nope"]}),
        )
        .await;
    assert_eq!(s, 422);
    let (_, u) = app
        .get(&format!("/api/v1/users/{}", student.id), &admin.token)
        .await;
    assert_eq!(
        u["roles"],
        json!(["curriculum_lead", "teacher"]),
        "a failed update changes nothing"
    );

    let events: Vec<String> = audit_events(&app, t)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(events.iter().filter(|e| *e == "user.updated").count(), 3);
}

#[tokio::test]
async fn another_tenants_records_answer_404_whatever_the_endpoint() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    app.create_tenant("beta", None).await;
    let alpha_admin = app.create_user("alpha", "admin", &["admin"], false).await;
    let beta_admin = app.create_user("beta", "admin", &["admin"], false).await;
    let beta_user = app
        .create_user("beta", "teacher", &["teacher"], false)
        .await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(json!({"first_name": "pwned"}))),
    ] {
        let (s, b) = app
            .request(
                method,
                &format!("/api/v1/users/{}", beta_user.id),
                Actor::Token(&alpha_admin.token),
                body,
            )
            .await;
        assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
    }
    let (_, list) = app.get("/api/v1/users?limit=200", &alpha_admin.token).await;
    let emails: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@alpha.test"]);
    // Same email in another tenant is allowed: uniqueness is per tenant and reveals nothing.
    let (s, _) = app
        .post(
            "/api/v1/users",
            &alpha_admin.token,
            json!({"email": beta_user.email}),
        )
        .await;
    assert_eq!(s, 201);
    // A token whose tenant prefix is edited finds nothing.
    let forged = beta_admin.token.replacen(
        &format!("k12u_{}_", beta_admin.tenant_id),
        &format!("k12u_{}_", alpha_admin.tenant_id),
        1,
    );
    assert_eq!(app.get("/api/v1/me", &forged).await.0, 401);
}
