//! Query insight (spec 05): the slow-query list with and without pg_stat_statements, its
//! reset, and the operator's database figures.

use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use testkit::{School, TestApp};

/// Runs a recognisable statement a few times as the service role.
async fn run_marker(app: &TestApp) {
    let mut conn = PgConnection::connect(&app.db.app_url()).await.unwrap();
    for _ in 0..3 {
        sqlx::query("SELECT 1 AS dbscale_marker, pg_sleep(0.002)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

fn queries(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["query"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn slow_queries_with_the_extension() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.test").await;
    run_marker(&app).await;

    let (status, body) = app
        .get("/api/v1/operator/db/slow_queries?limit=100", &op)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["available"], true,
        "the test cluster preloads pg_stat_statements"
    );
    let rows = body["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    let marker = rows
        .iter()
        .find(|q| q["query"].as_str().unwrap().contains("dbscale_marker"))
        .unwrap_or_else(|| panic!("the marker statement is listed: {body}"));
    assert_eq!(marker["calls"], 3);
    assert_eq!(marker["rows"], 3);
    assert!(marker["mean_ms"].as_f64().unwrap() >= 2.0);
    assert!(marker["max_ms"].as_f64().unwrap() >= marker["mean_ms"].as_f64().unwrap());
    assert!(marker["query_id"].as_str().unwrap().parse::<i64>().is_ok());
    let means: Vec<f64> = rows
        .iter()
        .map(|q| q["mean_ms"].as_f64().unwrap())
        .collect();
    assert!(
        means.windows(2).all(|w| w[0] >= w[1]),
        "ordered by mean: {means:?}"
    );
    for q in queries(&body) {
        assert!(q.chars().count() <= 200, "preview longer than 200: {q}");
        assert!(!q.contains("slow_queries"), "its own query is listed: {q}");
    }

    let (status, body) = app
        .get("/api/v1/operator/db/slow_queries?limit=1", &op)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);

    let (status, body) = app
        .post("/api/v1/operator/db/slow_queries/reset", &op, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"available": true, "reset": true}));
    let (_, body) = app
        .get("/api/v1/operator/db/slow_queries?limit=100", &op)
        .await;
    assert!(
        !queries(&body).iter().any(|q| q.contains("dbscale_marker")),
        "reset forgets the statements: {body}"
    );
}

#[tokio::test]
async fn slow_queries_without_the_extension() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.test").await;
    let mut su = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    sqlx::query("DROP EXTENSION pg_stat_statements")
        .execute(&mut su)
        .await
        .unwrap();
    run_marker(&app).await;
    let (status, body) = app.get("/api/v1/operator/db/slow_queries", &op).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"available": false, "data": []}));
    let (status, body) = app
        .post("/api/v1/operator/db/slow_queries/reset", &op, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"available": false, "reset": false}));
}

#[tokio::test]
async fn the_migration_recorded_the_extension_and_the_service_role_holds_no_stats_privilege() {
    let app = TestApp::spawn().await;
    let mut sys = app.pool().system().await.unwrap();
    let (installed,): (bool,) = sqlx::query_as(
        "SELECT installed FROM db_extension_status WHERE name = 'pg_stat_statements'",
    )
    .fetch_one(&mut *sys)
    .await
    .unwrap();
    assert!(installed);
    sys.commit().await.unwrap();
    let mut su = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let (member, reset): (bool, bool) = sqlx::query_as(
        "SELECT pg_has_role('k12_app', 'pg_read_all_stats', 'MEMBER'),
                has_function_privilege('k12_app', 'pg_stat_statements_reset(oid, oid, bigint)', 'EXECUTE')",
    )
    .fetch_one(&mut su)
    .await
    .unwrap();
    assert!(
        !member && !reset,
        "the service role reads statistics only through the functions"
    );
    // And the functions refuse outside a system transaction.
    let mut conn = PgConnection::connect(&app.db.app_url()).await.unwrap();
    for sql in [
        "SELECT * FROM slow_queries(5)",
        "SELECT slow_queries_reset()",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert_eq!(
            err.as_database_error().and_then(|e| e.code()).as_deref(),
            Some("42501"),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn limit_is_validated() {
    let app = TestApp::spawn().await;
    let op = app.create_operator("ops@example.test").await;
    for limit in ["0", "101", "x", ""] {
        let (status, body) = app
            .get(
                &format!("/api/v1/operator/db/slow_queries?limit={limit}"),
                &op,
            )
            .await;
        assert_eq!(status, 422, "limit={limit}: {body}");
        assert_eq!(body["error"]["details"]["field"], "limit");
    }
}

#[tokio::test]
async fn db_stats_show_pool_size_tables_and_cache() {
    let app = TestApp::spawn().await;
    School::build(&app, "alpha").await;
    let op = app.create_operator("ops@example.test").await;
    let (status, body) = app.get("/api/v1/operator/db/stats", &op).await;
    assert_eq!(status, 200, "{body}");
    let pool = &body["pool"];
    assert_eq!(pool["max_size"], 20);
    let (size, in_use, idle) = (
        pool["size"].as_u64().unwrap(),
        pool["in_use"].as_u64().unwrap(),
        pool["idle"].as_u64().unwrap(),
    );
    assert!((1..=20).contains(&size), "{pool}");
    assert_eq!(in_use + idle, size);
    assert!(in_use >= 1, "this request holds a connection: {pool}");
    assert_eq!(pool["acquire_timeouts_total"], 0);
    assert!(body["database_size_bytes"].as_i64().unwrap() > 1_000_000);
    let ratio = body["cache_hit_ratio"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&ratio));
    assert!(body["dead_tuples"].as_i64().unwrap() >= 0);
    let tables = body["largest_tables"].as_array().unwrap();
    assert_eq!(tables.len(), 10);
    let sizes: Vec<i64> = tables
        .iter()
        .map(|t| t["total_bytes"].as_i64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
}
