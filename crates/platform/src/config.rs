//! Typed configuration, loaded once at start from the environment (12-factor).
//!
//! Every variable is documented in the README with its default. Invalid values stop the
//! process with an error that names the variable.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Where the process runs; decides cookie names and development-only diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "development" => Some(Self::Development),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

/// A value that must never be printed: `Debug` shows a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Whether the service talks to PostgreSQL through a transaction-pooling PgBouncer
/// (`K12_DB_PGBOUNCER`), which hands each transaction to any server connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PgBouncerMode {
    /// Direct connections (or PgBouncer in session mode): statements are prepared once
    /// per connection and cached.
    #[default]
    Off,
    /// PgBouncer in transaction mode: no statement cache, prepared statements are dropped
    /// at the start of every transaction, nothing runs outside one, no LISTEN.
    Transaction,
}

impl PgBouncerMode {
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "off" => Some(Self::Off),
            "transaction" => Some(Self::Transaction),
            _ => None,
        }
    }
}

/// Connection-pool limits (spec 05).
#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub size: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub pgbouncer: PgBouncerMode,
    /// How long a read waits for a replica connection before it goes to the primary
    /// (`K12_DB_REPLICA_ACQUIRE_TIMEOUT_MS`).
    pub replica_acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            size: 20,
            acquire_timeout: Duration::from_millis(5000),
            idle_timeout: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(1800),
            pgbouncer: PgBouncerMode::Off,
            replica_acquire_timeout: Duration::from_millis(1000),
        }
    }
}

/// Database settings: the service (runtime) role and the owner (migrations) role.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: Secret,
    pub owner_url: Secret,
    /// `DATABASE_REPLICA_URL`: a hot standby for reads that tolerate lag (analytics).
    pub replica_url: Option<Secret>,
    pub pool: PoolConfig,
}

/// Everything the API process needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub env: Environment,
    pub listen: SocketAddr,
    pub gateway_listen: SocketAddr,
    pub gateway_url: Option<String>,
    pub gateway_token: Option<Secret>,
    pub secret_key: Secret,
    pub database: DatabaseConfig,
    pub redis_url: Option<Secret>,
    /// The object store (`K12_STORAGE_URL` and the S3 variables; docs/storage.md).
    pub storage: storage::StorageConfig,
    /// Web origins allowed to call the API from a browser with credentials.
    pub cors_origins: Vec<String>,
    /// Where `/metrics` is served (`K12_METRICS_LISTEN`); unset: not served.
    pub metrics_listen: Option<SocketAddr>,
    /// The directory whose filesystem the health report measures (`K12_DATA_DIR`).
    pub data_dir: std::path::PathBuf,
}

/// A configuration error naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// A source of variables: the process environment, or a map in tests.
pub trait VarSource {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment. Empty values count as unset.
pub struct ProcessEnv;

impl VarSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<S: std::hash::BuildHasher> VarSource for std::collections::HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

fn parse_with<T>(
    vars: &dyn VarSource,
    var: &'static str,
    default: T,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match vars.get(var) {
        None => Ok(default),
        Some(v) => parse(&v).map_err(|m| err(var, m)),
    }
}

fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("{v:?} is not an address like 127.0.0.1:3000"))
}

fn parse_postgres_url(var: &'static str, v: &str) -> Result<Secret, ConfigError> {
    let url = url::Url::parse(v).map_err(|e| err(var, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(err(var, "must be a postgres:// URL"));
    }
    Ok(Secret::new(v))
}

fn parse_millis(v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{v:?} is not a number of milliseconds"))
}

fn parse_secs(v: &str) -> Result<Duration, String> {
    v.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{v:?} is not a number of seconds"))
}

impl PoolConfig {
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let d = Self::default();
        Ok(Self {
            size: parse_with(vars, "K12_DB_POOL_SIZE", d.size, |v| {
                match v.parse::<u32>() {
                    Ok(n) if (1..=1000).contains(&n) => Ok(n),
                    _ => Err(format!("{v:?} is not a pool size between 1 and 1000")),
                }
            })?,
            acquire_timeout: parse_with(
                vars,
                "K12_DB_ACQUIRE_TIMEOUT_MS",
                d.acquire_timeout,
                parse_millis,
            )?,
            idle_timeout: parse_with(vars, "K12_DB_IDLE_TIMEOUT_SECS", d.idle_timeout, parse_secs)?,
            max_lifetime: parse_with(vars, "K12_DB_MAX_LIFETIME_SECS", d.max_lifetime, parse_secs)?,
            pgbouncer: parse_with(vars, "K12_DB_PGBOUNCER", d.pgbouncer, |v| {
                PgBouncerMode::parse(v).ok_or_else(|| format!("{v:?} is not transaction or off"))
            })?,
            replica_acquire_timeout: parse_with(
                vars,
                "K12_DB_REPLICA_ACQUIRE_TIMEOUT_MS",
                d.replica_acquire_timeout,
                parse_millis,
            )?,
        })
    }
}

impl DatabaseConfig {
    /// `DATABASE_URL` (required) and `DATABASE_OWNER_URL` (defaults to `DATABASE_URL`).
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let url = vars
            .get("DATABASE_URL")
            .ok_or_else(|| err("DATABASE_URL", "is required (the service role's URL)"))?;
        let url = parse_postgres_url("DATABASE_URL", &url)?;
        let owner_url = match vars.get("DATABASE_OWNER_URL") {
            Some(v) => parse_postgres_url("DATABASE_OWNER_URL", &v)?,
            None => url.clone(),
        };
        let replica_url = match vars.get("DATABASE_REPLICA_URL") {
            Some(v) if !v.is_empty() => Some(parse_postgres_url("DATABASE_REPLICA_URL", &v)?),
            _ => None,
        };
        Ok(Self {
            url,
            owner_url,
            replica_url,
            pool: PoolConfig::from_vars(vars)?,
        })
    }
}

impl Config {
    /// Reads and validates every variable; the first invalid one is reported.
    pub fn from_vars(vars: &dyn VarSource) -> Result<Self, ConfigError> {
        let env = parse_with(vars, "K12_ENV", Environment::Production, |v| {
            Environment::parse(v).ok_or_else(|| format!("{v:?} is not development or production"))
        })?;
        let database = DatabaseConfig::from_vars(vars)?;
        let secret_key = match vars.get("K12_SECRET_KEY") {
            Some(v) if v.len() >= 32 => Secret::new(v),
            Some(_) => return Err(err("K12_SECRET_KEY", "must be at least 32 characters")),
            None => return Err(err("K12_SECRET_KEY", "is required (32+ random characters)")),
        };
        let listen = parse_with(
            vars,
            "K12_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 3000)),
            parse_addr,
        )?;
        let gateway_listen = parse_with(
            vars,
            "K12_GATEWAY_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 8000)),
            parse_addr,
        )?;
        let gateway_url = match vars.get("K12_GATEWAY_URL") {
            Some(v) => {
                url::Url::parse(&v).map_err(|e| err("K12_GATEWAY_URL", e.to_string()))?;
                Some(v)
            }
            None => None,
        };
        let redis_url = match vars.get("REDIS_URL") {
            Some(v) => {
                let u = url::Url::parse(&v).map_err(|e| err("REDIS_URL", e.to_string()))?;
                if u.scheme() == "rediss" {
                    return Err(err(
                        "REDIS_URL",
                        "rediss:// (TLS) is not supported yet; use redis:// on a private network",
                    ));
                }
                if u.scheme() != "redis" {
                    return Err(err("REDIS_URL", "must be a redis:// URL"));
                }
                Some(Secret::new(v))
            }
            None => None,
        };
        let storage = storage::StorageConfig::from_lookup(
            |k| vars.get(k),
            Some("file:///var/lib/k12/storage".to_owned()),
        )
        .map_err(|e| err(e.variable, e.message))?;
        let cors_origins = match vars.get("K12_CORS_ORIGINS") {
            Some(v) => parse_cors_origins(&v).map_err(|m| err("K12_CORS_ORIGINS", m))?,
            None => Vec::new(),
        };
        let metrics_listen = match vars.get("K12_METRICS_LISTEN") {
            Some(v) => Some(parse_addr(&v).map_err(|m| err("K12_METRICS_LISTEN", m))?),
            None => None,
        };
        let data_dir = vars
            .get("K12_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("/var/lib/k12"));
        Ok(Self {
            metrics_listen,
            data_dir,
            env,
            listen,
            gateway_listen,
            gateway_url,
            gateway_token: vars.get("K12_GATEWAY_TOKEN").map(Secret::new),
            secret_key,
            database,
            redis_url,
            storage,
            cors_origins,
        })
    }
}

/// `K12_CORS_ORIGINS`: comma-separated web origins (`https://app.example.org`,
/// `http://localhost:5173`), each a scheme, a host and an optional port, nothing else.
/// `*` is refused: credentials are never shared with every origin.
pub fn parse_cors_origins(value: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "*" {
            return Err("`*` is not allowed; list the origins".into());
        }
        let url = url::Url::parse(item).map_err(|e| format!("{item:?}: {e}"))?;
        let origin = url.origin().ascii_serialization();
        if !matches!(url.scheme(), "http" | "https")
            || url.path() != "/"
            || url.query().is_some()
            || !url.username().is_empty()
            || origin != item.trim_end_matches('/')
        {
            return Err(format!(
                "{item:?} is not an origin (scheme://host[:port], nothing else)"
            ));
        }
        origins.push(origin);
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minimal_production_config_uses_defaults() {
        let c = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://app@localhost/k12"),
            ("K12_SECRET_KEY", KEY),
        ]))
        .unwrap();
        assert_eq!(c.env, Environment::Production);
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database.owner_url, c.database.url);
        assert_eq!(c.database.pool.size, 20);
        assert_eq!(c.database.pool.pgbouncer, PgBouncerMode::Off);
        assert!(!format!("{c:?}").contains("postgres://app"));
    }

    #[test]
    fn each_invalid_variable_is_named() {
        let cases = [
            ("DATABASE_URL", "mysql://x"),
            ("DATABASE_OWNER_URL", "nonsense"),
            ("K12_LISTEN", "localhost"),
            ("K12_ENV", "staging"),
            ("K12_SECRET_KEY", "short"),
            ("K12_DB_POOL_SIZE", "0"),
            ("K12_DB_ACQUIRE_TIMEOUT_MS", "soon"),
            ("K12_DB_PGBOUNCER", "session"),
            ("REDIS_URL", "http://x"),
            ("K12_STORAGE_URL", "ftp://x"),
            ("K12_GATEWAY_URL", "::"),
        ];
        for (var, value) in cases {
            let mut v = vars(&[
                ("DATABASE_URL", "postgres://app@localhost/k12"),
                ("K12_SECRET_KEY", KEY),
            ]);
            v.insert(var.to_string(), value.to_string());
            let e = Config::from_vars(&v).unwrap_err();
            assert_eq!(e.var, var, "{e}");
        }
        let e = Config::from_vars(&vars(&[("K12_SECRET_KEY", KEY)])).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
    }

    #[test]
    fn pgbouncer_transaction_mode_is_read() {
        let c = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://app@localhost/k12"),
            ("K12_SECRET_KEY", KEY),
            ("K12_DB_PGBOUNCER", "transaction"),
        ]))
        .unwrap();
        assert_eq!(c.database.pool.pgbouncer, PgBouncerMode::Transaction);
    }

    #[test]
    fn storage_defaults_to_a_file_store() {
        let c = Config::from_vars(&vars(&[
            ("DATABASE_URL", "postgres://app@localhost/k12"),
            ("K12_SECRET_KEY", KEY),
        ]))
        .unwrap();
        assert!(matches!(c.storage.location, storage::Location::File { .. }));
    }
}
