//! pgbench scripts made from the endpoints' statements, and running them.
//!
//! A script picks a random target (`\set n random(1, N)` and a lookup in `bench.targets`
//! with `\gset`), then runs exactly the transaction a request runs: BEGIN and set_config
//! in one round trip (the service sends them as one simple query; pgbench's prepared mode
//! cannot, so they go in a pipeline: also one round trip), the session lookup, the
//! handler's statements, COMMIT. `$n` become pgbench variables; NULL arguments become
//! NULL literals, because a pgbench variable cannot be NULL.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::endpoints::{self, Arg, Endpoint, Statement, FALSE_VAR, LIMIT_VAR};

/// Which part of a request a script runs (`--profile` measures the parts alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Whole,
    SessionLookup,
    Handler,
    /// Only the pick of a random target (`bench.targets`), which HTTP clients do in memory.
    TargetPick,
}

/// Replaces `$1`, `$2`, ... with the pgbench form of each argument.
fn substitute(statement: &Statement) -> String {
    let sql = &statement.sql;
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut end = i + 1;
        while let Some((j, d)) = chars.peek() {
            if d.is_ascii_digit() {
                end = j + 1;
                chars.next();
            } else {
                break;
            }
        }
        let n: usize = sql[i + 1..end].parse().expect("a parameter number after $");
        match statement.args.get(n - 1) {
            Some(Arg::Var(v)) => {
                out.push(':');
                out.push_str(v);
            }
            Some(Arg::Null) => out.push_str("NULL"),
            None => panic!("no argument for ${n} in {sql}"),
        }
    }
    out
}

fn transaction(script: &mut String, statements: &[Statement]) {
    script.push_str("\\startpipeline\nBEGIN;\n");
    script.push_str(substitute(&endpoints::set_tenant()).trim());
    script.push_str(";\n\\endpipeline\n");
    for s in statements {
        script.push_str(substitute(s).trim());
        script.push_str(";\n");
    }
    script.push_str("COMMIT;\n");
}

/// The pgbench script of an endpoint (or one part of it), over `targets` targets.
pub fn script(endpoint: &Endpoint, targets: usize, part: Part) -> String {
    let mut s = format!(
        "\\set n random(1, {targets})\n\
         SELECT tenant_id, user_id, course_id, assignment_id, token_hash\n  \
         FROM bench.targets WHERE kind = '{}' AND n = :n \\gset\n",
        endpoint.who.kind()
    );
    // One transaction for the lookup and the handler, as a GET runs them (the lookup's
    // transaction is handed on to the handler).
    let mut statements = Vec::new();
    if matches!(part, Part::Whole | Part::SessionLookup) {
        statements.extend(endpoints::session_lookup());
    }
    if matches!(part, Part::Whole | Part::Handler) {
        statements.extend(endpoint.handler.iter().cloned());
    }
    if part != Part::TargetPick {
        transaction(&mut s, &statements);
    }
    s
}

/// `GET /api/v1/health` runs `SELECT 1` on a pooled connection.
pub fn health_script() -> String {
    "SELECT 1;\n".into()
}

/// What one pgbench run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub tps: f64,
    pub transactions: u64,
    pub failed: u64,
    /// pgbench's own average (clients / tps). Its per-transaction log reads a clock
    /// refreshed lazily, so sub-millisecond percentiles from it are coarse.
    pub latency_avg_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub cpu: crate::cpu::PerOp,
}

pub struct Pgbench {
    program: PathBuf,
    port: u16,
    password: String,
    database: String,
    work: PathBuf,
}

impl Pgbench {
    /// Finds `pgbench` next to the server binaries (like `initdb`), else on `$PATH`.
    pub fn find(port: u16, password: &str, database: &str, dir: &Path) -> anyhow::Result<Self> {
        let beside = pgcluster::pg_bin_dir()?.join("pgbench");
        let program = if beside.exists() {
            beside
        } else {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join("pgbench"))
                .find(|p| p.exists())
                .context(
                    "pgbench not found next to the PostgreSQL binaries nor on $PATH; \
                     install it with: apt-get install -y postgresql-contrib",
                )?
        };
        let work = dir.join("pgbench");
        std::fs::create_dir_all(&work)?;
        Ok(Self {
            program,
            port,
            password: password.to_string(),
            database: database.to_string(),
            work,
        })
    }

    /// Runs `script` with `clients` connections for `seconds`, as the service role over
    /// TCP with prepared statements (as sqlx runs them); latency from the per-transaction log.
    pub async fn run(
        &self,
        name: &str,
        script: &str,
        clients: usize,
        seconds: u64,
        meter: Option<&crate::cpu::Meter>,
    ) -> anyhow::Result<Outcome> {
        let script_path = self.work.join(format!("{name}.sql"));
        std::fs::write(&script_path, script)?;
        let prefix = self.work.join(format!("{name}.log"));
        for entry in std::fs::read_dir(&self.work)?.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.log."))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let before = meter.map(|m| m.sample());
        let out = tokio::process::Command::new(&self.program)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "k12_app",
            ])
            .args(["-n", "-M", "prepared", "-j", "2"])
            .args(["-c", &clients.to_string(), "-T", &seconds.to_string()])
            .arg("-D")
            .arg(format!("{LIMIT_VAR}={}", endpoints::limit_plus_one()))
            .arg("-D")
            .arg(format!("{FALSE_VAR}=false"))
            .arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()))
            .arg("-f")
            .arg(&script_path)
            .arg(&self.database)
            .env("PGPASSWORD", &self.password)
            .env("PGAPPNAME", "k12-bench-pgbench")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .context("running pgbench")?;
        let after = meter.map(|m| m.sample());
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!(
                "pgbench {name} failed ({}):\n{stdout}\n{stderr}",
                out.status
            );
        }
        let field = |label: &str| -> Option<f64> {
            stdout
                .lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        };
        let tps = field("tps = ").context("no tps in pgbench's output")?;
        let transactions = field("number of transactions actually processed: ").unwrap_or(0.0);
        let failed = field("number of failed transactions: ").unwrap_or(0.0);
        let mut latencies = self.read_log(name)?;
        latencies.sort_unstable();
        Ok(Outcome {
            tps,
            transactions: transactions as u64,
            failed: failed as u64,
            latency_avg_ms: field("latency average = ").unwrap_or(0.0),
            p50_ms: percentile(&latencies, 0.50) as f64 / 1000.0,
            p99_ms: percentile(&latencies, 0.99) as f64 / 1000.0,
            cpu: match (before, after) {
                (Some(b), Some(a)) => b.per_op(&a, transactions as u64),
                _ => Default::default(),
            },
        })
    }

    /// Transaction latencies (µs) from pgbench's per-transaction logs
    /// (`client transaction latency script epoch µs`, one file per thread).
    fn read_log(&self, name: &str) -> anyhow::Result<Vec<u64>> {
        let mut latencies = Vec::new();
        for entry in std::fs::read_dir(&self.work)?.flatten() {
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}.log."))
            {
                continue;
            }
            let text = std::fs::read_to_string(entry.path())?;
            latencies.extend(
                text.lines()
                    .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
            );
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(latencies)
    }
}

/// The value at quantile `q` of sorted samples (0 when empty).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_variables_or_nulls() {
        let s = Statement {
            sql: "SELECT $1, $2, $10 WHERE x = $1".into(),
            args: vec![
                Arg::Var("a"),
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Null,
                Arg::Var("j"),
            ],
        };
        assert_eq!(substitute(&s), "SELECT :a, NULL, :j WHERE x = :a");
    }

    #[test]
    fn every_endpoint_script_binds_every_parameter() {
        for e in endpoints::all() {
            let s = script(&e, 10, Part::Whole);
            assert!(!s.contains('$'), "{}: {s}", e.name);
            assert_eq!(
                s.matches("BEGIN;").count(),
                1,
                "one transaction per request"
            );
            assert_eq!(s.matches("COMMIT;").count(), 1);
            assert!(
                s.contains("\\startpipeline\nBEGIN;\nSELECT set_config"),
                "{s}"
            );
            let lookup = script(&e, 10, Part::SessionLookup);
            assert!(lookup.contains("FROM sessions"), "{lookup}");
            assert!(!script(&e, 10, Part::TargetPick).contains("BEGIN"));
        }
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
