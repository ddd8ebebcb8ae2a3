//! `k12`: every role the platform's process can play, as subcommands.

mod backup;
mod dbargs;
mod deploy_window;
mod dev;
mod gateway_cmd;
mod import;
mod jobs_cli;
mod lint_migrations;
mod provision;
mod safety_check;
mod seed;
mod url_check;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "k12", version, about = "K-12 school platform backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the whole product on a private PostgreSQL with demo data (no configuration).
    Dev(dev::DevArgs),
    /// Serve the API (production; configuration from the environment).
    Serve,
    /// Run the AI gateway: provider keys and model traffic, every prompt and answer
    /// screened (K12_GATEWAY_LISTEN, K12_GATEWAY_TOKEN, K12_OPENAI_*, K12_ANTHROPIC_*).
    Gateway,
    /// Apply database migrations as the owner role (DATABASE_OWNER_URL or DATABASE_URL).
    Migrate,
    /// Manage platform operators.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Run background jobs and fire schedules (production; configuration from the
    /// environment: DATABASE_URL and K12_WORKER_*). Stops on SIGTERM within
    /// K12_WORKER_SHUTDOWN_SECS.
    Worker,
    /// Inspect the job queues and schedules; run a schedule now.
    #[command(subcommand)]
    Jobs(jobs_cli::JobsCommand),
    /// Back up the database, verify a backup by restoring it, list and prune backups.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
    /// Restore a backup into a target database (refuses a non-empty one without --force).
    Restore(backup::RestoreArgs),
    /// Maintenance tasks for operators.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Provision a school in one transaction (tenant, roles, admin with setup token,
    /// academic year, frameworks); every invalid field is reported together.
    /// Reads DATABASE_URL (or --data-dir).
    Provision(provision::ProvisionArgs),
    /// Import a roster CSV (users, courses or enrollments) into a tenant; every bad row is
    /// reported with its line, re-running a file changes nothing. Reads DATABASE_URL (or
    /// --data-dir).
    Import(import::ImportArgs),
    /// The child-safety library from the command line.
    #[command(subcommand)]
    Safety(SafetyCommand),
    /// Judge URLs with the server's own outbound URL guard (scheme, userinfo, port, DNS
    /// resolution, addresses) and print one verdict per line; exit 1 if any is refused.
    /// Reads K12_DNS_SERVERS, K12_URL_ALLOWED_PORTS, K12_URL_ALLOW_HTTP, K12_URL_ALLOWLIST.
    UrlCheck(url_check::UrlCheckArgs),
    /// Lint migration files for statements that lock busy tables or break the running
    /// release (default `migrations/`); exit 0 clean, 1 findings, 2 unreadable or
    /// unparsable input. Rule ids and safe alternatives: README "Migration linter".
    LintMigrations(lint_migrations::LintMigrationsArgs),
    /// Whether a deploy may start now (or `--at`): no school anywhere in its hours or
    /// within K12_DEPLOY_RUNWAY_MINUTES before them, or an active override. Names the
    /// blocking schools and the next safe window; exit 0 safe, 3 blocked, 2 error.
    /// Reads DATABASE_URL (or --data-dir).
    DeployWindow(deploy_window::DeployWindowArgs),
}

#[derive(Subcommand, Debug)]
enum SafetyCommand {
    /// Screen JSON Lines from stdin (`{"text", "direction"?, "level"?, "role"?}`) and
    /// print one verdict per line: why a text would be allowed, redacted, sanitised,
    /// blocked or escalated.
    Check(safety_check::SafetyCheckArgs),
}

#[derive(Subcommand, Debug)]
enum MaintenanceCommand {
    /// Recompute every counter cache from COUNT(*) and print each drift it fixed (JSON
    /// lines), then a summary. `--check` reports without fixing and exits 1 on drift.
    Recount {
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        db: dbargs::DbArgs,
    },
}

#[derive(Subcommand, Debug)]
enum OperatorCommand {
    /// Create a platform operator; prints a single-use setup token on the last line.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        db: dbargs::DbArgs,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::LintMigrations(args) => return lint_migrations::run(args),
        other => Cli { command: other },
    };
    // Held to the end of `main`: dropping it flushes the queued log lines.
    let log = platform::logging::init_stderr();
    let code = run(cli);
    let dropped = log.dropped_lines();
    drop(log);
    if dropped > 0 {
        eprintln!("warning: {dropped} log lines were dropped (the log writer fell behind)");
    }
    code
}

fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = match cli.command {
        Command::UrlCheck(args) => return runtime.block_on(url_check::run(args)),
        Command::DeployWindow(args) => return runtime.block_on(deploy_window::run(args)),
        other => other,
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Dev(args) => dev::run(args).await,
            Command::Safety(SafetyCommand::Check(args)) => {
                tokio::task::spawn_blocking(move || safety_check::run(args)).await?
            }
            Command::Serve => serve().await,
            Command::Gateway => gateway_cmd::run().await,
            Command::Migrate => migrate().await,
            Command::Worker => worker::run().await,
            Command::Jobs(command) => jobs_cli::run(command).await,
            Command::Backup(command) => backup::run(command).await,
            Command::Restore(args) => backup::restore(args).await,
            Command::Provision(args) => provision::run(args).await,
            Command::Import(args) => import::run(args).await,
            Command::Maintenance(MaintenanceCommand::Recount { check, db }) => {
                recount(check, &db).await
            }
            Command::Operator(OperatorCommand::Create { email, name, db }) => {
                create_operator(&email, &name, &db).await
            }
            Command::UrlCheck(_) | Command::LintMigrations(_) | Command::DeployWindow(_) => {
                unreachable!("handled above")
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

/// The service's state from the validated configuration: the API's, and the worker's
/// when its environment has the API's variables (alert evaluation and notifications
/// need it).
pub(crate) fn app_state(
    config: &platform::config::Config,
) -> anyhow::Result<platform::http::AppState> {
    use platform::config::ProcessEnv;
    let limits = platform::ratelimit::Settings::from_vars(&ProcessEnv, config.env)?;
    let limiter = platform::ratelimit::RateLimiter::from_config(
        limits,
        config.redis_url.as_ref().map(|u| u.expose()),
    )?;
    let db = platform::db::Db::from_config(&config.database)?;
    let egress = platform::outbound::egress_config(&ProcessEnv, config.env)?;
    let outbound = platform::outbound::Outbound::new(egress, &config.secret_key)?;
    let store = storage::Store::open(&config.storage)?;
    let state = platform::http::AppState::new(
        db,
        platform::http::ServiceConfig {
            env: config.env,
            cors_origins: config.cors_origins.clone(),
            outbound,
            monitoring: platform::monitoring::MonitoringConfig {
                gateway_url: config.gateway_url.clone(),
                data_dir: Some(config.data_dir.clone()),
                uptime: platform::monitoring::uptime::UptimeSettings::from_vars(
                    &ProcessEnv,
                    config.listen,
                    config.gateway_url.as_deref(),
                )?,
            },
            alerts: platform::monitoring::notify::AlertSettings::from_vars(&ProcessEnv)?,
            ai: platform::ai::AiConfig::from_config(config)?,
        },
        store,
    )
    .with_limiter(limiter);
    Ok(state)
}

async fn serve() -> anyhow::Result<()> {
    use platform::config::{Config, ProcessEnv};
    let config = Config::from_vars(&ProcessEnv)?;
    // Checked at start so a bad value stops the process, not the first verdict.
    platform::deploy::runway(&ProcessEnv)?;
    let state = app_state(&config)?;
    // Feature flags: one LISTEN connection reloads this process's snapshot on change.
    let _flag_listener = state.flags.spawn_listener(
        state.db.clone(),
        platform::flags::listen_url(&config.database).clone(),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("K12_LISTEN: cannot listen on {}: {e}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "API listening");
    // Prometheus on its own address, only when asked for (K12_METRICS_LISTEN).
    let metrics = match config.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("K12_METRICS_LISTEN: cannot listen on {addr}: {e}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics listening");
            Some(tokio::spawn(platform::app::serve(
                l,
                platform::monitoring::exposition::router(state.clone()),
                shutdown_signal(),
            )))
        }
        None => None,
    };
    platform::app::serve(listener, platform::app::router(state), shutdown_signal()).await?;
    if let Some(m) = metrics {
        m.await??;
    }
    Ok(())
}

async fn migrate() -> anyhow::Result<()> {
    use platform::config::{ProcessEnv, VarSource};
    let url = ProcessEnv
        .get("DATABASE_OWNER_URL")
        .or_else(|| ProcessEnv.get("DATABASE_URL"))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "invalid configuration: DATABASE_OWNER_URL (or DATABASE_URL) is required"
            )
        })?;
    platform::db::migrate(&url).await?;
    println!("migrations applied");
    Ok(())
}

async fn recount(check_only: bool, db: &dbargs::DbArgs) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let started = std::time::Instant::now();
    let drift = if check_only {
        platform::counters::drift(&conn.db).await?
    } else {
        platform::counters::recount(&conn.db).await?
    };
    conn.finish()?;
    for d in &drift {
        println!("{}", serde_json::to_string(d)?);
    }
    let verb = if check_only { "found" } else { "fixed" };
    eprintln!(
        "recount: {verb} {} drifted counter(s) in {:.1} s",
        drift.len(),
        started.elapsed().as_secs_f64()
    );
    if check_only && !drift.is_empty() {
        anyhow::bail!("counter caches drifted; run `k12 maintenance recount` to fix them");
    }
    Ok(())
}

async fn create_operator(email: &str, name: &str, db: &dbargs::DbArgs) -> anyhow::Result<()> {
    let email =
        platform::identity::Email::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let conn = db.connect().await?;
    let mut tx = conn.db.system().await?;
    let created = platform::operators::create(&mut tx, &email, name, None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    conn.finish()?;
    println!(
        "operator {} created (id {}); setup token valid until {}:",
        email.as_str(),
        created.id,
        created.expires_at.to_rfc3339()
    );
    println!("{}", created.setup_token);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        super::Cli::command().debug_assert();
    }
}
