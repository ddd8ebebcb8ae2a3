//! `k12 dev`: the whole product on a fresh machine with no configuration.
//!
//! A private PostgreSQL cluster in `DIR/pg` (initdb on first run, reused afterwards),
//! migrations, the demo district seeded once, the API; `DIR/dev.json` is written when
//! everything answers; Ctrl-C or SIGTERM stops the API and then PostgreSQL.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::seed::{self, DemoLogins};
use pgcluster::Cluster;
use platform::auth::token::random_password;
use platform::db::{self, Db};

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Where the database, secrets and files live.
    #[arg(long, default_value = ".k12")]
    pub data_dir: PathBuf,
    /// API address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// AI gateway address; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub gateway_listen: SocketAddr,
    /// Prometheus `/metrics` address; port 0 (the default) picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub metrics_listen: SocketAddr,
}

/// Secrets generated on first run and kept in `DIR/dev-state.json` (mode 0600).
#[derive(Serialize, Deserialize)]
pub struct DevState {
    pub superuser_password: String,
    pub owner_password: String,
    pub app_password: String,
    pub secret_key: String,
    pub logins: Option<DemoLogins>,
}

impl DevState {
    fn path(dir: &Path) -> PathBuf {
        dir.join("dev-state.json")
    }

    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(Self::path(dir))?;
        Ok(serde_json::from_str(&text)?)
    }

    fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        if Self::path(dir).exists() {
            return Self::load(dir);
        }
        let state = Self {
            superuser_password: random_password(),
            owner_password: random_password(),
            app_password: random_password(),
            secret_key: format!("{}{}", random_password(), random_password()),
            logins: None,
        };
        state.save(dir)?;
        Ok(state)
    }

    fn save(&self, dir: &Path) -> anyhow::Result<()> {
        write_private(&Self::path(dir), &serde_json::to_string_pretty(self)?)
    }
}

/// The contract of `DIR/dev.json` (spec 00, "The embedded default").
#[derive(Serialize)]
struct DevJson<'a> {
    api_url: String,
    gateway_url: Option<String>,
    /// The service token of the in-process gateway (a new one per run).
    gateway_token: String,
    metrics_url: String,
    database_url: String,
    owner_database_url: String,
    operator: &'a seed::OperatorLogin,
    tenants: &'a [seed::TenantLogins],
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    // Rate limits: ten times the production defaults unless K12_RATE_LIMITS says
    // otherwise; shared through Redis only when REDIS_URL is set. Checked before anything
    // starts, so a bad value stops `k12 dev` naming the variable.
    let limits = platform::ratelimit::Settings::from_vars(
        &platform::config::ProcessEnv,
        platform::config::Environment::Development,
    )?;
    let redis_url = platform::config::VarSource::get(&platform::config::ProcessEnv, "REDIS_URL");
    let limiter = platform::ratelimit::RateLimiter::from_config(limits, redis_url.as_deref())?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let dir = args.data_dir.canonicalize()?;
    let _ = std::fs::remove_file(dir.join("dev.json"));
    let mut state = DevState::load_or_create(&dir)?;

    let mut cluster = Cluster::init(&dir.join("pg"), &state.superuser_password)?;
    if cluster.is_running() {
        tracing::warn!("a PostgreSQL server from an earlier run is still up; restarting it");
        cluster.stop()?;
    }
    cluster.start(0)?;
    tracing::info!(port = cluster.port, "PostgreSQL started");

    let result = run_with_cluster(&args, &dir, &mut state, &cluster, limiter).await;
    tracing::info!("stopping PostgreSQL");
    let stopped = cluster.stop();
    let _ = std::fs::remove_file(dir.join("dev.json"));
    result?;
    stopped
}

async fn run_with_cluster(
    args: &DevArgs,
    dir: &Path,
    state: &mut DevState,
    cluster: &Cluster,
    limiter: platform::ratelimit::RateLimiter,
) -> anyhow::Result<()> {
    let superuser = cluster.url("postgres", &state.superuser_password, "postgres");
    db::bootstrap_roles(
        &superuser,
        "k12",
        &state.owner_password,
        &state.app_password,
    )
    .await?;
    let owner_url = cluster.url("k12_owner", &state.owner_password, "k12");
    let app_url = cluster.url("k12_app", &state.app_password, "k12");
    db::prepare_query_insight(&cluster.url("postgres", &state.superuser_password, "k12")).await?;
    db::migrate(&owner_url).await?;

    let db = Db::connect_lazy(&app_url, &Default::default())?;
    let logins = match (&state.logins, seed::is_seeded(&db).await?) {
        (Some(logins), true) => logins.clone(),
        (None, false) | (Some(_), false) => {
            tracing::info!("seeding the demo district");
            let logins = seed::seed_demo(&db).await?;
            // The analytics views show the seeded school at once, not after the hour.
            platform::analytics::refresh(&db).await?;
            state.logins = Some(logins.clone());
            state.save(dir)?;
            logins
        }
        (None, true) => anyhow::bail!(
            "the database has demo data but {} lost its logins; remove {} to start afresh",
            dir.join("dev-state.json").display(),
            dir.display()
        ),
    };

    // Background jobs and schedules, stopped by the same signal as the API and awaited
    // below, before PostgreSQL stops.
    let env = platform::config::Environment::Development;
    let egress = platform::outbound::egress_config(&platform::config::ProcessEnv, env)?;
    let outbound = platform::outbound::Outbound::new(
        egress,
        &platform::config::Secret::new(state.secret_key.clone()),
    )?;
    // Objects (attachments, backups) under the data dir unless K12_STORAGE_URL says otherwise.
    let storage_config = storage::StorageConfig::from_lookup(
        |k| std::env::var(k).ok(),
        Some(format!("file://{}", dir.join("storage").display())),
    )?;
    let store = storage::Store::open(&storage_config)?;
    // The AI gateway, in-process, with the offline demo provider and a token made for
    // this run, so the whole AI flow works with no key.
    let gateway_token = random_password();
    let gateway_config = gateway::Config::demo(
        args.gateway_listen,
        Some(gateway::Secret::new(gateway_token.clone())),
    );
    let gateway_router =
        tokio::task::spawn_blocking(move || gateway::router(&gateway_config)).await??;
    let gateway_listener = tokio::net::TcpListener::bind(args.gateway_listen)
        .await
        .with_context(|| format!("--gateway-listen: cannot listen on {}", args.gateway_listen))?;
    let gateway_url = format!("http://{}", gateway_listener.local_addr()?);
    let gateway_server = tokio::spawn(gateway::serve(
        gateway_listener,
        gateway_router,
        crate::shutdown_signal(),
    ));
    // Backups as the dev superuser, scheduled like production (K12_BACKUP_*).
    let backups = platform::backups::Backups::new(
        db.clone(),
        store.clone(),
        platform::backups::BackupConfig::from_vars(
            &platform::config::ProcessEnv,
            Some(&cluster.url("postgres", &state.superuser_password, "k12")),
        )?,
    );
    // Bound before the state: the uptime monitor's default URL is this address.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("--listen: cannot listen on {}", args.listen))?;
    let api_addr = listener.local_addr()?;
    let app_state = platform::http::AppState::new(
        db,
        platform::http::ServiceConfig {
            env,
            outbound,
            cors_origins: dev_cors_origins()?,
            monitoring: platform::monitoring::MonitoringConfig {
                gateway_url: Some(gateway_url.clone()),
                data_dir: Some(dir.to_path_buf()),
                uptime: platform::monitoring::uptime::UptimeSettings::from_vars(
                    &platform::config::ProcessEnv,
                    api_addr,
                    Some(&gateway_url),
                )?,
            },
            alerts: platform::monitoring::notify::AlertSettings::from_vars(
                &platform::config::ProcessEnv,
            )?,
            // The core reaches the in-process gateway like production: over HTTP.
            ai: platform::ai::AiConfig::new(
                Some(&gateway_url),
                Some(platform::config::Secret::new(gateway_token.clone())),
            )?,
        },
        store,
    )
    .with_limiter(limiter);
    let _flag_listener = app_state.flags.spawn_listener(
        app_state.db.clone(),
        platform::config::Secret::new(app_url.clone()),
    );
    let worker = crate::worker::spawn_in_dev(app_state.clone(), backups)?;
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .with_context(|| format!("--metrics-listen: cannot listen on {}", args.metrics_listen))?;
    let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr()?);
    let metrics = tokio::spawn(platform::app::serve(
        metrics_listener,
        platform::monitoring::exposition::router(app_state.clone()),
        crate::shutdown_signal(),
    ));
    let router = platform::app::router(app_state);
    let server = tokio::spawn(platform::app::serve(
        listener,
        router,
        crate::shutdown_signal(),
    ));

    let api_url = format!("http://{api_addr}");
    wait_until_healthy(&api_url).await?;
    let dev_json = DevJson {
        api_url: api_url.clone(),
        gateway_url: Some(gateway_url.clone()),
        gateway_token,
        metrics_url: metrics_url.clone(),
        database_url: app_url,
        owner_database_url: owner_url,
        operator: &logins.operator,
        tenants: &logins.tenants,
    };
    write_private(
        &dir.join("dev.json"),
        &serde_json::to_string_pretty(&dev_json)?,
    )?;
    print_banner(&api_url, &gateway_url, &metrics_url, dir, &logins);

    server.await??;
    metrics.await??;
    gateway_server.await??;
    worker.await??;
    Ok(())
}

async fn wait_until_healthy(api_url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api_url.trim_start_matches("http://").to_string();
    for _ in 0..100 {
        if let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await {
            let req =
                format!("GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf).await;
                if buf.starts_with(b"HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the API did not become healthy")
}

fn print_banner(
    api_url: &str,
    gateway_url: &str,
    metrics_url: &str,
    dir: &Path,
    logins: &DemoLogins,
) {
    println!();
    println!("k12 dev is running");
    println!("  API:      {api_url}   (OpenAPI: {api_url}/api/v1/openapi.json)");
    println!("  Gateway:  {gateway_url}   (demo provider; token in dev.json)");
    println!("  Metrics:  {metrics_url}");
    println!("  Data:     {}", dir.display());
    println!("  dev.json: {}", dir.join("dev.json").display());
    println!();
    println!(
        "  operator  {}  {}",
        logins.operator.email, logins.operator.password
    );
    for t in &logins.tenants {
        for l in &t.logins {
            println!(
                "  {:<10} {:<9} {:<32} {}",
                t.slug, l.role, l.email, l.password
            );
        }
    }
    println!();
    println!("Sign in: curl -s {api_url}/api/v1/auth/login -H 'content-type: application/json' \\");
    if let Some(l) = logins.tenants.first().and_then(|t| t.logins.first()) {
        println!(
            "  -d '{{\"tenant\":\"demo\",\"email\":\"{}\",\"password\":\"{}\"}}'",
            l.email, l.password
        );
    }
    println!("Press Ctrl-C to stop.");
}

/// `K12_CORS_ORIGINS` also applies in development (a front end on another port).
fn dev_cors_origins() -> anyhow::Result<Vec<String>> {
    match std::env::var("K12_CORS_ORIGINS") {
        Ok(v) if !v.is_empty() => platform::config::parse_cors_origins(&v)
            .map_err(|m| anyhow::anyhow!("invalid configuration: K12_CORS_ORIGINS: {m}")),
        _ => Ok(Vec::new()),
    }
}

/// Writes a file holding passwords atomically, readable by its owner only (mode 0600).
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(tmp, path)?;
    Ok(())
}
