//! The scenarios of issue 11 beside the per-endpoint table, in the same run: the
//! Monday-morning stampede on the list routes, the analytics routes and a concurrent
//! refresh of their views under list traffic, and the endpoints through PgBouncer in
//! transaction mode.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use platform::auth::token::{self, TokenKind, TokenOwner};
use platform::db::{Db, PoolStats, TenantId};

use crate::endpoints::{self, Endpoint};
use crate::load::{self, Outcome, Rng, Settings, Until};
use crate::seed::Targets;

/// Every (path, token) of the list endpoints (not the single course), for traffic that
/// mixes them.
pub fn list_requests(targets: &Targets) -> Arc<Vec<(String, String)>> {
    let mut all = Vec::new();
    for e in endpoints::all().iter().filter(|e| e.list) {
        for t in targets.of(e.who) {
            all.push((e.path(t), t.token.clone()));
        }
    }
    Arc::new(all)
}

fn pick(
    requests: Arc<Vec<(String, String)>>,
) -> impl Fn(&mut Rng) -> (String, Option<String>) + Clone + Send + 'static {
    move |rng: &mut Rng| {
        let (path, token) = &requests[(rng.next() % requests.len() as u64) as usize];
        (path.clone(), Some(token.clone()))
    }
}

/// The stampede: many more clients than connections.
pub struct Stampede {
    pub clients: usize,
    pub pool_size: u32,
    pub acquire_timeout: Duration,
    pub outcome: Outcome,
    /// Requests that waited for a connection, and that gave up (503), during the run.
    pub waits: u64,
    pub acquire_timeouts: u64,
}

pub async fn stampede(
    base: &str,
    requests: Arc<Vec<(String, String)>>,
    clients: usize,
    duration: Duration,
    runtime: tokio::runtime::Handle,
    db: &Db,
    acquire_timeout: Duration,
) -> anyhow::Result<Stampede> {
    let client = load::client(clients)?;
    let settings = Settings {
        clients,
        duration,
        warmup: Duration::ZERO,
        runtime,
        meter: None,
    };
    let before: PoolStats = db.pool_stats();
    let outcome = load::drive(&client, base, &settings, duration, pick(requests)).await;
    let after = db.pool_stats();
    Ok(Stampede {
        clients,
        pool_size: after.max_size,
        acquire_timeout,
        outcome,
        waits: after.waits_total - before.waits_total,
        acquire_timeouts: after.acquire_timeouts_total - before.acquire_timeouts_total,
    })
}

/// The analytics routes and a refresh of their views under list traffic.
pub struct Analytics {
    /// The first refresh (populating the views after seeding), alone.
    pub first_refresh: Duration,
    pub daily: Outcome,
    pub courses: Outcome,
    /// Refreshes run back to back while list traffic ran.
    pub refreshes: Vec<Duration>,
    pub list_without: Outcome,
    pub list_during: Outcome,
}

/// A session for each school's first admin (they hold `analytics:read`); the seed signs
/// in only teachers and students.
async fn admin_tokens(db: &Db) -> anyhow::Result<Vec<String>> {
    let tenants: Vec<(i64,)> =
        sqlx::query_as("SELECT DISTINCT tenant_id FROM bench.targets ORDER BY tenant_id")
            .fetch_all(db.pool())
            .await?;
    let mut tokens = Vec::new();
    for (tenant,) in tenants {
        let tenant = TenantId(tenant);
        let mut tx = db.tenant(tenant).await?;
        let admin: i64 = sqlx::query_scalar(
            "SELECT u.id FROM users u
               JOIN user_roles ur ON ur.user_id = u.id
               JOIN roles r ON r.id = ur.role_id
              WHERE r.name = 'admin' ORDER BY u.id LIMIT 1",
        )
        .fetch_one(&mut *tx)
        .await
        .context("no admin in a seeded school")?;
        let issued = token::issue(TokenKind::Session, TokenOwner::User(tenant));
        sqlx::query(
            "INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at, user_agent)
             VALUES (current_tenant_id(), $1, $2, now() + interval '12 hours', 'k12-bench')",
        )
        .bind(admin)
        .bind(&issued.hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tokens.push(issued.token);
    }
    Ok(tokens)
}

pub async fn analytics(
    client: &reqwest::Client,
    base: &str,
    db: &Db,
    settings: &Settings,
    lists: Arc<Vec<(String, String)>>,
) -> anyhow::Result<Analytics> {
    let started = Instant::now();
    platform::analytics::refresh(db).await?;
    let first_refresh = started.elapsed();
    let tokens = admin_tokens(db).await?;
    let route = |path: &str| {
        Arc::new(
            tokens
                .iter()
                .map(|t| (path.to_string(), t.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let daily = route("/api/v1/admin/analytics/daily?days=30");
    let courses = route("/api/v1/admin/analytics/courses");
    for requests in [&daily, &courses] {
        let (path, token) = &requests[0];
        let res = client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await?;
        let status = res.status();
        if status != reqwest::StatusCode::OK {
            bail!("{path}: {status}: {}", res.text().await.unwrap_or_default());
        }
    }
    let run = |requests: Arc<Vec<(String, String)>>, until: Until| {
        load::drive(client, base, settings, until, pick(requests))
    };
    if !settings.warmup.is_zero() {
        run(daily.clone(), settings.warmup.into()).await;
    }
    let daily = run(daily, settings.duration.into()).await;
    let courses = run(courses, settings.duration.into()).await;

    let list_without = run(lists.clone(), settings.duration.into()).await;
    // Refreshes back to back for as long as the list traffic runs.
    let stop = Arc::new(AtomicBool::new(false));
    let refresher = {
        let (db, stop, window) = (db.clone(), stop.clone(), settings.duration);
        tokio::spawn(async move {
            let until = Instant::now() + window;
            let mut took = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let result = platform::analytics::refresh(&db).await;
                took.push(started.elapsed());
                if let Err(e) = result {
                    stop.store(true, Ordering::Relaxed);
                    return Err(anyhow::Error::from(e).context("refreshing the analytics views"));
                }
            }
            stop.store(true, Ordering::Relaxed);
            Ok(took)
        })
    };
    let list_during = run(
        lists,
        Until {
            duration: settings.duration * 10,
            stop: Some(stop),
        },
    )
    .await;
    let refreshes = refresher.await??;
    Ok(Analytics {
        first_refresh,
        daily,
        courses,
        refreshes,
        list_without,
        list_during,
    })
}

/// A PgBouncer in transaction mode on a free loopback port in front of the cluster, run
/// as the `postgres` system user when we are root (it refuses to run as root), like
/// `scripts/test-pgbouncer.sh`. Stopped on drop.
pub struct Bouncer {
    dir: PathBuf,
    pub port: u16,
    pub version: String,
}

impl Bouncer {
    /// `None` when pgbouncer is not installed.
    pub fn start(
        pg_port: u16,
        app_password: &str,
        pool_size: u32,
        work: &Path,
    ) -> anyhow::Result<Option<Self>> {
        let Some(program) = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
        else {
            return Ok(None);
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = work.join("pgbouncer");
        std::fs::create_dir_all(&dir)?;
        let userlist = dir.join("userlist.txt");
        std::fs::write(&userlist, format!("\"k12_app\" \"{app_password}\"\n"))?;
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host=127.0.0.1 port={pg_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = scram-sha-256\nauth_file = {userlist}\npool_mode = transaction\n\
                 max_client_conn = 2000\ndefault_pool_size = {pool_size}\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 logfile = {log}\npidfile = {pid}\n",
                userlist = userlist.display(),
                log = dir.join("pgbouncer.log").display(),
                pid = dir.join("pgbouncer.pid").display(),
            ),
        )?;
        let root = std::fs::read_to_string("/proc/self/status")?
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next())
            == Some("0");
        let mut command = if root {
            for path in [&dir, &userlist, &ini] {
                let status = std::process::Command::new("chown")
                    .arg("postgres")
                    .arg(path)
                    .status()?;
                if !status.success() {
                    bail!("chown postgres {}", path.display());
                }
            }
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        let status = command.arg("-d").arg("-q").arg(&ini).status()?;
        if !status.success() {
            bail!("pgbouncer did not start ({status}); see {}", dir.display());
        }
        let bouncer = Self {
            dir,
            port,
            version: String::from_utf8_lossy(
                &std::process::Command::new(&program)
                    .arg("--version")
                    .output()?
                    .stdout,
            )
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
        };
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Some(bouncer));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("pgbouncer is not listening on 127.0.0.1:{port}");
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pgbouncer.pid")) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// One endpoint through PgBouncer.
pub struct Bounced {
    pub name: String,
    pub http: Outcome,
}

pub async fn through_pgbouncer(
    client: &reqwest::Client,
    base: &str,
    endpoints: &[Endpoint],
    targets: &Targets,
    settings: &Settings,
) -> Vec<Bounced> {
    let mut out = Vec::new();
    for endpoint in endpoints {
        let http = load::run(client, base, endpoint, targets.of(endpoint.who), settings).await;
        eprintln!(
            "  PgBouncer {}: {:.0} req/s  p99 {:.2} ms  errors {}",
            endpoint.name,
            http.rate(),
            http.p99_ms(),
            http.errors
        );
        out.push(Bounced {
            name: endpoint.name.to_string(),
            http,
        });
    }
    out
}

/// Everything above, for the report.
#[derive(Default)]
pub struct Scenarios {
    pub stampede: Option<Stampede>,
    pub analytics: Option<Analytics>,
    /// PgBouncer's version line and the endpoints through it.
    pub pgbouncer: Option<(String, Vec<Bounced>)>,
    /// Why PgBouncer was not measured.
    pub pgbouncer_skipped: Option<String>,
}
