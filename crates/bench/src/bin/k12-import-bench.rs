//! `k12-import-bench`: roster import and provisioning throughput on a private PostgreSQL.
//!
//! * 100,000 user rows imported through the CSV fast path, next to a plain `COPY` of the
//!   same rows into the same tables (users, then their roles) of another tenant, in the
//!   same run: the physical baseline.
//! * 1,000,000 enrollment rows (100,000 users in 10 courses), with rows/s and the peak
//!   resident set size of this process (VmHWM) while importing.
//! * Provisioning: p50/p99 of 100 schools one by one, and one bulk of 100.
//!
//! `--users` and `--enrollments` scale it down for a quick check.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use pgcluster::Cluster;
use platform::db::{self, Db, TenantId};
use platform::imports::{self, ImportActor, ImportKind};
use platform::provisioning::{self, ProvisionSchool, Provisioner};
use platform::request::RequestMeta;

const SUPERUSER_PASSWORD: &str = "k12-bench-superuser";
const OWNER_PASSWORD: &str = "k12-bench-owner";
const APP_PASSWORD: &str = "k12-bench-app";
const DATABASE: &str = "k12_import_bench";

#[derive(Parser, Debug)]
#[command(
    name = "k12-import-bench",
    about = "Roster import vs COPY, and provisioning latency"
)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    #[arg(long, default_value_t = 1_000_000)]
    enrollments: usize,
    #[arg(long, default_value_t = 100)]
    schools: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = std::env::temp_dir().join(format!("k12-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cluster = Cluster::init(&dir.join("data"), SUPERUSER_PASSWORD)?;
    cluster.start(0)?;
    let result = runtime.block_on(run(&args, &cluster));
    let stopped = cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    stopped
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64().max(1e-9)
}

fn school(i: usize, prefix: &str) -> ProvisionSchool {
    ProvisionSchool {
        school_name: Some(format!("Bench School {i}")),
        subdomain: Some(format!("{prefix}-{i}")),
        admin_email: Some(format!("admin{i}@bench.example.org")),
        admin_first_name: Some("Bench".into()),
        admin_last_name: Some("Admin".into()),
        ..Default::default()
    }
}

async fn run(args: &Args, cluster: &Cluster) -> anyhow::Result<()> {
    db::bootstrap_roles(
        &cluster.url("postgres", SUPERUSER_PASSWORD, "postgres"),
        DATABASE,
        OWNER_PASSWORD,
        APP_PASSWORD,
    )
    .await?;
    db::migrate(&cluster.url("k12_owner", OWNER_PASSWORD, DATABASE)).await?;
    let db = Db::connect_lazy(
        &cluster.url("k12_app", APP_PASSWORD, DATABASE),
        &Default::default(),
    )?;
    let resolver = egress::GuardedResolver::new(&egress::EgressConfig::default())?;
    let meta = RequestMeta::default();

    // Provisioning, one by one, then a bulk.
    let mut latencies = Vec::with_capacity(args.schools);
    for i in 0..args.schools {
        let started = Instant::now();
        provisioning::provision(&db, &resolver, &school(i, "one"), Provisioner::Cli, &meta)
            .await
            .map_err(|e| anyhow::anyhow!("provisioning: {e}"))?;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    let bulk: Vec<ProvisionSchool> = (0..args.schools).map(|i| school(i, "bulk")).collect();
    let started = Instant::now();
    let report = provisioning::bulk(&db, &resolver, &bulk, Provisioner::Cli, &meta)
        .await
        .map_err(|e| anyhow::anyhow!("bulk: {e}"))?;
    let bulk_time = started.elapsed();
    anyhow::ensure!(
        report.created == args.schools,
        "bulk: {} failed",
        report.failed
    );
    println!(
        "provisioning: {} schools one by one: p50 {:.1} ms, p99 {:.1} ms; bulk of {}: {:.2} s",
        args.schools,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        args.schools,
        bulk_time.as_secs_f64()
    );

    let tenant_of = |slug: String| {
        let db = db.clone();
        async move {
            let mut sys = db.system().await?;
            let id = platform::tenancy::tenant_id_by_slug(&mut sys, &slug)
                .await?
                .with_context(|| format!("tenant {slug}"))?;
            sys.commit().await?;
            anyhow::Ok(id)
        }
    };
    let import_tenant = tenant_of("one-0".into()).await?;
    let copy_tenant = tenant_of("one-1".into()).await?;

    // 100,000 users: the CSV import, and a plain COPY of the same rows.
    let mut csv = String::from("email,first_name,last_name,role\n");
    let mut copy_users = String::new();
    for i in 0..args.users {
        csv.push_str(&format!("user{i}@bench.test,First{i},Last{i},student\n"));
        copy_users.push_str(&format!(
            "{}\tuser{i}@bench.test\tFirst{i}\tLast{i}\n",
            copy_tenant.0
        ));
    }
    let started = Instant::now();
    let prepared =
        imports::prepare(ImportKind::Users, csv.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = imports::import_now(
        &db,
        import_tenant,
        prepared,
        false,
        ImportActor::Cli,
        &meta,
        |_| {},
    )
    .await
    .map_err(|e| anyhow::anyhow!("users import: {e}"))?;
    let import_time = started.elapsed();
    anyhow::ensure!(
        r.created as usize == args.users,
        "users created: {}",
        r.created
    );
    let superuser = cluster.url("postgres", SUPERUSER_PASSWORD, DATABASE);
    let copy_time = plain_copy(&superuser, copy_tenant, &copy_users, args.users).await?;
    let (import_rate, copy_rate) = (rate(args.users, import_time), rate(args.users, copy_time));
    println!(
        "users: import {} rows in {:.2} s ({:.0} rows/s); plain COPY {:.2} s ({:.0} rows/s); ratio {:.2}",
        args.users,
        import_time.as_secs_f64(),
        import_rate,
        copy_time.as_secs_f64(),
        copy_rate,
        import_rate / copy_rate
    );
    drop(csv);
    drop(copy_users);

    // 1,000,000 enrollments: every user in `courses` courses.
    let courses = args.enrollments.div_ceil(args.users).max(1);
    let mut course_csv = String::from("name,description,section_name\n");
    for c in 0..courses {
        course_csv.push_str(&format!("Course {c},Bench,Main\n"));
    }
    let prepared = imports::prepare(ImportKind::Courses, course_csv.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    imports::import_now(
        &db,
        import_tenant,
        prepared,
        false,
        ImportActor::Cli,
        &meta,
        |_| {},
    )
    .await
    .map_err(|e| anyhow::anyhow!("courses import: {e}"))?;
    let mut enr = String::from("email,course_name,section_name,role\n");
    let mut n = 0;
    'outer: for c in 0..courses {
        for i in 0..args.users {
            if n == args.enrollments {
                break 'outer;
            }
            enr.push_str(&format!("user{i}@bench.test,Course {c},Main,student\n"));
            n += 1;
        }
    }
    let before = peak_rss_mib();
    let started = Instant::now();
    let prepared = imports::prepare(ImportKind::Enrollments, enr.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = imports::import_now(
        &db,
        import_tenant,
        prepared,
        false,
        ImportActor::Cli,
        &meta,
        |_| {},
    )
    .await
    .map_err(|e| anyhow::anyhow!("enrollments import: {e}"))?;
    let t = started.elapsed();
    anyhow::ensure!(
        r.created as usize == n,
        "enrollments created: {} of {n}",
        r.created
    );
    println!(
        "enrollments: {n} rows in {:.2} s ({:.0} rows/s); file {:.1} MiB; peak RSS {:.0} MiB (before the import {:.0} MiB)",
        t.as_secs_f64(),
        rate(n, t),
        enr.len() as f64 / 1048576.0,
        peak_rss_mib(),
        before
    );
    Ok(())
}

/// The baseline: the same users and their role rows with COPY straight into the tables.
/// PostgreSQL refuses COPY FROM into a table under row-level security, so the baseline
/// runs as the superuser (RLS bypassed), with the tenant id in the rows.
async fn plain_copy(
    superuser_url: &str,
    tenant: TenantId,
    rows: &str,
    n: usize,
) -> anyhow::Result<Duration> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(superuser_url).await?;
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    let mut copy = tx
        .copy_in_raw("COPY users (tenant_id, email, first_name, last_name) FROM STDIN")
        .await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    let inserted = sqlx::query(
        "INSERT INTO user_roles (tenant_id, user_id, role_id)
         SELECT $1, u.id, r.id FROM users u JOIN roles r ON r.tenant_id = u.tenant_id
          WHERE u.tenant_id = $1 AND r.name = 'student' AND u.email LIKE 'user%@bench.test'",
    )
    .bind(tenant.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        inserted.rows_affected() as usize == n,
        "roles: {}",
        inserted.rows_affected()
    );
    Ok(elapsed)
}
