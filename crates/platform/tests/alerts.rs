//! Alert rules and events (spec 07): the operator's system-wide rules and a school's own,
//! validation that names the allowed values, the URL guard on Slack targets, tenant
//! isolation, and the audit trail.

use serde_json::{json, Value};
use testkit::{School, TestApp};

const OP_RULES: &str = "/api/v1/operator/alert_configurations";
const ADMIN_RULES: &str = "/api/v1/admin/alert_configurations";

fn rule(name: &str) -> Value {
    json!({"name": name, "metric": "job_queue_depth", "comparison": "gt", "threshold": 10})
}

async fn delete(app: &TestApp, path: &str, token: &str) -> u16 {
    app.client
        .delete(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_spec_defaults_are_seeded_as_system_rules() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let (status, body) = app.get(OP_RULES, &op).await;
    assert_eq!(status, 200, "{body}");
    let rules = body["data"].as_array().unwrap();
    let mut names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Critical DB Connection Pool",
            "Critical Job Queue Backlog",
            "High DB Connection Pool Usage",
            "High Memory Usage",
            "Job Queue Backlog",
            "Job Queue High Latency",
            "Slow DB Response",
            "Stale Backup",
        ]
    );
    let stale = rules.iter().find(|r| r["name"] == "Stale Backup").unwrap();
    assert_eq!(stale["metric"], "backup_age_hours");
    assert_eq!(stale["comparison"], "gt");
    assert_eq!(stale["threshold"], 48.0);
    assert_eq!(stale["severity"], "critical");
    assert_eq!(stale["cooldown_minutes"], 30);
    assert_eq!(stale["tenant_id"], Value::Null);
    assert!(rules
        .iter()
        .all(|r| r["enabled"] == true && r["firing"] == false));
}

#[tokio::test]
async fn invalid_rules_are_422_naming_the_allowed_values() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    for (field, bad, allowed_len) in [
        ("metric", "cpu", 12),
        ("comparison", "ne", 5),
        ("severity", "fatal", 3),
        ("channel", "sms", 2),
    ] {
        let mut body = rule("Bad");
        body[field] = json!(bad);
        let (status, b) = app.post(OP_RULES, &op, body).await;
        assert_eq!(status, 422, "{field}: {b}");
        assert_eq!(b["error"]["code"], "validation_failed");
        assert_eq!(b["error"]["details"]["field"], field);
        let allowed = b["error"]["details"]["allowed"].as_array().unwrap();
        assert_eq!(allowed.len(), allowed_len, "{b}");
    }
    let (_, b) = app
        .post(OP_RULES, &op, {
            let mut r = rule("Bad metric");
            r["metric"] = json!("nope");
            r
        })
        .await;
    assert!(b["error"]["details"]["allowed"]
        .as_array()
        .unwrap()
        .contains(&json!("backup_age_hours")));

    // A Slack target is judged by the URL guard; an email target must be an address.
    let mut slack = rule("Loopback hook");
    slack["target"] = json!("https://127.0.0.1/services/x");
    let (status, b) = app.post(OP_RULES, &op, slack).await;
    assert_eq!(status, 422, "{b}");
    assert_eq!(b["error"]["code"], "unsafe_url");
    assert_eq!(b["error"]["details"]["field"], "target");
    let mut email = rule("Bad email");
    email["channel"] = json!("email");
    email["target"] = json!("not-an-address");
    let (status, b) = app.post(OP_RULES, &op, email).await;
    assert_eq!(status, 422, "{b}");
    assert_eq!(b["error"]["details"]["field"], "target");

    for (field, value) in [
        ("cooldown_minutes", json!(-1)),
        ("cooldown_minutes", json!(100_000)),
        ("threshold", json!(1e300)),
        ("name", json!("   ")),
    ] {
        let mut body = rule("Range");
        body[field] = value;
        let (status, b) = app.post(OP_RULES, &op, body).await;
        assert_eq!(status, 422, "{field}: {b}");
        assert_eq!(b["error"]["details"]["field"], field, "{b}");
    }
    // Wrong types are the client's fault too, never a 500.
    let (status, _) = app
        .post(OP_RULES, &op, json!({"name": "x", "metric": "job_latency"}))
        .await;
    assert!(status == 400 || status == 422, "{status}");
}

#[tokio::test]
async fn operators_manage_system_rules_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    let mut body = rule("Backlog for the night shift");
    body["target"] = json!("https://93.184.215.14/services/T0/B0/secretpath");
    body["severity"] = json!("critical");
    body["cooldown_minutes"] = json!(5);
    let (status, created) = app.post(OP_RULES, &op, body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["severity"], "critical");
    assert_eq!(created["cooldown_minutes"], 5);
    assert_eq!(created["channel"], "slack");
    // The webhook's path is its credential: never shown.
    assert_eq!(created["target"], "https://93.184.215.14/…");
    assert!(!created.to_string().contains("secretpath"));

    let (status, b) = app.post(OP_RULES, &op, body).await;
    assert_eq!(status, 409, "{b}");

    let path = format!("{OP_RULES}/{id}");
    let (status, updated) = app
        .put(&path, &op, json!({"threshold": 250.5, "enabled": false}))
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["threshold"], 250.5);
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["target"], "https://93.184.215.14/…");
    // Switching to email needs an address.
    let (status, b) = app.put(&path, &op, json!({"channel": "email"})).await;
    assert_eq!(
        status, 200,
        "a system rule may fall back to the default: {b}"
    );
    assert_eq!(b["target"], Value::Null);
    let (status, b) = app
        .put(
            &path,
            &op,
            json!({"channel": "email", "target": "oncall@example.org"}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["target"], "oncall@example.org");
    let (status, b) = app.put(&path, &op, json!({"comparison": "between"})).await;
    assert_eq!(status, 422, "{b}");

    assert_eq!(delete(&app, &path, &op).await, 204);
    assert_eq!(app.get(&path, &op).await.0, 404);
    assert_eq!(delete(&app, &path, &op).await, 404);

    let mut sys = app.pool().system().await.unwrap();
    let events: Vec<(String, Value)> = sqlx::query_as(
        "SELECT event_type, metadata FROM platform_audit_logs
          WHERE auditable_type = 'alert_configuration' AND auditable_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *sys)
    .await
    .unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        types,
        [
            "alert_configuration.created",
            "alert_configuration.updated",
            "alert_configuration.updated",
            "alert_configuration.updated",
            "alert_configuration.deleted",
        ]
    );
    assert!(events
        .iter()
        .all(|e| !e.1.to_string().contains("secretpath")));
}

#[tokio::test]
async fn a_school_sees_and_changes_only_its_own_rules() {
    let app = TestApp::spawn().await;
    let alpha = School::build(&app, "alpha").await;
    let beta = School::build(&app, "beta").await;
    let op = app.create_operator("ops@example.org").await;

    // A school's rule needs a target.
    let (status, b) = app
        .post(ADMIN_RULES, &alpha.admin.token, rule("No target"))
        .await;
    assert_eq!(status, 422, "{b}");
    assert_eq!(b["error"]["details"]["field"], "target");

    let mut body = rule("Our backlog");
    body["channel"] = json!("email");
    body["target"] = json!("  it@alpha.example.org ");
    let (status, created) = app
        .post(ADMIN_RULES, &alpha.admin.token, body.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["tenant_id"], alpha.tenant_id);
    assert_eq!(created["target"], "it@alpha.example.org");
    let id = created["id"].as_i64().unwrap();
    // The same name in another school is another rule.
    let (status, _) = app.post(ADMIN_RULES, &beta.admin.token, body).await;
    assert_eq!(status, 201);

    let (_, list) = app.get(ADMIN_RULES, &alpha.admin.token).await;
    let ids: Vec<i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [id],
        "only the school's own rule, no system rule: {list}"
    );

    let path = format!("{ADMIN_RULES}/{id}");
    assert_eq!(app.get(&path, &beta.admin.token).await.0, 404);
    assert_eq!(
        app.put(&path, &beta.admin.token, json!({"enabled": false}))
            .await
            .0,
        404
    );
    assert_eq!(delete(&app, &path, &beta.admin.token).await, 404);
    // Nor does a school reach a system rule by its id, or an operator a school's rule.
    let (_, system) = app.get(OP_RULES, &op).await;
    let system_id = system["data"][0]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("{ADMIN_RULES}/{system_id}"), &alpha.admin.token)
            .await
            .0,
        404
    );
    assert_eq!(app.get(&format!("{OP_RULES}/{id}"), &op).await.0, 404);
    let (_, op_list) = app.get(OP_RULES, &op).await;
    assert!(op_list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["tenant_id"].is_null()));

    let (status, b) = app
        .put(&path, &alpha.admin.token, json!({"target": "nope"}))
        .await;
    assert_eq!(status, 422, "{b}");
    let (status, b) = app
        .put(&path, &alpha.admin.token, json!({"severity": "info"}))
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["severity"], "info");

    let (status, events) = app
        .get("/api/v1/admin/alert_events", &alpha.admin.token)
        .await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(events["data"], json!([]));

    assert_eq!(delete(&app, &path, &alpha.admin.token).await, 204);
    let mut tx = app.tenant_tx(alpha.tenant_id).await;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM audit_logs WHERE auditable_type = 'alert_configuration'
            AND auditable_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(n, 3, "created, updated, deleted");
}
