//! PostgreSQL connections for backups: a URL whose credentials reach child processes
//! (`pg_dump`, `pg_restore`) only through their environment, never their argv; row counts
//! of every table; temporary databases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use url::Url;

use crate::db::quote_ident;

/// A database to dump from or restore into. `Debug` and [`PgTarget::redacted`] never show
/// the password.
#[derive(Clone)]
pub struct PgTarget {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl PgTarget {
    /// Parses a `postgres://user:password@host:port/database?sslmode=…` URL. The error
    /// never repeats the URL (it may hold a password).
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("must be a postgres:// URL".into());
        }
        let mut target = Self {
            host: url
                .host_str()
                .unwrap_or("")
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: url.port().unwrap_or(5432),
            user: decode(url.username()),
            password: url.password().map(decode),
            database: decode(url.path().trim_start_matches('/')),
            sslmode: None,
            sslrootcert: None,
        };
        for (k, v) in url.query_pairs() {
            match &*k {
                "sslmode" => target.sslmode = Some(v.into_owned()),
                "sslrootcert" => target.sslrootcert = Some(v.into_owned()),
                "host" => target.host = v.into_owned(),
                "port" => {
                    target.port = v.parse().map_err(|_| "port is not a number".to_owned())?;
                }
                "user" => target.user = v.into_owned(),
                "dbname" => target.database = v.into_owned(),
                "application_name" | "connect_timeout" | "options" => {}
                other => return Err(format!("unsupported URL parameter {other:?}")),
            }
        }
        if target.host.is_empty() {
            target.host = "localhost".into();
        }
        if target.database.is_empty() {
            return Err("names no database".into());
        }
        if target.user.is_empty() {
            return Err("names no user".into());
        }
        Ok(target)
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> Self {
        Self {
            database: database.to_owned(),
            ..self.clone()
        }
    }

    /// `postgres://user@host:port/database`: safe for logs, errors and records.
    pub fn redacted(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }

    /// sqlx options for this database.
    pub fn connect_options(&self) -> PgConnectOptions {
        let mut o = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .database(&self.database)
            .application_name("k12-backup");
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(mode) = self.sslmode.as_deref().and_then(|m| m.parse().ok()) {
            o = o.ssl_mode(mode);
        }
        if let Some(cert) = &self.sslrootcert {
            o = o.ssl_root_cert(cert.as_str());
        }
        o
    }

    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        PgConnection::connect_with(&self.connect_options())
            .await
            .with_context(|| format!("connecting to {}", self.redacted()))
    }

    /// The connection settings as libpq environment variables (the password as
    /// `PGPASSWORD`): how child processes get them, so `ps` shows none of it. Every `PG*`
    /// variable of our own environment is removed first, so nothing else leaks in.
    pub fn apply_env(&self, cmd: &mut tokio::process::Command) {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                cmd.env_remove(name);
            }
        }
        cmd.env("PGHOST", &self.host)
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", &self.user)
            .env("PGDATABASE", &self.database)
            .env("PGAPPNAME", "k12-backup")
            .env("PGCONNECT_TIMEOUT", "10");
        if let Some(p) = &self.password {
            cmd.env("PGPASSWORD", p);
        }
        if let Some(m) = &self.sslmode {
            cmd.env("PGSSLMODE", m);
        }
        if let Some(c) = &self.sslrootcert {
            cmd.env("PGSSLROOTCERT", c);
        }
    }
}

/// Where `pg_dump` and `pg_restore` are: `K12_PG_BIN`, the newest
/// `/usr/lib/postgresql/*/bin`, or `$PATH` (see `pgcluster`).
pub fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    pgcluster::pg_bin_dir()
}

/// A client program from `bin`, with a clean stdin and credentials from `target`.
pub fn client_command(bin: &Path, program: &str, target: &PgTarget) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(bin.join(program));
    target.apply_env(&mut cmd);
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    cmd
}

/// `pg_dump --version` (recorded in the metadata).
pub async fn tool_version(bin: &Path, program: &str) -> String {
    match tokio::process::Command::new(bin.join(program))
        .arg("--version")
        .output()
        .await
    {
        Ok(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        Err(e) => format!("unknown ({e})"),
    }
}

/// Every ordinary table outside the system schemas, as `schema.table`.
pub async fn tables(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'r'
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          ORDER BY 1, 2",
    )
    .fetch_all(conn)
    .await
}

/// Every materialized view, as a quoted `schema.name` pattern for `pg_dump`.
pub async fn materialized_views(conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews
          WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
          ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

/// The row count of every table, in the caller's transaction (so in its snapshot).
pub async fn count_rows(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<String, i64>> {
    let mut counts = BTreeMap::new();
    for (schema, table) in tables(conn).await? {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM ONLY {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        ))
        .fetch_one(&mut *conn)
        .await?;
        counts.insert(format!("{schema}.{table}"), n);
    }
    Ok(counts)
}

/// Whether the connected role reads every row whatever the row-level security policies:
/// a superuser or a role with BYPASSRLS.
pub async fn reads_all_rows(conn: &mut PgConnection) -> sqlx::Result<bool> {
    let (ok,): (bool,) = sqlx::query_as(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(conn)
    .await?;
    Ok(ok)
}

/// Prefix of the temporary databases verification restores into; the sweep drops any
/// database with it left behind by a crash.
pub const VERIFY_DB_PREFIX: &str = "k12_verify_";

/// A fresh name `k12_verify_<backup>_<unix seconds>_<random>`.
pub fn verify_db_name(backup_id: i64) -> String {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut r = [0u8; 4];
    chacha20poly1305::aead::OsRng.fill_bytes(&mut r);
    format!(
        "{VERIFY_DB_PREFIX}{backup_id}_{}_{}",
        chrono::Utc::now().timestamp(),
        hex::encode(r)
    )
}

/// Creates an empty database `name` (from template0).
pub async fn create_database(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'",
        quote_ident(name)
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Drops database `name`, disconnecting its sessions.
pub async fn drop_database(conn: &mut PgConnection, name: &str) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(conn)
    .await
    .map(drop)
}

/// Drops the verification databases a crash left behind: every `k12_verify_*` database
/// created more than `min_age_secs` ago (by the timestamp in its name; one without a
/// readable timestamp counts as old) that nobody is connected to. Answers the dropped names.
pub async fn sweep_verify_databases(
    conn: &mut PgConnection,
    min_age_secs: i64,
) -> sqlx::Result<Vec<String>> {
    let names: Vec<(String, i64)> = sqlx::query_as(
        "SELECT d.datname::text,
                (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid)
           FROM pg_database d
          WHERE d.datname LIKE 'k12\\_verify\\_%'
          ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = chrono::Utc::now().timestamp();
    let mut dropped = Vec::new();
    for (name, sessions) in names {
        let created = name
            .strip_prefix(VERIFY_DB_PREFIX)
            .and_then(|rest| rest.split('_').nth(1))
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        if sessions > 0 || now - created < min_age_secs {
            continue;
        }
        // Without FORCE: a database someone connected to meanwhile is in use; skip it.
        match sqlx::query(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
            .execute(&mut *conn)
            .await
        {
            Ok(_) => dropped.push(name),
            Err(e) => tracing::warn!(database = %name, error = %e, "sweep: left in place"),
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_never_shows_the_password() {
        let t = PgTarget::parse(
            "postgres://k12%20app:p%40ss%3Aw0rd@db.example:6543/k12?sslmode=require",
        )
        .unwrap();
        assert_eq!(t.user, "k12 app");
        assert_eq!(t.password.as_deref(), Some("p@ss:w0rd"));
        assert_eq!(t.port, 6543);
        assert_eq!(t.database(), "k12");
        assert_eq!(t.sslmode.as_deref(), Some("require"));
        assert_eq!(t.redacted(), "postgres://k12 app@db.example:6543/k12");
        assert!(!format!("{t:?}").contains("w0rd"));
        assert_eq!(t.with_database("other").database(), "other");
        let err = PgTarget::parse("mysql://u:secret@h/db").unwrap_err();
        assert!(!err.contains("secret"));
        assert!(PgTarget::parse("postgres://u:secret@h/").is_err());
        assert!(PgTarget::parse("postgres://u@h/db?weird=1").is_err());
        let v6 = PgTarget::parse("postgresql://u@[::1]/db").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.port, 5432);
    }

    #[test]
    fn child_commands_carry_credentials_in_the_environment_only() {
        let t = PgTarget::parse("postgres://u:hunter2@127.0.0.1:5432/k12").unwrap();
        let cmd = client_command(Path::new("/usr/bin"), "pg_dump", &t);
        let std = cmd.as_std();
        let argv: Vec<String> = std
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(argv.iter().all(|a| !a.contains("hunter2")));
        let env: Vec<(String, Option<String>)> = std
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        assert!(env.contains(&("PGPASSWORD".into(), Some("hunter2".into()))));
        assert!(env.contains(&("PGDATABASE".into(), Some("k12".into()))));
    }

    #[test]
    fn verify_database_names_carry_the_prefix_and_are_unique() {
        let a = verify_db_name(12);
        let b = verify_db_name(12);
        assert!(a.starts_with("k12_verify_12_"));
        assert_ne!(a, b);
        assert!(a.len() < 63);
    }
}
