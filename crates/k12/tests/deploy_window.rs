//! `k12 deploy-window` against a real database: exit 0 safe, 3 blocked, 2 error.

use std::process::{Command, Output};

use serde_json::Value;
use sqlx::{Connection, PgConnection};

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn deploy_window(db: &testkit::TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(K12)
        .arg("deploy-window")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.app_url())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[tokio::test]
async fn blocked_during_a_new_york_school_day_safe_on_saturday() {
    let db = testkit::TestDb::new().await;
    let mut conn = PgConnection::connect(&db.superuser_url()).await.unwrap();
    let (tenant,): (i64,) = sqlx::query_as(
        "INSERT INTO tenants (name, slug) VALUES ('Lincoln', 'lincoln') RETURNING id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    sqlx::query("INSERT INTO schools (tenant_id, name, timezone) VALUES ($1, 'Lincoln High', 'America/New_York')")
        .bind(tenant)
        .execute(&mut conn)
        .await
        .unwrap();

    // Monday 2026-12-07 10:00 in New York.
    let out = deploy_window(&db, &["--at", "2026-12-07T15:00:00Z", "--json"], &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["safe"], false);
    assert_eq!(v["blocking"][0]["school"], "Lincoln High");
    assert_eq!(v["blocking"][0]["local_time"], "2026-12-07T10:00:00-05:00");
    assert_eq!(v["next_safe_window"]["start"], "2026-12-07T20:00:00Z");

    // Saturday: safe, in text.
    let out = deploy_window(&db, &["--at", "2026-12-12T15:00:00Z"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("safe to deploy"));

    // A longer runway reaches back from Tuesday's 08:00 into Monday evening.
    let out = deploy_window(
        &db,
        &["--at", "2026-12-08T03:00:00Z"],
        &[("K12_DEPLOY_RUNWAY_MINUTES", "720")],
    );
    assert_eq!(out.status.code(), Some(3));

    let out = deploy_window(&db, &[], &[("K12_DEPLOY_RUNWAY_MINUTES", "soon")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("K12_DEPLOY_RUNWAY_MINUTES"));
}
