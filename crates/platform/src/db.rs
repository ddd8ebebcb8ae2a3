//! Database access. Two kinds of transaction, distinct types:
//!
//! * [`TenantTx`]: `app.tenant_id` set transaction-locally; row-level security limits
//!   every statement to that tenant's rows. Request handlers use this.
//! * [`SystemTx`]: `app.system` set transaction-locally; reaches the system tables
//!   (districts, tenants, operators, jobs) and no tenant rows. Code that crosses tenants
//!   says so in its signature by taking one of these.
//!
//! Both settings are made with `set_config(..., true)` so they end with the transaction
//! and nothing leaks to the next user of a pooled (or PgBouncer) connection.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use crate::config::{DatabaseConfig, PgBouncerMode, PoolConfig};

/// The migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// The group role that receives the service's privileges. The login role the service
/// connects as must be a member of it, own nothing, and have neither SUPERUSER nor
/// BYPASSRLS.
pub const SERVICE_GROUP_ROLE: &str = "k12_service";

/// The statement that scopes a transaction to one tenant (`$1`: the tenant id as text).
/// Transactions send it with their `BEGIN` ([`begin_tenant_sql`]); this parameterised
/// form is for `pgbench` scripts and tests.
pub const SET_TENANT_SQL: &str = "SELECT set_config('app.tenant_id', $1, true)";

/// The statement that opens a system transaction, sent with its `BEGIN`.
pub const SET_SYSTEM_SQL: &str = "SELECT set_config('app.system', 'on', true)";

/// `begin` (`BEGIN` or `BEGIN READ ONLY`), PgBouncer's `DEALLOCATE ALL` when behind one,
/// and the transaction-local `app.tenant_id`, as one simple-query message: one round trip
/// for what took two. The tenant id is an integer formatted here, so nothing from outside
/// is interpolated.
pub fn begin_tenant_sql(begin: &str, pgbouncer: PgBouncerMode, tenant: TenantId) -> String {
    let deallocate = match pgbouncer {
        PgBouncerMode::Off => "",
        PgBouncerMode::Transaction => " DEALLOCATE ALL;",
    };
    format!(
        "{begin};{deallocate} SELECT set_config('app.tenant_id', '{}', true)",
        tenant.0
    )
}

/// A tenant's id, as set in `app.tenant_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub i64);

/// The service's connection pool (runtime role).
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    counters: Arc<PoolCounters>,
    pgbouncer: PgBouncerMode,
    replica: Option<Arc<Replica>>,
}

/// A hot standby (`DATABASE_REPLICA_URL`) for reads that tolerate lag. When it cannot be
/// reached, reads go to the primary with a warning and the replica is left alone for
/// [`REPLICA_RETRY_AFTER`], so a dead standby costs one short wait, not one per request.
#[derive(Debug)]
struct Replica {
    pool: PgPool,
    /// Milliseconds since `epoch` until which the replica is skipped (0: in use).
    skip_until_ms: AtomicU64,
    epoch: std::time::Instant,
}

/// How long reads stay on the primary after the replica failed.
pub const REPLICA_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

impl Replica {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn skipped(&self) -> bool {
        self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        let until = self.now_ms() + REPLICA_RETRY_AFTER.as_millis() as u64;
        self.skip_until_ms.store(until, Ordering::Relaxed);
    }
}

/// How a transaction begins behind a transaction-pooling PgBouncer: sqlx still names the
/// statements it prepares (`sqlx_s_N`, counted per client connection) even with its
/// cache off, and PgBouncer 1.18 does not track them, so a server connection may hold a
/// name another client prepared. Dropping them in the `BEGIN` round trip (simple query
/// protocol, nothing prepared) costs no extra round trip and keeps names from colliding.
pub const PGBOUNCER_BEGIN_SQL: &str = "BEGIN; DEALLOCATE ALL";

/// What the pool itself does not count: transactions waiting for a connection now, and
/// since start how many had to wait and how many gave up (acquire timeout).
#[derive(Debug, Default)]
struct PoolCounters {
    waiting: AtomicU64,
    waits_total: AtomicU64,
    acquire_timeouts_total: AtomicU64,
}

/// Decrements the waiting gauge however the acquire ends (also when it is cancelled).
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The pool's state, for operators (`GET /api/v1/operator/db/stats`), health and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PoolStats {
    /// `K12_DB_POOL_SIZE`: the most connections the pool opens.
    pub max_size: u32,
    /// Connections open now (in use + idle).
    pub size: u32,
    pub in_use: u32,
    pub idle: u32,
    /// Transactions waiting for a connection now.
    pub waiting: u64,
    /// Transactions that found no idle connection at a full pool and had to wait, since start.
    pub waits_total: u64,
    /// Transactions that waited longer than `K12_DB_ACQUIRE_TIMEOUT_MS`, since start.
    pub acquire_timeouts_total: u64,
}

impl Db {
    /// Connects the pool lazily; the first query opens connections.
    pub fn connect_lazy(url: &str, pool: &PoolConfig) -> Result<Self, sqlx::Error> {
        Ok(Self {
            pool: lazy_pool(url, pool, pool.acquire_timeout)?,
            counters: Arc::default(),
            pgbouncer: pool.pgbouncer,
            replica: None,
        })
    }

    /// Adds a hot standby for the reads that tolerate lag ([`Db::tenant_read`]); same
    /// pool settings, but a read waits only `replica_acquire_timeout` for it (default one
    /// second) before using the primary.
    pub fn with_replica(mut self, url: &str, pool: &PoolConfig) -> Result<Self, sqlx::Error> {
        let timeout = pool.replica_acquire_timeout;
        self.replica = Some(Arc::new(Replica {
            pool: lazy_pool(url, pool, timeout)?,
            skip_until_ms: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        }));
        Ok(self)
    }

    pub fn from_config(config: &DatabaseConfig) -> Result<Self, sqlx::Error> {
        let db = Self::connect_lazy(config.url.expose(), &config.pool)?;
        match &config.replica_url {
            Some(url) => db.with_replica(url.expose(), &config.pool),
            None => Ok(db),
        }
    }

    /// Begins a transaction on a pooled connection with `begin` (a simple-query `BEGIN`
    /// that may carry the transaction's `set_config` in the same round trip), counting
    /// waits and timeouts. The pool does not ping a connection before handing it out
    /// (`test_before_acquire(false)`), so a connection the server closed while it sat idle
    /// fails here, on its first round trip: nothing has run yet, so the transaction is
    /// begun once more on another connection (the broken one fails sqlx's release check
    /// and leaves the pool). A second failure is returned, and answers 503
    /// ([`is_connection_lost`]).
    async fn begin(&self, begin: String) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        // Whatever the request's session lookup left open is given back before this
        // transaction takes a connection: a request never holds two.
        drop(take_handed_on());
        let c = &self.counters;
        if self.pool.num_idle() == 0
            && self.pool.size() >= self.pool.options().get_max_connections()
        {
            c.waits_total.fetch_add(1, Ordering::Relaxed);
        }
        c.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&c.waiting);
        let tx = match self.pool.begin_with(begin.clone()).await {
            Err(e) if is_connection_lost(&e) => {
                tracing::warn!(error = %e, "pooled connection lost; beginning on another");
                self.pool.begin_with(begin).await
            }
            other => other,
        };
        if let Err(sqlx::Error::PoolTimedOut) = tx {
            c.acquire_timeouts_total.fetch_add(1, Ordering::Relaxed);
        }
        tx
    }

    /// The pool's size, use and waits now.
    pub fn pool_stats(&self) -> PoolStats {
        let size = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle())
            .unwrap_or(u32::MAX)
            .min(size);
        let c = &self.counters;
        PoolStats {
            max_size: self.pool.options().get_max_connections(),
            size,
            in_use: size - idle,
            idle,
            waiting: c.waiting.load(Ordering::Relaxed),
            waits_total: c.waits_total.load(Ordering::Relaxed),
            acquire_timeouts_total: c.acquire_timeouts_total.load(Ordering::Relaxed),
        }
    }

    /// Opens a transaction scoped to one tenant: `BEGIN` and the transaction-local
    /// `app.tenant_id` in one round trip. Inside a request whose session lookup ran in a
    /// transaction of this tenant ([`Db::hand_on`]), that transaction is continued instead
    /// of opening a second one.
    pub async fn tenant(&self, tenant: TenantId) -> Result<TenantTx, sqlx::Error> {
        if let Some(tx) = take_handed_on() {
            if tx.tenant == tenant {
                return Ok(tx);
            }
        }
        let tx = self
            .begin(begin_tenant_sql("BEGIN", self.pgbouncer, tenant))
            .await?;
        Ok(TenantTx { tx, tenant })
    }

    /// Runs `request` with room for one transaction handed on from its session lookup to
    /// its handler ([`Db::hand_on`]). Whatever is left there when `request` ends is rolled
    /// back and its connection returned (the handler did not need the database).
    pub async fn with_hand_on<F: std::future::Future>(request: F) -> F::Output {
        HANDED_ON
            .scope(std::cell::RefCell::new(None), request)
            .await
    }

    /// Keeps `tx` for the next [`Db::tenant`] of the same tenant in this request (inside
    /// [`Db::with_hand_on`]): one transaction, one connection, one `BEGIN` and `COMMIT` for
    /// the session lookup and the handler. Any other transaction this request opens, or
    /// the end of the request, gives it back first, so a request never holds two
    /// connections because of it. Outside `with_hand_on`, `tx` is committed now.
    pub async fn hand_on(tx: TenantTx) -> Result<(), sqlx::Error> {
        let mut tx = Some(tx);
        let _ = HANDED_ON.try_with(|slot| *slot.borrow_mut() = tx.take());
        match tx {
            Some(tx) => tx.commit().await,
            None => Ok(()),
        }
    }

    /// Opens a read transaction scoped to one tenant on the replica when one is configured
    /// and reachable, else on the primary. Only for reads that tolerate replication lag
    /// (analytics): a read that must see the caller's own write uses [`Db::tenant`].
    /// Row-level security is the same on both: the standby replays the same policies.
    pub async fn tenant_read(&self, tenant: TenantId) -> Result<TenantTx, sqlx::Error> {
        if let Some(replica) = self.replica.as_ref().filter(|r| !r.skipped()) {
            // The request's primary connection goes back before the replica is used.
            drop(take_handed_on());
            match replica_tenant(&replica.pool, self.pgbouncer, tenant).await {
                Ok(tx) => return Ok(tx),
                Err(e) => {
                    replica.failed();
                    tracing::warn!(
                        error = %e,
                        retry_after_secs = REPLICA_RETRY_AFTER.as_secs(),
                        "read replica unavailable; reading from the primary"
                    );
                }
            }
        }
        self.tenant(tenant).await
    }

    /// Whether a replica is configured (`DATABASE_REPLICA_URL`).
    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// Opens a system transaction (no tenant; system tables only).
    pub async fn system(&self) -> Result<SystemTx, sqlx::Error> {
        let begin = match self.pgbouncer {
            PgBouncerMode::Off => format!("BEGIN; {SET_SYSTEM_SQL}"),
            PgBouncerMode::Transaction => format!("{PGBOUNCER_BEGIN_SQL}; {SET_SYSTEM_SQL}"),
        };
        let tx = self.begin(begin).await?;
        Ok(SystemTx { tx })
    }

    /// `SELECT 1` through the pool: the cheap liveness check. Simple query protocol: one
    /// round trip, nothing prepared (it runs outside a transaction, also behind PgBouncer).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::raw_sql("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The PgBouncer mode the pool was configured with (`K12_DB_PGBOUNCER`).
    pub fn pgbouncer(&self) -> PgBouncerMode {
        self.pgbouncer
    }

    /// The pool, for code that needs no tenant and no system table (health checks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A transaction in which row-level security shows exactly one tenant's rows.
fn lazy_pool(
    url: &str,
    pool: &PoolConfig,
    acquire_timeout: std::time::Duration,
) -> Result<PgPool, sqlx::Error> {
    let mut options: PgConnectOptions = url.parse()?;
    if pool.pgbouncer == PgBouncerMode::Transaction {
        // No statement cache: a cached statement lives on one server connection, and
        // the next transaction may run on another.
        options = options.statement_cache_capacity(0);
    }
    Ok(PgPoolOptions::new()
        // No ping before each use: one round trip less per transaction. A connection
        // that died while idle fails its first round trip instead (see `Db::begin`);
        // sqlx still checks every connection when it is released.
        .test_before_acquire(false)
        .max_connections(pool.size)
        .acquire_timeout(acquire_timeout)
        .idle_timeout(Some(pool.idle_timeout))
        .max_lifetime(Some(pool.max_lifetime))
        .connect_lazy_with(options.application_name("k12")))
}

/// A tenant transaction on the replica's pool, read only.
async fn replica_tenant(
    pool: &PgPool,
    pgbouncer: PgBouncerMode,
    tenant: TenantId,
) -> Result<TenantTx, sqlx::Error> {
    let begin = begin_tenant_sql("BEGIN READ ONLY", pgbouncer, tenant);
    let tx = match pool.begin_with(begin.clone()).await {
        Err(e) if is_connection_lost(&e) => pool.begin_with(begin).await,
        other => other,
    }?;
    Ok(TenantTx { tx, tenant })
}

/// Whether `e` means the connection to PostgreSQL is gone (closed socket, the server shut
/// down or terminated the backend, the pool closed): the request may succeed if retried,
/// so it answers 503 with `Retry-After`, not 500.
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin or crash shutdown,
            // cannot connect now.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

tokio::task_local! {
    /// The request's session-lookup transaction, waiting for its handler (`Db::hand_on`).
    static HANDED_ON: std::cell::RefCell<Option<TenantTx>>;
}

/// Takes the handed-on transaction, if this task has one.
fn take_handed_on() -> Option<TenantTx> {
    HANDED_ON
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten()
}

pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    tenant: TenantId,
}

impl TenantTx {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// A transaction for system work: districts, tenants, operators, jobs.
pub struct SystemTx {
    tx: Transaction<'static, Postgres>,
}

impl SystemTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Narrows this transaction to one tenant, for system work that must write tenant
    /// rows atomically with system rows (creating a tenant and its default roles).
    pub async fn into_tenant(mut self, tenant: TenantId) -> Result<TenantTx, sqlx::Error> {
        sqlx::query(
            "SELECT set_config('app.system', '', true), set_config('app.tenant_id', $1, true)",
        )
        .bind(tenant.0.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(TenantTx {
            tx: self.tx,
            tenant,
        })
    }
}

impl Deref for SystemTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for SystemTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// Applies the embedded migrations as the owner role.
pub async fn migrate(owner_url: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut conn = <PgConnection as sqlx::Connection>::connect(owner_url)
        .await
        .context("connecting as the owner role (DATABASE_OWNER_URL)")?;
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(SERVICE_GROUP_ROLE)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        anyhow::bail!(
            "the role {SERVICE_GROUP_ROLE} does not exist; create it once as an administrator: \
             CREATE ROLE {SERVICE_GROUP_ROLE} NOLOGIN; GRANT {SERVICE_GROUP_ROLE} TO <service login role>; \
             (see deploy/roles.sql)"
        );
    }
    MIGRATOR
        .run(&mut conn)
        .await
        .context("applying migrations")?;
    Ok(())
}

/// Creates the owner, service group and service login roles and the database, as a
/// superuser; idempotent. Used by `k12 dev` and the test harness (production creates
/// roles with `deploy/roles.sql`).
pub async fn bootstrap_roles(
    superuser_url: &str,
    database: &str,
    owner_password: &str,
    app_password: &str,
) -> anyhow::Result<()> {
    let mut conn = <PgConnection as sqlx::Connection>::connect(superuser_url).await?;
    let statements = [
        format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'k12_owner') THEN
                 CREATE ROLE k12_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD {owner};
               END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{group}') THEN
                 CREATE ROLE {group} NOLOGIN NOSUPERUSER NOBYPASSRLS;
               END IF;
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'k12_app') THEN
                 CREATE ROLE k12_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB INHERIT PASSWORD {app};
               END IF;
             END $$",
            owner = quote_literal(owner_password),
            app = quote_literal(app_password),
            group = SERVICE_GROUP_ROLE,
        ),
        format!("GRANT {SERVICE_GROUP_ROLE} TO k12_app"),
    ];
    for s in statements {
        sqlx::query(&s).execute(&mut conn).await?;
    }
    let (exists,): (bool,) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!(
            "CREATE DATABASE {} OWNER k12_owner",
            quote_ident(database)
        ))
        .execute(&mut conn)
        .await?;
    }
    Ok(())
}

/// Prepares query insight in `database_url`'s database, as a superuser, before the
/// migrations run: creates `pg_stat_statements` (not a trusted extension, so the owner
/// cannot) and lets the owner role read every statement's text and reset this database's
/// statistics through the migrations' SECURITY DEFINER functions. Answers whether the
/// extension is installed; a server without it is not an error (the routes then say
/// `"available": false`). `deploy/roles.sql` has the same statements for production.
pub async fn prepare_query_insight(database_url: &str) -> anyhow::Result<bool> {
    let mut conn = <PgConnection as sqlx::Connection>::connect(database_url).await?;
    let (present,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements')",
    )
    .fetch_one(&mut conn)
    .await?;
    if !present {
        return Ok(false);
    }
    for s in [
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
        "GRANT pg_read_all_stats TO k12_owner",
        "GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO k12_owner",
    ] {
        sqlx::query(s).execute(&mut conn).await?;
    }
    Ok(true)
}

/// Quotes an SQL string literal (for DDL, which takes no bind parameters).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
