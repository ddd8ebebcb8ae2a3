//! `k12-bench`: seeds a realistic district in a private PostgreSQL, serves the real router
//! on loopback, drives the main list endpoints with concurrent HTTP clients, and runs the
//! very statements each endpoint runs with `pgbench` against the same database: the
//! physical limit next to what the service achieves. See `docs/benchmarks.md`.

mod cpu;
mod endpoints;
mod load;
mod pgbench;
mod report;
mod scenarios;
mod seed;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use pgcluster::Cluster;
use platform::config::{Environment, PoolConfig};
use platform::db::{self, Db};

/// Fixed credentials: the cluster is private to this process and listens on loopback only.
const SUPERUSER_PASSWORD: &str = "k12-bench-superuser";
const OWNER_PASSWORD: &str = "k12-bench-owner";
const APP_PASSWORD: &str = "k12-bench-app";
const DATABASE: &str = "k12_bench";

#[derive(Parser, Debug)]
#[command(
    name = "k12-bench",
    about = "Seed a district, drive the list endpoints over HTTP, compare with pgbench on the same SQL"
)]
pub struct Args {
    /// Keep the cluster and the seeded district here and reuse them on the next run
    /// (default: a temporary directory, removed at exit).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Concurrent clients, for HTTP and for pgbench.
    #[arg(long, short = 'c', default_value_t = 16)]
    clients: usize,
    /// Seconds of measurement per endpoint, for HTTP and for pgbench.
    #[arg(long, short = 'd', default_value_t = 10)]
    duration: u64,
    /// Seconds of HTTP warm-up per endpoint before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The service's connection-pool size (as K12_DB_POOL_SIZE).
    #[arg(long, default_value_t = PoolConfig::default().size)]
    pool_size: u32,
    /// Run the service's pool as behind a transaction-pooling PgBouncer
    /// (K12_DB_PGBOUNCER=transaction: no statement cache, DEALLOCATE ALL in each BEGIN),
    /// directly against PostgreSQL: the cost of that mode, next to a default run.
    #[arg(long)]
    statement_cache_off: bool,
    /// A tiny district and one-second runs: checks that everything works end to end.
    #[arg(long)]
    smoke: bool,
    /// Only the endpoints whose name contains one of these words (comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also measure where the time goes: the health endpoint against `SELECT 1`, and
    /// pgbench on the session lookup alone and on the handler transaction alone.
    #[arg(long)]
    profile: bool,
    /// Skip the 100k-user bulk import measurement.
    #[arg(long)]
    skip_bulk: bool,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Clients of the stampede on the list routes (0 skips it).
    #[arg(long, default_value_t = 256)]
    stampede_clients: usize,
    /// Seconds of the stampede.
    #[arg(long, default_value_t = 30)]
    stampede_secs: u64,
    /// Skip the analytics routes and the refresh under list traffic.
    #[arg(long)]
    skip_analytics: bool,
    /// Skip the endpoints through PgBouncer (skipped anyway when it is not installed).
    #[arg(long)]
    skip_pgbouncer: bool,
    /// Keep the service's log (JSON lines, as production writes them) in this file
    /// (default: a temporary file, removed at exit).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

/// The service's log: the production configuration (`platform::logging`, JSON lines,
/// non-blocking writer, an INFO access line per request), written to a file through a
/// writer that counts what reaches it.
struct ServiceLog {
    path: PathBuf,
    temporary: bool,
    volume: report::LogVolume,
    guard: platform::logging::LogGuard,
}

fn init_logging(args: &Args) -> anyhow::Result<ServiceLog> {
    let (path, temporary) = match &args.log_file {
        Some(path) => (path.clone(), false),
        None => (
            std::env::temp_dir().join(format!("k12-bench-{}-service.log", std::process::id())),
            true,
        ),
    };
    let file = std::fs::File::create(&path)
        .with_context(|| format!("creating the service log {}", path.display()))?;
    let volume = report::LogVolume::default();
    let writer = report::CountingWriter::new(file, volume.clone());
    let guard = platform::logging::init(writer, platform::logging::LogFormat::Json, false);
    Ok(ServiceLog {
        path,
        temporary,
        volume,
        guard,
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let log = match init_logging(&args) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "service log (production configuration: JSON, non-blocking, INFO access line per request): {}",
        log.path.display()
    );
    // The service on one runtime, the HTTP clients on another: separate threads, so
    // their CPU can be told apart.
    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .thread_name(cpu::SERVER_THREADS)
        .enable_all()
        .build()
        .and_then(|server| {
            let clients = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(cpu::CLIENT_THREADS)
                .enable_all()
                .build()?;
            Ok((server, clients))
        });
    let (runtime, clients) = match runtimes {
        Ok(rts) => rts,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args, clients.handle().clone(), &log));
    let ServiceLog {
        path,
        temporary,
        guard,
        ..
    } = log;
    drop(guard);
    if temporary {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The cluster directory, and whether it is ours to delete at exit.
fn cluster_dir(args: &Args) -> anyhow::Result<(PathBuf, bool)> {
    match &args.data_dir {
        Some(dir) => Ok((dir.join("pg"), false)),
        None => {
            let dir = std::env::temp_dir().join(format!("k12-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            Ok((dir, true))
        }
    }
}

async fn run(args: Args, clients: tokio::runtime::Handle, log: &ServiceLog) -> anyhow::Result<()> {
    let (dir, temporary) = cluster_dir(&args)?;
    let mut cluster = Cluster::init(&dir.join("data"), SUPERUSER_PASSWORD)?;
    if cluster.is_running() {
        cluster.stop()?;
    }
    cluster.start(0)?;
    eprintln!(
        "PostgreSQL started on 127.0.0.1:{} ({})",
        cluster.port,
        dir.display()
    );
    let result = tokio::select! {
        result = run_with_cluster(&args, &cluster, &dir, clients, log) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let stopped = cluster.stop();
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result?;
    stopped
}

/// Connection URLs of the bench database.
pub struct Urls {
    pub port: u16,
    pub superuser: String,
    pub owner: String,
    pub app: String,
}

async fn run_with_cluster(
    args: &Args,
    cluster: &Cluster,
    dir: &std::path::Path,
    client_runtime: tokio::runtime::Handle,
    log: &ServiceLog,
) -> anyhow::Result<()> {
    let urls = Urls {
        port: cluster.port,
        superuser: cluster.url("postgres", SUPERUSER_PASSWORD, DATABASE),
        owner: cluster.url("k12_owner", OWNER_PASSWORD, DATABASE),
        app: cluster.url("k12_app", APP_PASSWORD, DATABASE),
    };
    db::bootstrap_roles(
        &cluster.url("postgres", SUPERUSER_PASSWORD, "postgres"),
        DATABASE,
        OWNER_PASSWORD,
        APP_PASSWORD,
    )
    .await?;
    db::migrate(&urls.owner).await?;

    let pool = PoolConfig {
        size: args.pool_size,
        pgbouncer: if args.statement_cache_off {
            platform::config::PgBouncerMode::Transaction
        } else {
            platform::config::PgBouncerMode::Off
        },
        ..PoolConfig::default()
    };
    let db = Db::connect_lazy(&urls.app, &pool)?;
    let shape = if args.smoke {
        seed::Shape::smoke()
    } else {
        seed::Shape::full()
    };
    let seeding = seed::ensure(&db, &urls, &shape).await?;
    let bulk = if args.skip_bulk {
        None
    } else {
        Some(seed::bulk_import(&db, &urls, shape.bulk_users).await?)
    };
    let targets = seed::load_targets(&db).await?;

    // The service as production runs it (no Server-Timing), and a development twin
    // used once per endpoint to count the statements a request runs.
    // The bench sends no uploads; a file store beside the cluster satisfies the state.
    let store = storage::Store::open(&storage::StorageConfig::from_lookup(
        |_| None,
        Some(format!(
            "file://{}",
            std::path::absolute(dir)?.join("storage").display()
        )),
    )?)?;
    let serve = |env: Environment, db: Db| {
        let store = store.clone();
        async move {
            let outbound = platform::outbound::Outbound::new(
                platform::outbound::EgressConfig::default(),
                &platform::config::Secret::new(platform::auth::token::random_password()),
            )?;
            // The rate limiter stays on every request (its cost is part of the path), with
            // quotas a benchmark never meets: its clients are a few hundred users sending
            // thousands of requests a second.
            let mut limits = platform::ratelimit::Settings::defaults(env);
            for limit in platform::ratelimit::Limit::ALL {
                limits.quotas.set(
                    limit,
                    platform::ratelimit::Quota::new(1_000_000, 1).map_err(anyhow::Error::msg)?,
                );
            }
            let state = platform::http::AppState::new(
                db,
                platform::http::ServiceConfig::new(env, outbound),
                store.clone(),
            )
            .with_limiter(platform::ratelimit::RateLimiter::in_process(limits));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(platform::app::serve(
                listener,
                platform::app::router(state),
                async move {
                    let _ = stopped.await;
                },
            ));
            anyhow::Ok((format!("http://{addr}"), stop, server))
        }
    };
    let (prod_url, stop_prod, prod_server) = serve(Environment::Production, db.clone()).await?;
    let (dev_url, stop_dev, dev_server) = serve(Environment::Development, db.clone()).await?;

    let pgbench = pgbench::Pgbench::find(cluster.port, APP_PASSWORD, DATABASE, dir)?;
    let (duration, warmup, clients) = if args.smoke {
        (1, 0, args.clients.min(4))
    } else {
        (args.duration, args.warmup, args.clients)
    };
    let settings = load::Settings {
        clients,
        duration: Duration::from_secs(duration),
        warmup: Duration::from_secs(warmup),
        runtime: client_runtime,
        meter: cpu::Meter::new(&cluster.data_dir),
    };
    let meter = settings.meter.as_ref();
    let machine = report::Machine::probe(&db).await?;
    let client = load::client(clients)?;

    let mut rows = Vec::new();
    for endpoint in endpoints::all() {
        if !args.only.is_empty() && !args.only.iter().any(|w| endpoint.name.contains(w.as_str())) {
            continue;
        }
        let pool = targets.of(endpoint.who);
        let check = load::verify(&client, &dev_url, &endpoint, pool)
            .await
            .with_context(|| format!("checking {}", endpoint.name))?;
        eprintln!(
            "{}: {} statements per request, {} rows, {} bytes",
            endpoint.name, check.statements, check.rows, check.bytes
        );
        let load_at_start = report::Load::now();
        let http = load::run(&client, &prod_url, &endpoint, pool, &settings).await;
        eprintln!(
            "  HTTP     {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {}",
            http.rate(),
            http.p50_ms(),
            http.p99_ms(),
            http.errors
        );
        let file = endpoint.file_name();
        let pg = pgbench
            .run(
                &file,
                &pgbench::script(&endpoint, pool.len(), pgbench::Part::Whole),
                clients,
                duration,
                meter,
            )
            .await?;
        eprintln!(
            "  pgbench  {:>8.0} tps    p50 {:.2} ms  p99 {:.2} ms  ({} transactions, {} failed)",
            pg.tps, pg.p50_ms, pg.p99_ms, pg.transactions, pg.failed
        );
        if pg.failed > 0 {
            anyhow::bail!(
                "pgbench: {} transactions of {} failed",
                pg.failed,
                endpoint.name
            );
        }
        let profile = if args.profile {
            let mut parts = Vec::new();
            for part in [
                pgbench::Part::SessionLookup,
                pgbench::Part::Handler,
                pgbench::Part::TargetPick,
            ] {
                let r = pgbench
                    .run(
                        &format!("{file}-{part:?}"),
                        &pgbench::script(&endpoint, pool.len(), part),
                        clients,
                        duration,
                        meter,
                    )
                    .await?;
                eprintln!(
                    "  pgbench {part:?}: {:.0} tps, p50 {:.2} ms",
                    r.tps, r.p50_ms
                );
                parts.push((part, r));
            }
            parts
        } else {
            Vec::new()
        };
        rows.push(report::Row {
            name: endpoint.name.to_string(),
            statements: check.statements,
            rows: check.rows,
            bytes: check.bytes,
            load: load_at_start,
            http,
            pgbench: pg,
            profile,
        });
    }

    let baseline = if args.profile {
        let http = load::run_health(&client, &prod_url, &settings).await;
        let pg = pgbench
            .run(
                "health",
                &pgbench::health_script(),
                clients,
                duration,
                meter,
            )
            .await?;
        Some((http, pg))
    } else {
        None
    };

    let mut scenarios = scenarios::Scenarios::default();
    let lists = scenarios::list_requests(&targets);
    if args.stampede_clients > 0 && args.stampede_secs > 0 {
        let secs = if args.smoke { 1 } else { args.stampede_secs };
        eprintln!(
            "stampede: {} clients for {secs} s on the list routes, pool {}",
            args.stampede_clients, args.pool_size
        );
        let s = scenarios::stampede(
            &prod_url,
            lists.clone(),
            args.stampede_clients,
            Duration::from_secs(secs),
            settings.runtime.clone(),
            &db,
            pool.acquire_timeout,
        )
        .await?;
        eprintln!(
            "  {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  errors {}  503s {}",
            s.outcome.rate(),
            s.outcome.p50_ms(),
            s.outcome.p99_ms(),
            s.outcome.max_ms(),
            s.outcome.errors,
            s.outcome.unavailable
        );
        scenarios.stampede = Some(s);
    }
    if !args.skip_analytics {
        eprintln!("analytics: the two admin routes, then refreshes under list traffic");
        let a = scenarios::analytics(&client, &prod_url, &db, &settings, lists.clone()).await?;
        eprintln!(
            "  daily p99 {:.2} ms, courses p99 {:.2} ms; {} refreshes under load; list p99 {:.2} ms without, {:.2} ms during",
            a.daily.p99_ms(),
            a.courses.p99_ms(),
            a.refreshes.len(),
            a.list_without.p99_ms(),
            a.list_during.p99_ms()
        );
        scenarios.analytics = Some(a);
    }
    if args.skip_pgbouncer {
        scenarios.pgbouncer_skipped = Some("--skip-pgbouncer".into());
    } else {
        match scenarios::Bouncer::start(cluster.port, APP_PASSWORD, args.pool_size, dir)? {
            None => {
                eprintln!("PgBouncer is not installed: skipping that part");
                scenarios.pgbouncer_skipped = Some("pgbouncer is not installed".into());
            }
            Some(bouncer) => {
                eprintln!("through {} on 127.0.0.1:{}", bouncer.version, bouncer.port);
                let bounced_db = Db::connect_lazy(
                    &format!(
                        "postgres://k12_app:{APP_PASSWORD}@127.0.0.1:{}/{DATABASE}",
                        bouncer.port
                    ),
                    &PoolConfig {
                        pgbouncer: platform::config::PgBouncerMode::Transaction,
                        ..pool.clone()
                    },
                )?;
                let (url, stop, server) = serve(Environment::Production, bounced_db).await?;
                let measured: Vec<_> = endpoints::all()
                    .into_iter()
                    .filter(|e| rows.iter().any(|r| r.name == e.name))
                    .collect();
                let bounced =
                    scenarios::through_pgbouncer(&client, &url, &measured, &targets, &settings)
                        .await;
                let _ = stop.send(());
                server.await??;
                scenarios.pgbouncer = Some((bouncer.version.clone(), bounced));
            }
        }
    }

    drop(client);
    let _ = stop_prod.send(());
    let _ = stop_dev.send(());
    prod_server.await??;
    dev_server.await??;

    let machine = machine.finish();
    let logging = report::Logging {
        filter: std::env::var("RUST_LOG")
            .unwrap_or_else(|_| platform::logging::DEFAULT_FILTER.to_string()),
        lines: log.volume.lines(),
        bytes: log.volume.bytes(),
        dropped: log.guard.dropped_lines(),
    };
    let text = report::markdown(&report::Report {
        logging: &logging,
        args,
        settings: &settings,
        shape: &shape,
        machine: &machine,
        seeding: &seeding,
        bulk: bulk.as_ref(),
        rows: &rows,
        baseline: baseline.as_ref(),
        scenarios: &scenarios,
    });
    println!("{text}");
    if let Some(path) = &args.output {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    let errors: u64 = rows.iter().map(|r| r.http.errors).sum::<u64>()
        + scenarios.stampede.as_ref().map_or(0, |s| s.outcome.errors)
        + scenarios
            .pgbouncer
            .as_ref()
            .map_or(0, |(_, b)| b.iter().map(|b| b.http.errors).sum::<u64>());
    if errors > 0 {
        anyhow::bail!(
            "{errors} HTTP requests failed (non-200 answers other than 503 with Retry-After)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
