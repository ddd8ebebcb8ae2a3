//! Feature flags: the lookup order through the routes, isolation and audit, scheduled
//! changes, cross-process invalidation by LISTEN/NOTIFY with SQL-free evaluation, and
//! OFREP, over HTTP and through the official OpenFeature Python provider.

use std::time::{Duration, Instant};

use platform::http::statements::{count_async, count_sync};
use reqwest::Method;
use serde_json::{json, Value};
use testkit::{Actor, TestApp, TwoSchools};

fn flag<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {list}"))
}

async fn tenant_audit(app: &TestApp, tenant: i64, event: &str) -> Vec<Value> {
    let mut tx = app.tenant_tx(tenant).await;
    let rows: Vec<(Value,)> =
        sqlx::query_as("SELECT metadata FROM audit_logs WHERE event_type = $1 ORDER BY id")
            .bind(event)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

async fn platform_audit(app: &TestApp, event: &str) -> Vec<Value> {
    let mut sys = app.pool().system().await.unwrap();
    let rows: Vec<(Value,)> = sqlx::query_as(
        "SELECT metadata FROM platform_audit_logs WHERE event_type = $1 ORDER BY id",
    )
    .bind(event)
    .fetch_all(&mut *sys)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.0).collect()
}

#[tokio::test]
async fn lookup_order_isolation_and_audit_through_the_routes() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;

    // Every known key, all from the hard-coded defaults.
    let (st, list) = app.get("/api/v1/admin/feature_flags", &f.admin).await;
    assert_eq!(st, 200, "{list}");
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        featureflags::CATALOGUE.len()
    );
    let p = flag(&list, "portfolio_enabled");
    assert_eq!(
        (p["enabled"].clone(), p["source"].clone()),
        (json!(true), json!("default"))
    );
    let i = flag(&list, "i18n_locale_switcher");
    assert_eq!(
        (i["enabled"].clone(), i["default"].clone()),
        (json!(false), json!(false))
    );

    // Bad input.
    let put = |key: &str, body: Value| {
        let path = format!("/api/v1/admin/feature_flags/{key}");
        let token = f.admin.clone();
        async move { app.put(&path, &token, body).await }
    };
    assert_eq!(put("no_such_flag", json!({"enabled": true})).await.0, 404);
    assert_eq!(put("Not-A-Key", json!({"enabled": true})).await.0, 404);
    assert_eq!(
        put("portfolio_enabled", json!({"enabled": "yes"})).await.0,
        422
    );
    assert_eq!(put("portfolio_enabled", json!({})).await.0, 422);
    assert_eq!(
        put("portfolio_enabled", json!({"enabled": true, "x": 1}))
            .await
            .0,
        422
    );
    let (st, b) = app
        .request(
            Method::DELETE,
            "/api/v1/admin/feature_flags/no_such_flag",
            Actor::Token(&f.admin),
            None,
        )
        .await;
    assert_eq!(st, 404, "{b}");

    // A tenant override wins over the default, for that tenant only.
    let (st, v) = put("portfolio_enabled", json!({"enabled": false})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["enabled"], false);
    assert_eq!(v["source"], "tenant");
    assert_eq!(v["tenant_override"], false);
    let (_, beta) = app.get("/api/v1/admin/feature_flags", &f.beta_admin).await;
    assert_eq!(flag(&beta, "portfolio_enabled")["source"], "default");
    let audit = tenant_audit(app, f.alpha, "feature_flag.updated").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["key"], "portfolio_enabled");
    assert_eq!(audit[0]["old"]["effective"]["enabled"], true);
    assert_eq!(audit[0]["old"]["effective"]["source"], "default");
    assert_eq!(audit[0]["new"]["effective"]["enabled"], false);
    assert!(tenant_audit(app, f.beta, "feature_flag.updated")
        .await
        .is_empty());

    // Operators: a global row beats the default for every tenant without an override.
    let (st, g) = app
        .put(
            "/api/v1/operator/feature_flags/webhook_events",
            &f.operator,
            json!({"enabled": false, "description": "Paused during the migration"}),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["source"], "global");
    assert_eq!(g["global"], json!({"enabled": false, "percentage": null}));
    for token in [&f.admin, &f.beta_admin] {
        let (_, l) = app.get("/api/v1/admin/feature_flags", token).await;
        let w = flag(&l, "webhook_events");
        assert_eq!(
            (w["enabled"].clone(), w["source"].clone()),
            (json!(false), json!("global"))
        );
        assert_eq!(w["description"], "Paused during the migration");
    }
    // ... and a tenant override beats the global row; deleting it goes back to global.
    let (_, v) = put("webhook_events", json!({"enabled": true})).await;
    assert_eq!(
        (v["enabled"].clone(), v["source"].clone()),
        (json!(true), json!("tenant"))
    );
    let (st, v) = app
        .request(
            Method::DELETE,
            "/api/v1/admin/feature_flags/webhook_events",
            Actor::Token(&f.admin),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["enabled"].clone(), v["source"].clone()),
        (json!(false), json!("global"))
    );
    let removed = tenant_audit(app, f.alpha, "feature_flag.override_removed").await;
    assert_eq!(removed[0]["old"]["override"], true);
    assert_eq!(removed[0]["new"]["effective"]["source"], "global");

    // A rollout: on for the tenants whose Unleash bucket is within the percentage.
    let (st, g) = app
        .put(
            "/api/v1/operator/feature_flags/advanced_analytics",
            &f.operator,
            json!({"enabled": true, "percentage": 50}),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["source"], "rollout");
    for (tenant, token) in [(f.alpha, &f.admin), (f.beta, &f.beta_admin)] {
        let (_, l) = app.get("/api/v1/admin/feature_flags", token).await;
        let a = flag(&l, "advanced_analytics");
        assert_eq!(a["source"], "rollout");
        assert_eq!(
            a["enabled"],
            featureflags::bucket("advanced_analytics", tenant) <= 50
        );
    }
    assert_eq!(
        app.put(
            "/api/v1/operator/feature_flags/advanced_analytics",
            &f.operator,
            json!({"enabled": true, "percentage": 101}),
        )
        .await
        .0,
        422
    );
    let (_, ops) = app.get("/api/v1/operator/feature_flags", &f.operator).await;
    assert_eq!(flag(&ops, "portfolio_enabled")["overrides"], 1);
    let updated = platform_audit(app, "feature_flag.global_updated").await;
    assert_eq!(updated.len(), 2);
    assert_eq!(updated[1]["old"]["default"], true);
    assert_eq!(updated[1]["new"]["percentage"], 50);

    // Back to the default.
    let (st, v) = app
        .request(
            Method::DELETE,
            "/api/v1/operator/feature_flags/webhook_events",
            Actor::Token(&f.operator),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["enabled"].clone(), v["source"].clone()),
        (json!(true), json!("default"))
    );
    assert_eq!(
        platform_audit(app, "feature_flag.global_removed").await[0]["old"]["enabled"],
        false
    );

    // Teachers cannot change flags.
    assert_eq!(
        app.put(
            "/api/v1/admin/feature_flags/portfolio_enabled",
            &f.teacher,
            json!({"enabled": true})
        )
        .await
        .0,
        403
    );
}

#[tokio::test]
async fn tenants_read_global_rows_but_never_write_them() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    let (st, _) = app
        .put(
            "/api/v1/operator/feature_flags/print_export",
            &f.operator,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 200);
    let mut tx = app.tenant_tx(f.alpha).await;
    let (globals,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feature_flags WHERE tenant_id IS NULL")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(globals, 1);
    let updated = sqlx::query("UPDATE feature_flags SET enabled = true WHERE tenant_id IS NULL")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 0);
    let deleted = sqlx::query("DELETE FROM feature_flags WHERE tenant_id IS NULL")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 0);
    let insert = sqlx::query(
        "INSERT INTO feature_flags (tenant_id, key, enabled) VALUES (NULL, 'guardian_portal', false)",
    )
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err(), "a tenant must not create a global row");
    drop(tx);
    // Another tenant's override is invisible and unwritable.
    let (st, _) = app
        .put(
            "/api/v1/admin/feature_flags/print_export",
            &f.beta_admin,
            json!({"enabled": true}),
        )
        .await;
    assert_eq!(st, 200);
    let mut tx = app.tenant_tx(f.alpha).await;
    let (seen,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM feature_flags WHERE tenant_id IS NOT NULL")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!(seen, 0);
    let insert = sqlx::query(
        "INSERT INTO feature_flags (tenant_id, key, enabled) VALUES ($1, 'guardian_portal', false)",
    )
    .bind(f.beta)
    .execute(&mut *tx)
    .await;
    assert!(insert.is_err());
}

#[tokio::test]
async fn scheduled_changes_apply_at_the_schools_local_time() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    let path = "/api/v1/admin/feature_flags/guardian_portal";
    // 07:00 in Chicago on 2030-09-03 (CDT, UTC-5) is 12:00 UTC.
    let (st, v) = app
        .put(
            path,
            &f.admin,
            json!({"enabled": false, "apply_at": "2030-09-03T07:00", "timezone": "America/Chicago"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["enabled"], true, "not applied yet");
    let s = &v["scheduled"][0];
    assert_eq!(s["apply_at"], "2030-09-03T12:00:00Z");
    assert_eq!(s["local_time"], "2030-09-03T07:00:00");
    assert_eq!(s["timezone"], "America/Chicago");
    // Bad times.
    for (body, field) in [
        (
            json!({"enabled": false, "apply_at": "2020-01-01T00:00:00Z"}),
            "apply_at",
        ),
        (
            json!({"enabled": false, "apply_at": "2030-03-10T02:30", "timezone": "America/Chicago"}),
            "apply_at",
        ),
        (
            json!({"enabled": false, "apply_at": "2030-09-03T07:00", "timezone": "Mars/Base"}),
            "timezone",
        ),
        (json!({"enabled": false, "apply_at": "soon"}), "apply_at"),
    ] {
        let (st, b) = app.put(path, &f.admin, body).await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(b["error"]["details"]["field"], field, "{b}");
    }
    // An operator's scheduled rollout needs a zone for a wall-clock time.
    let (st, _) = app
        .put(
            "/api/v1/operator/feature_flags/resource_library",
            &f.operator,
            json!({"enabled": false, "apply_at": "2030-09-03T07:00"}),
        )
        .await;
    assert_eq!(st, 422);
    let (st, g) = app
        .put(
            "/api/v1/operator/feature_flags/resource_library",
            &f.operator,
            json!({"enabled": true, "percentage": 0, "apply_at": "2030-09-03T08:00:00Z"}),
        )
        .await;
    assert_eq!(st, 200, "{g}");
    assert_eq!(g["scheduled"][0]["percentage"], 0);

    let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let db = app.pool();
    assert_eq!(
        platform::flags::schedule::apply_due(db, at("2030-09-03T07:59:59Z"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        platform::flags::schedule::apply_due(db, at("2030-09-03T08:00:00Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        platform::flags::schedule::apply_due(db, at("2030-09-03T12:00:00Z"))
            .await
            .unwrap(),
        1
    );
    // Applied once only.
    assert_eq!(
        platform::flags::schedule::apply_due(db, at("2030-09-04T00:00:00Z"))
            .await
            .unwrap(),
        0
    );
    let (_, l) = app.get("/api/v1/admin/feature_flags", &f.admin).await;
    let g = flag(&l, "guardian_portal");
    assert_eq!(
        (g["enabled"].clone(), g["source"].clone()),
        (json!(false), json!("tenant"))
    );
    assert!(g["scheduled"].as_array().unwrap().is_empty());
    let r = flag(&l, "resource_library");
    assert_eq!(
        (r["enabled"].clone(), r["source"].clone()),
        (json!(false), json!("rollout"))
    );
    let applied = tenant_audit(app, f.alpha, "feature_flag.schedule_applied").await;
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0]["new"]["override"], false);
    assert_eq!(
        tenant_audit(app, f.alpha, "feature_flag.scheduled")
            .await
            .len(),
        1
    );
    assert_eq!(
        platform_audit(app, "feature_flag.global_schedule_applied")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn pending_scheduled_changes_can_be_cancelled_by_their_owner_only() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    let delete = |path: String, token: &str| {
        let token = token.to_string();
        async move {
            app.request(Method::DELETE, &path, Actor::Token(&token), None)
                .await
                .0
        }
    };
    let (st, v) = app
        .put(
            "/api/v1/admin/feature_flags/guardian_portal",
            &f.admin,
            json!({"enabled": false, "apply_at": "2030-09-03T07:00:00Z"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let id = v["scheduled"][0]["id"].as_i64().unwrap();
    let (_, g) = app
        .put(
            "/api/v1/operator/feature_flags/resource_library",
            &f.operator,
            json!({"enabled": false, "apply_at": "2030-09-03T08:00:00Z"}),
        )
        .await;
    let gid = g["scheduled"][0]["id"].as_i64().unwrap();
    let mine = format!("/api/v1/admin/feature_flags/guardian_portal/schedules/{id}");
    // Another school, another key, a global schedule through the tenant route, an id
    // that does not exist: 404 each, and nothing changes.
    assert_eq!(delete(mine.clone(), &f.beta_admin).await, 404);
    assert_eq!(
        delete(
            format!("/api/v1/admin/feature_flags/print_export/schedules/{id}"),
            &f.admin
        )
        .await,
        404
    );
    assert_eq!(
        delete(
            format!("/api/v1/admin/feature_flags/resource_library/schedules/{gid}"),
            &f.admin
        )
        .await,
        404
    );
    assert_eq!(
        delete(
            format!("/api/v1/operator/feature_flags/guardian_portal/schedules/{id}"),
            &f.operator
        )
        .await,
        404
    );
    assert_eq!(
        delete(
            "/api/v1/admin/feature_flags/guardian_portal/schedules/99999999999999999999".into(),
            &f.admin
        )
        .await,
        404
    );
    assert_eq!(
        delete(
            format!("/api/v1/admin/feature_flags/a%00b/schedules/{id}"),
            &f.admin
        )
        .await,
        404
    );
    // The owner cancels: 204, then 404; the change never applies.
    assert_eq!(delete(mine.clone(), &f.admin).await, 204);
    assert_eq!(delete(mine.clone(), &f.admin).await, 404);
    let global = format!("/api/v1/operator/feature_flags/resource_library/schedules/{gid}");
    assert_eq!(delete(global.clone(), &f.operator).await, 204);
    assert_eq!(delete(global, &f.operator).await, 404);
    let at = chrono::DateTime::parse_from_rfc3339("2030-09-04T00:00:00Z")
        .unwrap()
        .to_utc();
    assert_eq!(
        platform::flags::schedule::apply_due(app.pool(), at)
            .await
            .unwrap(),
        0
    );
    let (_, l) = app.get("/api/v1/admin/feature_flags", &f.admin).await;
    let g = flag(&l, "guardian_portal");
    assert_eq!(g["enabled"], true);
    assert!(g["scheduled"].as_array().unwrap().is_empty());
    // Audited, with what was cancelled.
    let t = tenant_audit(app, f.alpha, "feature_flag.schedule_cancelled").await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["key"], "guardian_portal");
    assert_eq!(t[0]["old"]["enabled"], false);
    assert_eq!(t[0]["apply_at"], "2030-09-03T07:00:00Z");
    let p = platform_audit(app, "feature_flag.global_schedule_cancelled").await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["key"], "resource_library");

    // An applied change can no longer be cancelled.
    let (_, v) = app
        .put(
            "/api/v1/admin/feature_flags/print_export",
            &f.admin,
            json!({"enabled": false, "apply_at": "2030-09-03T07:00:00Z"}),
        )
        .await;
    let applied = v["scheduled"][0]["id"].as_i64().unwrap();
    assert_eq!(
        platform::flags::schedule::apply_due(app.pool(), at)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        delete(
            format!("/api/v1/admin/feature_flags/print_export/schedules/{applied}"),
            &f.admin
        )
        .await,
        404
    );
    let _ = f.beta;
}

/// Waits until `done` holds, at most `limit`; answers how long it took.
async fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test]
async fn a_change_in_one_process_reaches_another_within_a_second_and_evaluation_runs_no_sql() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    // A second process on the same database: its own pool, state, cache and LISTEN
    // connection (what another `k12 serve` would have).
    let db2 = platform::db::Db::connect_lazy(&app.db.app_url(), &Default::default()).unwrap();
    let state2 = platform::http::AppState::new(
        db2.clone(),
        platform::http::ServiceConfig::new(
            platform::config::Environment::Development,
            testkit::test_outbound(testkit::test_egress()),
        ),
        app.store.clone(),
    );
    let listener2 = state2
        .flags
        .spawn_listener(db2.clone(), platform::config::Secret::new(app.db.app_url()));
    let cache2 = state2.flags.clone();
    within(Duration::from_secs(10), || cache2.current().is_some())
        .await
        .expect("the second process loads its snapshot");
    assert_eq!(cache2.is_enabled(f.alpha, "webhook_events"), Some(true));

    // The counter sees statements (a reload runs several) ...
    let (_, n) = count_async(cache2.reload(&db2)).await;
    assert!(n >= 2, "the statement counter is not counting ({n})");
    // ... and evaluation from the cache runs none.
    let (value, n) = count_sync(|| {
        (0..1000)
            .map(|_| cache2.is_enabled(f.alpha, "webhook_events"))
            .collect::<Vec<_>>()
    });
    assert_eq!(n, 0);
    assert!(value.iter().all(|v| *v == Some(true)));

    // A tenant override through process 1's API ...
    let (st, _) = app
        .put(
            "/api/v1/admin/feature_flags/webhook_events",
            &f.admin,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 200);
    let took = within(Duration::from_secs(1), || {
        cache2.is_enabled(f.alpha, "webhook_events") == Some(false)
    })
    .await
    .expect("process 2 sees the override within a second");
    eprintln!("override visible in process 2 after {took:?}");
    assert_eq!(cache2.is_enabled(f.beta, "webhook_events"), Some(true));
    // ... and a global change by an operator.
    let (st, _) = app
        .put(
            "/api/v1/operator/feature_flags/bulk_operations",
            &f.operator,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(st, 200);
    within(Duration::from_secs(1), || {
        cache2.is_enabled(f.beta, "bulk_operations") == Some(false)
    })
    .await
    .expect("process 2 sees the global change within a second");
    // A change made in SQL directly (not through any process) is heard too.
    let mut sys = app.pool().system().await.unwrap();
    sqlx::query("DELETE FROM feature_flags")
        .execute(&mut *sys)
        .await
        .unwrap();
    sys.commit().await.unwrap();
    within(Duration::from_secs(1), || {
        cache2.is_enabled(f.alpha, "webhook_events") == Some(true)
            && cache2.is_enabled(f.beta, "bulk_operations") == Some(true)
    })
    .await
    .expect("process 2 sees the rows go");
    // Process 1 heard them as well.
    within(Duration::from_secs(1), || {
        app.state.flags.is_enabled(f.alpha, "webhook_events") == Some(true)
    })
    .await
    .expect("process 1 sees the rows go");
    listener2.abort();
}

async fn ofrep(
    app: &TestApp,
    path: &str,
    token: &str,
    body: &str,
    if_none_match: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = app
        .client
        .post(format!("{}{path}", app.base_url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, etag, json)
}

#[tokio::test]
async fn ofrep_answers_as_the_protocol_says() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    let ctx = json!({"context": {"targetingKey": f.alpha.to_string()}}).to_string();
    let one = "/ofrep/v1/evaluate/flags/portfolio_enabled";

    // The hard-coded default: no value, so the SDK uses the code's default.
    let (st, _, v) = ofrep(app, one, &f.teacher, &ctx, None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v,
        json!({"key": "portfolio_enabled", "reason": "DEFAULT", "variant": "default",
               "metadata": {"source": "default"}})
    );
    // A global row: STATIC; a rollout: SPLIT; the tenant's override: TARGETING_MATCH.
    app.put(
        "/api/v1/operator/feature_flags/portfolio_enabled",
        &f.operator,
        json!({"enabled": false}),
    )
    .await;
    let (_, _, v) = ofrep(app, one, &f.teacher, &ctx, None).await;
    assert_eq!(
        (
            v["reason"].clone(),
            v["value"].clone(),
            v["variant"].clone()
        ),
        (json!("STATIC"), json!(false), json!("off"))
    );
    app.put(
        "/api/v1/operator/feature_flags/portfolio_enabled",
        &f.operator,
        json!({"enabled": true, "percentage": 100}),
    )
    .await;
    let (_, _, v) = ofrep(app, one, &f.teacher, &ctx, None).await;
    assert_eq!(
        (v["reason"].clone(), v["value"].clone()),
        (json!("SPLIT"), json!(true))
    );
    app.put(
        "/api/v1/admin/feature_flags/portfolio_enabled",
        &f.admin,
        json!({"enabled": false}),
    )
    .await;
    let (_, _, v) = ofrep(app, one, &f.teacher, &ctx, None).await;
    assert_eq!(
        (v["reason"].clone(), v["value"].clone()),
        (json!("TARGETING_MATCH"), json!(false))
    );

    // Errors.
    let (st, _, v) = ofrep(app, "/ofrep/v1/evaluate/flags/nope", &f.teacher, &ctx, None).await;
    assert_eq!(st, 404);
    assert_eq!(
        (v["key"].clone(), v["errorCode"].clone()),
        (json!("nope"), json!("FLAG_NOT_FOUND"))
    );
    assert!(v["errorDetails"].is_string());
    for (body, code) in [
        ("{not json", "PARSE_ERROR"),
        ("{}", "TARGETING_KEY_MISSING"),
        (r#"{"context": {}}"#, "TARGETING_KEY_MISSING"),
        (r#"{"context": []}"#, "INVALID_CONTEXT"),
        (r#"{"context": {"targetingKey": 5}}"#, "INVALID_CONTEXT"),
    ] {
        let (st, _, v) = ofrep(app, one, &f.teacher, body, None).await;
        assert_eq!(
            (st, v["errorCode"].as_str()),
            (400, Some(code)),
            "{body}: {v}"
        );
    }
    // Another tenant's key (existing or not) gets the same answer and none of its flags.
    let beta_ctx = json!({"context": {"targetingKey": f.beta.to_string()}}).to_string();
    let none_ctx = json!({"context": {"targetingKey": "987654321"}}).to_string();
    let (st_b, _, b) = ofrep(app, one, &f.teacher, &beta_ctx, None).await;
    let (st_n, _, n) = ofrep(app, one, &f.teacher, &none_ctx, None).await;
    assert_eq!((st_b, st_n), (400, 400));
    assert_eq!(b, n);
    assert_eq!(b["errorCode"], "INVALID_CONTEXT");
    let (st, _, _) = ofrep(app, "/ofrep/v1/evaluate/flags", &f.teacher, &beta_ctx, None).await;
    assert_eq!(st, 400);
    // Operators have no tenant; anonymous callers no session.
    let (st, _, _) = ofrep(app, one, &f.operator, &ctx, None).await;
    assert_eq!(st, 403);

    // Bulk: every flag, an ETag, 304 while nothing changed, a new ETag after a change.
    let bulk = "/ofrep/v1/evaluate/flags";
    let (st, etag, v) = ofrep(app, bulk, &f.teacher, &ctx, None).await;
    assert_eq!(st, 200, "{v}");
    let flags = v["flags"].as_array().unwrap();
    assert_eq!(flags.len(), featureflags::CATALOGUE.len());
    assert!(flags
        .iter()
        .any(|x| x["key"] == "portfolio_enabled" && x["reason"] == "TARGETING_MATCH"));
    let etag = etag.expect("an ETag");
    let (st, etag2, v) = ofrep(app, bulk, &f.teacher, &ctx, Some(&etag)).await;
    assert_eq!((st, v), (304, Value::Null));
    assert_eq!(etag2.as_deref(), Some(etag.as_str()));
    let (st, _, _) = ofrep(app, bulk, &f.teacher, &ctx, Some("\"something-else\"")).await;
    assert_eq!(st, 200);
    app.put(
        "/api/v1/admin/feature_flags/print_export",
        &f.admin,
        json!({"enabled": false}),
    )
    .await;
    let (st, etag3, _) = ofrep(app, bulk, &f.teacher, &ctx, Some(&etag)).await;
    assert_eq!(st, 200);
    assert_ne!(etag3.unwrap(), etag);
}

#[tokio::test]
async fn the_official_openfeature_python_provider_reads_the_flags() {
    let f = TwoSchools::spawn().await;
    let app = &f.app;
    app.put(
        "/api/v1/operator/feature_flags/webhook_events",
        &f.operator,
        json!({"enabled": false}),
    )
    .await;
    app.put(
        "/api/v1/admin/feature_flags/i18n_locale_switcher",
        &f.admin,
        json!({"enabled": true}),
    )
    .await;
    app.put(
        "/api/v1/operator/feature_flags/advanced_analytics",
        &f.operator,
        json!({"enabled": true, "percentage": 100}),
    )
    .await;

    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let venv = tokio::process::Command::new("bash")
        .arg(format!("{root}/scripts/ofrep-venv.sh"))
        .output()
        .await
        .expect("scripts/ofrep-venv.sh");
    assert!(
        venv.status.success(),
        "creating the OpenFeature venv: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();
    let keys = json!([
        ["guardian_portal", false],
        ["webhook_events", true],
        ["i18n_locale_switcher", false],
        ["advanced_analytics", false],
        ["no_such_flag", true]
    ]);
    // The same client, once with a teacher's session and once with a tenant API key.
    let (st, created) = app
        .post(
            "/api/v1/admin/api_keys",
            &f.admin,
            json!({"name": "openfeature"}),
        )
        .await;
    assert_eq!(st, 201, "{created}");
    let api_key = created["secret"].as_str().unwrap().to_string();
    for (how, token) in [("session", &f.teacher), ("api key", &api_key)] {
        let out = tokio::process::Command::new(&python)
            .arg(format!("{root}/crates/platform/tests/ofrep_client.py"))
            .arg(keys.to_string())
            // The token goes by environment, never argv.
            .env("K12_OFREP_BASE_URL", &app.base_url)
            .env("K12_OFREP_TOKEN", token)
            .env("K12_OFREP_TENANT", f.alpha.to_string())
            .output()
            .await
            .expect("running the OpenFeature client");
        assert!(
            out.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Hard-coded default: the SDK falls back to the code's default (false here).
        assert_eq!(r["guardian_portal"]["value"], false, "{how}: {r}");
        assert_eq!(r["guardian_portal"]["reason"], "DEFAULT");
        assert_eq!(r["webhook_events"]["value"], false);
        assert_eq!(r["webhook_events"]["reason"], "STATIC");
        assert_eq!(r["webhook_events"]["variant"], "off");
        assert_eq!(r["i18n_locale_switcher"]["value"], true);
        assert_eq!(r["i18n_locale_switcher"]["reason"], "TARGETING_MATCH");
        assert_eq!(r["i18n_locale_switcher"]["metadata"]["source"], "tenant");
        assert_eq!(r["advanced_analytics"]["value"], true);
        assert_eq!(r["advanced_analytics"]["reason"], "SPLIT");
        assert_eq!(r["no_such_flag"]["value"], true);
        assert_eq!(r["no_such_flag"]["error_code"], "FLAG_NOT_FOUND");
        assert_eq!(r["__other_tenant"]["error_code"], "INVALID_CONTEXT");
        assert_eq!(r["__other_tenant"]["value"], false);
        assert_eq!(
            r["__no_targeting_key"]["error_code"],
            "TARGETING_KEY_MISSING"
        );
    }
}
