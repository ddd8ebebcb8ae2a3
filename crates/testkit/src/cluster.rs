//! The shared test cluster and the per-test databases.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context;
use pgcluster::Cluster;
use platform::db::{quote_ident, Db};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

const SUPERUSER_PASSWORD: &str = "k12-test-superuser";
pub const OWNER_PASSWORD: &str = "k12-test-owner";
pub const APP_PASSWORD: &str = "k12-test-app";

struct Shared {
    port: u16,
    template: String,
}

fn cluster_dir() -> PathBuf {
    std::env::var_os("K12_TEST_PG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/k12-test-pg"))
}

fn url(port: u16, user: &str, password: &str, db: &str) -> String {
    format!("postgres://{user}:{password}@127.0.0.1:{port}/{db}")
}

/// A name for the template that changes whenever a migration changes.
fn template_name() -> String {
    let mut h = Sha256::new();
    for m in platform::db::MIGRATOR.iter() {
        h.update(m.version.to_le_bytes());
        h.update(&m.checksum);
    }
    format!("k12_template_{}", &hex::encode(h.finalize())[..16])
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Runs on a plain thread with its own runtime: callers may be inside a runtime.
        std::thread::spawn(|| start_shared().expect("starting the test PostgreSQL"))
            .join()
            .expect("test cluster thread")
    })
}

fn start_shared() -> anyhow::Result<Shared> {
    let dir = cluster_dir();
    std::fs::create_dir_all(&dir)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    lock.lock().context("locking the test cluster")?;
    let mut cluster = Cluster::init(&dir.join("data"), SUPERUSER_PASSWORD)?;
    cluster.ensure_running()?;
    let port = cluster.port;
    let template = template_name();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let superuser = url(port, "postgres", SUPERUSER_PASSWORD, "postgres");
        platform::db::bootstrap_roles(&superuser, "postgres", OWNER_PASSWORD, APP_PASSWORD).await?;
        let mut conn = PgConnection::connect(&superuser).await?;
        let (exists,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&template)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            let building = format!("{template}_building");
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&building)
            ))
            .execute(&mut conn)
            .await?;
            sqlx::query(&format!(
                "CREATE DATABASE {} OWNER k12_owner",
                quote_ident(&building)
            ))
            .execute(&mut conn)
            .await?;
            platform::db::prepare_query_insight(&url(
                port,
                "postgres",
                SUPERUSER_PASSWORD,
                &building,
            ))
            .await?;
            platform::db::migrate(&url(port, "k12_owner", OWNER_PASSWORD, &building)).await?;
            sqlx::query(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quote_ident(&building),
                quote_ident(&template)
            ))
            .execute(&mut conn)
            .await?;
        }
        anyhow::Ok(())
    })?;
    let mut f = std::fs::File::create(dir.join("port"))?;
    writeln!(f, "{port}")?;
    drop(lock);
    Ok(Shared { port, template })
}

/// `K12_TEST_PGBOUNCER_URL` (`postgres://HOST:PORT`, a PgBouncer in transaction mode in
/// front of the test cluster, see `scripts/test-pgbouncer.sh`): its `host:port`.
fn pgbouncer_address() -> Option<String> {
    let value = std::env::var("K12_TEST_PGBOUNCER_URL").ok()?;
    let url = url::Url::parse(&value).expect("K12_TEST_PGBOUNCER_URL is a postgres:// URL");
    let host = url.host_str().expect("K12_TEST_PGBOUNCER_URL names a host");
    let port = url.port().unwrap_or(6432);
    Some(format!("{host}:{port}"))
}

/// A database of its own for one test, cloned from the migrated template.
pub struct TestDb {
    pub name: String,
    port: u16,
    /// The service role's pool (row-level security applies).
    pub db: Db,
}

impl TestDb {
    pub async fn new() -> Self {
        let shared = shared();
        let name = format!(
            "k12_test_{}",
            platform::auth::token::random_password()
                .to_lowercase()
                .replace(['-', '_'], "x")
        );
        let mut conn = PgConnection::connect(&url(
            shared.port,
            "postgres",
            SUPERUSER_PASSWORD,
            "postgres",
        ))
        .await
        .expect("connecting to the test cluster");
        sqlx::query(&format!(
            "CREATE DATABASE {} TEMPLATE {} OWNER k12_owner",
            quote_ident(&name),
            quote_ident(&shared.template)
        ))
        .execute(&mut conn)
        .await
        .expect("cloning the template database");
        let db = match pgbouncer_address() {
            // The app's pool through PgBouncer in transaction mode; the owner, the
            // superuser and the tests' own direct connections stay direct.
            Some(address) => Db::connect_lazy(
                &format!("postgres://k12_app:{APP_PASSWORD}@{address}/{name}"),
                &platform::config::PoolConfig {
                    pgbouncer: platform::config::PgBouncerMode::Transaction,
                    ..Default::default()
                },
            ),
            None => Db::connect_lazy(
                &url(shared.port, "k12_app", APP_PASSWORD, &name),
                &Default::default(),
            ),
        }
        .expect("pool");
        Self {
            name,
            port: shared.port,
            db,
        }
    }

    /// The service role's URL (what `DATABASE_URL` would be).
    pub fn app_url(&self) -> String {
        url(self.port, "k12_app", APP_PASSWORD, &self.name)
    }

    /// The owner role's URL (what `DATABASE_OWNER_URL` would be).
    pub fn owner_url(&self) -> String {
        url(self.port, "k12_owner", OWNER_PASSWORD, &self.name)
    }

    /// A superuser URL, for inspecting the catalog in tests.
    pub fn superuser_url(&self) -> String {
        url(self.port, "postgres", SUPERUSER_PASSWORD, &self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let superuser = url(self.port, "postgres", SUPERUSER_PASSWORD, "postgres");
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&superuser).await.ok()?;
                sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&name)
                ))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}

/// A hot standby of the test cluster (streaming replication), on its own port, for the
/// read-replica tests. Stopped and removed on drop.
pub struct Standby {
    cluster: pgcluster::Cluster,
    dir: std::path::PathBuf,
    primary_port: u16,
    slot: String,
}

impl Standby {
    /// Copies the running test cluster with `pg_basebackup -R` and starts the copy.
    /// Everything committed before the call (the caller's test database too) is on it.
    /// It streams through a replication slot of its own (dropped with it), so the WAL
    /// the other tests write meanwhile waits for it on the shared cluster.
    pub fn start() -> Self {
        let shared = shared();
        let id = format!(
            "{}_{}",
            std::process::id(),
            platform::auth::token::random_password().to_lowercase()
        );
        let slot: String = format!("k12_standby_{id}")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(63)
            .collect();
        let dir = std::env::temp_dir().join(format!("k12-standby-{id}"));
        std::fs::create_dir_all(&dir).expect("standby directory");
        let cluster = pgcluster::Cluster::standby_of(
            shared.port,
            &dir.join("data"),
            "postgres",
            SUPERUSER_PASSWORD,
            &slot,
        )
        .expect("pg_basebackup from the test cluster");
        let mut standby = Self {
            cluster,
            dir,
            primary_port: shared.port,
            slot,
        };
        standby.cluster.start(0).expect("starting the standby");
        standby
    }

    /// `db`'s service-role URL, on the standby (what `DATABASE_REPLICA_URL` would be).
    pub fn app_url(&self, db: &TestDb) -> String {
        url(self.cluster.port, "k12_app", APP_PASSWORD, &db.name)
    }

    /// A superuser URL on the standby (to pause replay, or read `pg_is_in_recovery()`).
    pub fn superuser_url(&self, db: &TestDb) -> String {
        url(self.cluster.port, "postgres", SUPERUSER_PASSWORD, &db.name)
    }

    /// Stops the standby now (the replica-down case).
    pub fn stop(&self) {
        self.cluster.stop().expect("stopping the standby");
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The slot would keep the shared cluster's WAL for the rest of the run.
        let dropped = pgcluster::pg_bin_dir().and_then(|bin| {
            Ok(std::process::Command::new(bin.join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .args(["-p", &self.primary_port.to_string()])
                .arg("-c")
                .arg(format!("SELECT pg_drop_replication_slot('{}')", self.slot))
                .env("PGPASSWORD", SUPERUSER_PASSWORD)
                .stdin(std::process::Stdio::null())
                .output()?)
        });
        match dropped {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "dropping replication slot {}: {}",
                self.slot,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("dropping replication slot {}: {e:#}", self.slot),
        }
    }
}
