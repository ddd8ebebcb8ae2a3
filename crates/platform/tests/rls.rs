//! Database-enforced tenancy, checked against the catalog and from the outside.

use sqlx::{Connection, PgConnection};
use testkit::TestApp;

/// Tables without `tenant_id`: each must be on this list, on purpose.
const SYSTEM_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "districts",
    "tenants",
    "operators",
    "operator_sessions",
    "operator_setup_tokens",
    "platform_audit_logs",
    "jobs",
    "job_counters",
    "job_schedules",
    "job_schedule_ticks",
    "job_probes",
    "operator_login_failures",
    "analytics_refreshes",
    "db_extension_status",
    "notification_outbox",
    "deploy_overrides",
    "backup_records",
];

/// Tenant tables whose `tenant_id` may be NULL: the NULL rows are system-wide (alert
/// rules and their events, global feature flags and their schedules) and writable only
/// in the system context (`system_policy`); tenants read global flags, never write them.
const NULLABLE_TENANT_TABLES: &[&str] = &[
    "alert_configurations",
    "alert_events",
    "feature_flags",
    "feature_flag_schedules",
];

#[tokio::test]
async fn every_tenant_table_forces_rls_with_the_isolation_policy() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let tables: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                          AND NOT a.attisdropped),
                EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid
                          AND p.polname = 'tenant_isolation_policy'
                          AND pg_get_expr(p.polqual, p.polrelid) = '(tenant_id = current_tenant_id())'
                          AND pg_get_expr(p.polwithcheck, p.polrelid) = '(tenant_id = current_tenant_id())')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
          ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() > 10, "expected the schema, found {tables:?}");
    let mut problems = Vec::new();
    for (name, rls, forced, has_tenant, policy) in &tables {
        if *has_tenant {
            if !(*rls && *forced && *policy) {
                problems.push(format!("{name}: rls={rls} forced={forced} policy={policy}"));
            }
            let (not_null,): (bool,) = sqlx::query_as(
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'tenant_id'",
            )
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
            if NULLABLE_TENANT_TABLES.contains(&name.as_str()) {
                let system: Option<(String,)> = sqlx::query_as(
                    "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy
                      WHERE polrelid = $1::regclass AND polname = 'system_policy'",
                )
                .bind(name)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
                if system.as_ref().map(|s| s.0.as_str()) != Some("app_is_system()") {
                    problems.push(format!("{name}: NULL tenant rows without system_policy"));
                }
            } else if !not_null {
                problems.push(format!("{name}: tenant_id is nullable"));
            }
        } else if !SYSTEM_TABLES.contains(&name.as_str()) {
            problems.push(format!(
                "{name}: no tenant_id and not on the system-table allow-list"
            ));
        } else if name != "_sqlx_migrations" && !(*rls && *forced) {
            problems.push(format!("{name}: system table without forced RLS"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn service_role_is_unprivileged_and_owns_nothing() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::connect(&app.db.superuser_url())
        .await
        .unwrap();
    let (superuser, bypass, owned): (bool, bool, i64) = sqlx::query_as(
        "SELECT r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid)
           FROM pg_roles r WHERE r.rolname = 'k12_app'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        !superuser && !bypass,
        "service role must have neither SUPERUSER nor BYPASSRLS"
    );
    assert_eq!(owned, 0, "service role must own no relation");
    let (owner_bypass,): (bool,) =
        sqlx::query_as("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = 'k12_owner'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!owner_bypass, "the owner role is subject to forced RLS too");
}

#[tokio::test]
async fn service_role_without_a_tenant_sees_no_rows() {
    let app = TestApp::spawn().await;
    app.create_tenant("alpha", None).await;
    app.create_user("alpha", "admin", &["admin"], false).await;
    let mut conn = PgConnection::connect(&app.db.app_url()).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // Includes the case PostgreSQL leaves behind after a transaction that set the tenant.
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_id', '1', true)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    for (table,) in tables {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(
            n, 0,
            "{table} shows {n} rows to the service role with no tenant set"
        );
    }
}

#[tokio::test]
async fn one_tenant_cannot_read_or_write_anothers_rows() {
    let app = TestApp::spawn().await;
    let a = app.create_tenant("alpha", None).await;
    let b = app.create_tenant("beta", None).await;
    let bob = app.create_user("beta", "bob", &["teacher"], false).await;
    let mut tx = app.tenant_tx(a).await;
    let (seen,): (i64,) = sqlx::query_as("SELECT count(*) FROM users WHERE id = $1")
        .bind(bob.id)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(seen, 0);
    let updated = sqlx::query("UPDATE users SET first_name = 'x' WHERE id = $1")
        .bind(bob.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let insert = sqlx::query("INSERT INTO users (tenant_id, email) VALUES ($1, 'sneaky@x.org')")
        .bind(b)
        .execute(&mut *tx)
        .await;
    assert!(
        insert.is_err(),
        "WITH CHECK must refuse rows for another tenant"
    );
    drop(tx);
    // A tenant transaction reaches no system table but its own tenant row.
    let mut tx = app.tenant_tx(a).await;
    let (tenants, operators): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM operators)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    assert_eq!((tenants, operators), (1, 0));
}

#[tokio::test]
async fn audit_logs_are_append_only_for_the_service_role() {
    let app = TestApp::spawn().await;
    let t = app.create_tenant("alpha", None).await;
    app.create_user("alpha", "admin", &["admin"], false).await; // the login writes an audit row
    let mut tx = app.tenant_tx(t).await;
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_logs")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(n >= 1);
    let err = sqlx::query("DELETE FROM audit_logs")
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}
