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

// ------------------------------------------------------------------ evaluation

/// Switches the seeded defaults off, so a test's outcome does not depend on this
/// machine's memory or pool.
async fn only_test_rules(app: &TestApp) {
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("UPDATE alert_configurations SET enabled = false")
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
}

/// `n` ready jobs in the queue: a real `job_queue_depth` of at least `n`.
async fn ready_jobs(app: &TestApp, n: usize) {
    let mut sys = app.pool().system().await.unwrap();
    for i in 0..n {
        platform::jobs::enqueue(
            &mut sys,
            &platform::jobs::kinds::Probe::new(format!("alerts-{i}")),
        )
        .await
        .unwrap();
    }
    sys.commit().await.unwrap();
}

async fn clear_jobs(app: &TestApp) {
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("DELETE FROM jobs")
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
}

async fn evaluate(app: &TestApp, op: &str) -> Vec<Value> {
    let (status, body) = app
        .post("/api/v1/operator/alerts/evaluate", op, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn evaluation_fires_skips_unmeasured_cools_down_and_resolves_once() {
    let app = TestApp::spawn().await;
    let alpha = School::build(&app, "alpha").await;
    let op = app.create_operator("ops@example.org").await;
    only_test_rules(&app).await;
    let (s, _) = app.post(OP_RULES, &op, rule("Backlog")).await;
    assert_eq!(s, 201);
    // Redis is not configured: redis_memory is null and must not count as 0.
    let mut unmeasured = rule("Redis small");
    unmeasured["metric"] = json!("redis_memory");
    unmeasured["comparison"] = json!("lt");
    unmeasured["threshold"] = json!(100);
    assert_eq!(app.post(OP_RULES, &op, unmeasured).await.0, 201);
    let mut school_rule = rule("School backlog");
    school_rule["comparison"] = json!("gte");
    school_rule["threshold"] = json!(12);
    school_rule["channel"] = json!("email");
    school_rule["target"] = json!("it@alpha.example.org");
    assert_eq!(
        app.post(ADMIN_RULES, &alpha.admin.token, school_rule)
            .await
            .0,
        201
    );

    assert!(evaluate(&app, &op).await.is_empty(), "an empty queue");
    ready_jobs(&app, 12).await;
    let fired = evaluate(&app, &op).await;
    let names: Vec<&str> = fired
        .iter()
        .map(|e| e["rule_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Backlog", "School backlog"], "{fired:?}");
    for e in &fired {
        assert_eq!(e["kind"], "fired");
        assert!(e["value"].as_f64().unwrap() >= 12.0);
        // No Slack default and no SMTP here: logged, not lost silently.
        assert_eq!(e["notification_status"], "logged", "{e}");
    }
    assert_eq!(fired[1]["tenant_id"], alpha.tenant_id);

    // Still over the threshold, but inside the 30-minute cooldown.
    assert!(evaluate(&app, &op).await.is_empty());
    let (_, list) = app.get(OP_RULES, &op).await;
    let backlog = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Backlog")
        .unwrap()
        .clone();
    assert_eq!(backlog["trigger_count"], 1);
    assert_eq!(backlog["firing"], true);

    clear_jobs(&app).await;
    let resolved = evaluate(&app, &op).await;
    assert_eq!(resolved.len(), 2, "{resolved:?}");
    assert!(resolved
        .iter()
        .all(|e| e["kind"] == "resolved" && e["resolved_at"].is_string() && e["value"] == 0.0));
    assert!(evaluate(&app, &op).await.is_empty(), "resolved once");

    let (_, school_events) = app
        .get("/api/v1/admin/alert_events", &alpha.admin.token)
        .await;
    let kinds: Vec<&str> = school_events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["resolved", "fired"], "newest first, own only");
    assert!(school_events["data"][1]["resolved_at"].is_string());
    let (_, system_events) = app.get("/api/v1/operator/alert_events", &op).await;
    assert_eq!(system_events["data"].as_array().unwrap().len(), 2);
    assert!(system_events["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["tenant_id"].is_null() && e["rule_name"] == "Backlog"));
}

#[tokio::test]
async fn every_comparison_against_a_real_metric() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.org").await;
    only_test_rules(&app).await;
    // job_queue_depth is exactly 10 below; each comparison once true, once false.
    let cases = [
        ("gt", 9.0, true),
        ("gt", 10.0, false),
        ("lt", 11.0, true),
        ("lt", 10.0, false),
        ("gte", 10.0, true),
        ("gte", 10.5, false),
        ("lte", 10.0, true),
        ("lte", 9.5, false),
        ("eq", 10.0, true),
        ("eq", 9.0, false),
    ];
    for (i, (cmp, threshold, _)) in cases.iter().enumerate() {
        let mut r = rule(&format!("{i} {cmp} {threshold}"));
        r["comparison"] = json!(cmp);
        r["threshold"] = json!(threshold);
        assert_eq!(app.post(OP_RULES, &op, r).await.0, 201);
    }
    ready_jobs(&app, 10).await;
    let fired = evaluate(&app, &op).await;
    let mut names: Vec<&str> = fired
        .iter()
        .map(|e| e["rule_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut expected: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, c)| c.2)
        .map(|(i, (cmp, threshold, _))| format!("{i} {cmp} {threshold}"))
        .collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "{fired:?}");
    assert!(fired.iter().all(|e| e["value"] == 10.0), "{fired:?}");
}

// ------------------------------------------------------------------ Slack delivery

mod slack {
    use std::time::Duration;

    use platform::config::{Environment, Secret};
    use platform::http::{AppState, ServiceConfig};
    use platform::jobs::{Worker, WorkerConfig};
    use platform::outbound::AllowEntry;
    use serde_json::json;
    use testkit::{test_egress, test_outbound, Receiver, TestApp};

    use super::{evaluate, only_test_rules, ready_jobs, rule, OP_RULES};

    async fn outbox(app: &TestApp) -> Vec<(i64, String, String, i32)> {
        let mut sys = app.pool().system().await.unwrap();
        let rows = sqlx::query_as(
            "SELECT id, kind, status, attempts FROM notification_outbox ORDER BY id",
        )
        .fetch_all(&mut *sys)
        .await
        .unwrap();
        sys.commit().await.unwrap();
        rows
    }

    async fn wait_for(
        app: &TestApp,
        what: &str,
        done: impl Fn(&[(i64, String, String, i32)]) -> bool,
    ) {
        for _ in 0..750 {
            if done(&outbox(app).await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what}: not reached: {:?}", outbox(app).await);
    }

    #[tokio::test]
    async fn eight_rules_are_one_message_and_an_outage_loses_none_and_repeats_none() {
        let receiver = Receiver::default();
        let port = receiver.start().await;
        let mut egress = test_egress();
        egress.policy.allowlist = vec![AllowEntry::parse(&format!("127.0.0.1:{port}")).unwrap()];
        let mut config = ServiceConfig::new(Environment::Development, test_outbound(egress));
        config.alerts.slack_webhook_url = Some(Secret::new(format!(
            "http://127.0.0.1:{port}/services/T0/B0/x"
        )));
        let app = TestApp::spawn_with_config(config.clone()).await;
        let op = app.create_operator("ops@example.org").await;
        only_test_rules(&app).await;
        for i in 0..8 {
            let mut r = rule(&format!("Rule {i} <&>"));
            r["threshold"] = json!(i);
            r["severity"] = json!(["info", "warning", "critical"][i % 3]);
            assert_eq!(app.post(OP_RULES, &op, r).await.0, 201);
        }
        ready_jobs(&app, 10).await;
        let fired = evaluate(&app, &op).await;
        assert_eq!(fired.len(), 8);
        assert!(fired.iter().all(|e| e["notification_status"] == "pending"));
        let rows = outbox(&app).await;
        assert_eq!(rows.len(), 1, "one message for eight rules: {rows:?}");
        assert!(receiver.received() == 0, "evaluation never sends");

        // Slack is down when the worker starts, and comes back later.
        receiver.set_down(true);
        let state = AppState::new(app.pool().clone(), config, app.store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(
            Worker::new(
                app.pool().clone(),
                WorkerConfig {
                    poll_interval: Duration::from_millis(20),
                    run_schedules: false,
                    retry_base: Duration::from_millis(100),
                    retry_max: Duration::from_millis(400),
                    ..WorkerConfig::default()
                },
            )
            .with_outbound(state.config.outbound.clone())
            .with_state(state)
            .run(async {
                let _ = stopped.await;
            }),
        );
        for _ in 0..200 {
            if receiver.failed() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(receiver.failed() >= 3, "attempts during the outage");
        assert_eq!(outbox(&app).await[0].2, "pending");
        receiver.set_down(false);
        wait_for(&app, "the firing message sent", |rows| rows[0].2 == "sent").await;
        // The queue drains (the worker runs the probes): every rule resolves, in one
        // more message.
        for _ in 0..250 {
            let (s, report) = app.get("/api/v1/operator/health", &op).await;
            assert_eq!(s, 200);
            if report["metrics"]["job_queue_depth"] == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let resolved = evaluate(&app, &op).await;
        assert_eq!(resolved.len(), 8, "{resolved:?}");
        wait_for(&app, "the resolution sent", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.2 == "sent")
        })
        .await;
        let _ = stop.send(());
        worker.await.unwrap().unwrap();

        let rows = outbox(&app).await;
        assert!(rows[0].3 >= 4, "three failures and the success: {rows:?}");
        let delivered = receiver.delivered();
        assert_eq!(
            delivered.len(),
            2,
            "each message exactly once: {delivered:?}"
        );
        let titles: Vec<&str> = delivered
            .iter()
            .map(|m| m["blocks"][0]["text"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["k12: 8 alerts firing", "k12: 8 alerts resolved"]);
        for m in &delivered {
            let blocks = m["blocks"].as_array().unwrap();
            assert_eq!(blocks.len(), 10, "header, eight sections, context");
            let text = m["text"].as_str().unwrap();
            assert!(text.contains("Rule 3 &lt;&amp;&gt;"), "{text}");
            assert!(!text.contains('<'));
        }
        assert!(delivered[0]["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("`job_queue_depth = "));
        let mut sys = app.pool().system().await.unwrap();
        let statuses: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT notification_status FROM alert_events")
                .fetch_all(&mut *sys)
                .await
                .unwrap();
        assert_eq!(statuses, [("sent".to_owned(),)]);
    }

    /// The outage at 1:100 scale: backoff 100 ms doubling to 400 ms (production: 10 s
    /// to an hour) and a receiver down for 3 s (about thirty retry periods, as five
    /// minutes are at the queue's first steps), during which five evaluation cycles each
    /// queue a message. Afterwards every message arrives exactly once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_outage_delays_every_cycle_and_loses_or_repeats_none() {
        let receiver = Receiver::default();
        let port = receiver.start().await;
        let mut egress = test_egress();
        egress.policy.allowlist = vec![AllowEntry::parse(&format!("127.0.0.1:{port}")).unwrap()];
        let mut config = ServiceConfig::new(Environment::Development, test_outbound(egress));
        config.alerts.slack_webhook_url = Some(Secret::new(format!(
            "http://127.0.0.1:{port}/services/T0/B0/x"
        )));
        let app = TestApp::spawn_with_config(config.clone()).await;
        let op = app.create_operator("ops@example.org").await;
        only_test_rules(&app).await;
        // Always true, no cooldown: every cycle fires, so every cycle is one message.
        let mut r = rule("Pool in use");
        r["metric"] = json!("db_connection_pool");
        r["comparison"] = json!("gte");
        r["threshold"] = json!(0);
        r["cooldown_minutes"] = json!(0);
        assert_eq!(app.post(OP_RULES, &op, r).await.0, 201);

        receiver.set_down(true);
        let state = AppState::new(app.pool().clone(), config, app.store.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(
            Worker::new(
                app.pool().clone(),
                WorkerConfig {
                    poll_interval: Duration::from_millis(20),
                    run_schedules: false,
                    retry_base: Duration::from_millis(100),
                    retry_max: Duration::from_millis(400),
                    ..WorkerConfig::default()
                },
            )
            .with_outbound(state.config.outbound.clone())
            .with_state(state)
            .run(async {
                let _ = stopped.await;
            }),
        );
        let outage = std::time::Instant::now();
        for _ in 0..5 {
            assert_eq!(evaluate(&app, &op).await.len(), 1);
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        while outage.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = outbox(&app).await;
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.2 == "pending"), "{rows:?}");
        assert!(receiver.delivered().is_empty());
        assert!(receiver.failed() >= 10, "retried during the outage");

        receiver.set_down(false);
        wait_for(&app, "every cycle's message sent", |rows| {
            rows.iter().all(|r| r.2 == "sent")
        })
        .await;
        // A little longer: nothing is sent twice.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stop.send(());
        worker.await.unwrap().unwrap();
        let delivered = receiver.delivered();
        assert_eq!(delivered.len(), 5, "each message exactly once");
        // Five rows, each sent, five deliveries: none lost, none repeated.
        assert!(delivered
            .iter()
            .all(|m| m["blocks"][0]["text"]["text"] == "k12: 1 alert firing"));
        assert!(outbox(&app).await.iter().all(|r| r.3 >= 2));
    }
}

// ------------------------------------------------------------------ e-mail delivery

mod email {
    use platform::config::Environment;
    use platform::http::{AppState, ServiceConfig};
    use platform::monitoring::mail::SmtpSettings;
    use serde_json::json;
    use testkit::{test_egress, test_outbound, SmtpSink, TestApp};

    use super::{clear_jobs, evaluate, only_test_rules, ready_jobs, rule, OP_RULES};

    const PASSWORD: &str = "pw-Xq7-never-logged";

    fn config(smtp_url: &str) -> ServiceConfig {
        let mut config = ServiceConfig::new(Environment::Development, test_outbound(test_egress()));
        config.alerts.smtp = Some(SmtpSettings::parse(smtp_url).unwrap());
        config.alerts.mail_from = Some("k12-alerts@example.org".into());
        config.alerts.email_to = Some("oncall@example.org".into());
        config
    }

    /// The outbox: (id, target, kind, status, attempts, last_error).
    async fn outbox(
        app: &TestApp,
    ) -> Vec<(i64, Option<String>, String, String, i32, Option<String>)> {
        let mut sys = app.pool().system().await.unwrap();
        let rows = sqlx::query_as(
            "SELECT id, target, kind, status, attempts, last_error
               FROM notification_outbox ORDER BY id",
        )
        .fetch_all(&mut *sys)
        .await
        .unwrap();
        sys.commit().await.unwrap();
        rows
    }

    async fn email_rule(app: &TestApp, op: &str, name: &str, target: Option<&str>) {
        let mut r = rule(name);
        r["channel"] = json!("email");
        r["severity"] = json!("critical");
        if let Some(t) = target {
            r["target"] = json!(t);
        }
        let (status, body) = app.post(OP_RULES, op, r).await;
        assert_eq!(status, 201, "{body}");
    }

    /// The header `name` of a raw message (first occurrence, unfolded).
    fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
        raw.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    }

    #[tokio::test]
    async fn alerts_are_mailed_one_message_per_target_and_kind() {
        let sink = SmtpSink::with_credentials("alerts", PASSWORD);
        let url = format!("smtp://alerts:{PASSWORD}@127.0.0.1:{}?tls=off", sink.port);
        let config = config(&url);
        let app = TestApp::spawn_with_config(config.clone()).await;
        let op = app.create_operator("ops@example.org").await;
        only_test_rules(&app).await;
        email_rule(&app, &op, "Backlog A", Some("it@example.org")).await;
        email_rule(&app, &op, "Backlog B", Some("it@example.org")).await;
        email_rule(&app, &op, "Backlog default", None).await;
        ready_jobs(&app, 11).await;

        let fired = evaluate(&app, &op).await;
        assert_eq!(fired.len(), 3);
        assert!(fired.iter().all(|e| e["notification_status"] == "pending"));
        let rows = outbox(&app).await;
        assert_eq!(rows.len(), 2, "one message per target: {rows:?}");
        assert!(sink.messages().is_empty(), "evaluation never sends");

        let state = AppState::new(app.pool().clone(), config, app.store.clone());
        for row in &rows {
            platform::monitoring::notify::deliver(&state, row.0, false)
                .await
                .unwrap();
        }
        let rows = outbox(&app).await;
        assert!(rows.iter().all(|r| r.3 == "sent" && r.4 == 1), "{rows:?}");
        // Delivered once: a second attempt at a sent row sends nothing.
        platform::monitoring::notify::deliver(&state, rows[0].0, false)
            .await
            .unwrap();
        let mail = sink.messages();
        assert_eq!(mail.len(), 2, "{mail:?}");
        let to_it = mail
            .iter()
            .find(|m| header(m, "To") == Some("it@example.org"))
            .expect("the rules' own target");
        assert_eq!(header(to_it, "From"), Some("k12-alerts@example.org"));
        assert_eq!(header(to_it, "Subject"), Some("k12: 2 alerts firing"));
        assert!(to_it.contains("[CRITICAL] Backlog A"), "{to_it}");
        assert!(to_it.contains("[CRITICAL] Backlog B"), "{to_it}");
        assert!(to_it.contains("job_queue_depth = "), "{to_it}");
        let to_default = mail
            .iter()
            .find(|m| header(m, "To") == Some("oncall@example.org"))
            .expect("K12_ALERT_EMAIL_TO for a system rule without a target");
        assert_eq!(header(to_default, "Subject"), Some("k12: 1 alert firing"));
        assert!(to_default.contains("Backlog default"));

        // Resolution: one more message per target.
        clear_jobs(&app).await;
        let resolved = evaluate(&app, &op).await;
        assert_eq!(resolved.len(), 3);
        let rows = outbox(&app).await;
        assert_eq!(rows.len(), 4);
        for row in &rows[2..] {
            assert_eq!(row.2, "resolved");
            platform::monitoring::notify::deliver(&state, row.0, false)
                .await
                .unwrap();
        }
        let mail = sink.messages();
        assert_eq!(mail.len(), 4);
        let subjects: Vec<&str> = mail.iter().filter_map(|m| header(m, "Subject")).collect();
        assert_eq!(
            subjects.iter().filter(|s| s.ends_with("resolved")).count(),
            2,
            "{subjects:?}"
        );
        let mut sys = app.pool().system().await.unwrap();
        let statuses: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT notification_status FROM alert_events")
                .fetch_all(&mut *sys)
                .await
                .unwrap();
        assert_eq!(statuses, [("sent".to_owned(),)]);
    }

    #[tokio::test]
    async fn starttls_is_required_and_bad_credentials_fail_without_naming_them() {
        let sink = SmtpSink::with_credentials("alerts", PASSWORD);
        let app = TestApp::spawn().await;
        let op = app.create_operator("ops@example.org").await;
        only_test_rules(&app).await;
        email_rule(&app, &op, "Backlog", Some("it@example.org")).await;
        ready_jobs(&app, 11).await;
        // The app itself has no SMTP configured: logged only.
        let fired = evaluate(&app, &op).await;
        assert_eq!(fired[0]["notification_status"], "logged");
        // Enqueue it as a configured deployment would.
        let mut sys = app.pool().system().await.unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notification_outbox (channel, target, kind, payload, event_ids)
             VALUES ('email', 'it@example.org', 'fired', $1, '{}') RETURNING id",
        )
        .bind(json!({"kind": "fired", "overall": "warning",
                     "checked_at": "2026-01-01T00:00:00Z", "alerts": []}))
        .fetch_one(&mut *sys)
        .await
        .unwrap();
        sys.commit().await.unwrap();

        // Without ?tls=off the relay must offer STARTTLS; this one does not.
        let cases = [
            format!("smtp://alerts:{PASSWORD}@127.0.0.1:{}", sink.port),
            format!(
                "smtp://alerts:wrong-{PASSWORD}@127.0.0.1:{}?tls=off",
                sink.port
            ),
        ];
        for (attempt, url) in cases.iter().enumerate() {
            let state = AppState::new(app.pool().clone(), config(url), app.store.clone());
            let err = platform::monitoring::notify::deliver(&state, id, false)
                .await
                .unwrap_err();
            assert!(!format!("{err:#}").contains(PASSWORD), "{err:#}");
            let rows = outbox(&app).await;
            let (_, _, _, status, attempts, last_error) = rows[0].clone();
            assert_eq!(status, "pending", "retried later");
            assert_eq!(attempts, attempt as i32 + 1);
            let last_error = last_error.unwrap();
            assert!(
                last_error.starts_with("SMTP delivery via 127.0.0.1:"),
                "{last_error}"
            );
            assert!(!last_error.contains(PASSWORD), "{last_error}");
        }
        assert!(sink.messages().is_empty());
    }
}
