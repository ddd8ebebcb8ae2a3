//! The Markdown report: the machine, the district, the bulk import and the table.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use platform::db::Db;

use crate::load::{self, Settings};
use crate::pgbench::{self, Part};
use crate::seed::{BulkImport, Seeding, Shape};
use crate::Args;

/// The 1-minute load average and the number of compilers running (other people's builds
/// share the machine).
#[derive(Clone, Copy, Debug, Default)]
pub struct Load {
    pub load1: f64,
    pub compilers: usize,
}

impl Load {
    pub fn now() -> Self {
        let load1 = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let compilers = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| matches!(c.trim(), "rustc" | "cc1" | "cc1plus" | "ld" | "cargo"))
            })
            .count();
        Self { load1, compilers }
    }
}

pub struct Machine {
    pub cpus: usize,
    pub postgres: String,
    pub date: String,
    pub before: Load,
    pub after: Load,
}

impl Machine {
    pub async fn probe(db: &Db) -> anyhow::Result<Self> {
        let (postgres, date): (String, String) = sqlx::query_as(
            "SELECT split_part(version(), ' ', 2),
                    to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI \"UTC\"')",
        )
        .fetch_one(db.pool())
        .await?;
        Ok(Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            postgres,
            date,
            before: Load::now(),
            after: Load::default(),
        })
    }

    pub fn finish(mut self) -> Self {
        self.after = Load::now();
        self
    }
}

pub struct Row {
    pub name: String,
    pub statements: u64,
    pub rows: usize,
    pub bytes: usize,
    pub load: Load,
    pub http: load::Outcome,
    pub pgbench: pgbench::Outcome,
    pub profile: Vec<(Part, pgbench::Outcome)>,
}

/// What the service's log writer received during the run.
#[derive(Clone, Default)]
pub struct LogVolume {
    bytes: Arc<AtomicU64>,
    lines: Arc<AtomicU64>,
}

impl LogVolume {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }
}

/// A writer that counts the bytes and lines passing through it.
pub struct CountingWriter<W> {
    inner: W,
    volume: LogVolume,
}

impl<W> CountingWriter<W> {
    pub fn new(inner: W, volume: LogVolume) -> Self {
        Self { inner, volume }
    }
}

impl<W: std::io::Write> std::io::Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.volume.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
        self.volume.lines.fetch_add(lines as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// How the service logged during the run (the report says so).
pub struct Logging {
    pub filter: String,
    pub lines: u64,
    pub bytes: u64,
    pub dropped: usize,
}

pub struct Report<'a> {
    pub logging: &'a Logging,
    pub scenarios: &'a crate::scenarios::Scenarios,
    pub args: &'a Args,
    pub settings: &'a Settings,
    pub shape: &'a Shape,
    pub machine: &'a Machine,
    pub seeding: &'a Seeding,
    pub bulk: Option<&'a BulkImport>,
    pub rows: &'a [Row],
    pub baseline: Option<&'a (load::Outcome, pgbench::Outcome)>,
}

fn median(v: &[Duration]) -> f64 {
    let mut s: Vec<f64> = v.iter().map(Duration::as_secs_f64).collect();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// 12345 -> "12,345".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

pub fn markdown(r: &Report) -> String {
    let m = r.machine;
    let s = r.shape;
    let mut out = String::new();
    let _ = writeln!(out, "## k12-bench, {}\n", m.date);
    let _ = writeln!(
        out,
        "Machine: {} CPUs (nproc), PostgreSQL {}; load average {:.2} before, {:.2} after; \
         compiler processes running: {} before, {} after.",
        m.cpus, m.postgres, m.before.load1, m.after.load1, m.before.compilers, m.after.compilers
    );
    let _ = writeln!(
        out,
        "Run: {} clients, {} s per endpoint after {} s of warm-up, service pool {} connections; \
         HTTP/1.1 keep-alive clients in the same process as the server; \
         pgbench `-c {} -j 2 -T {} -n -M prepared` as `k12_app` over TCP.\n",
        r.settings.clients,
        r.settings.duration.as_secs(),
        r.settings.warmup.as_secs(),
        r.args.pool_size,
        r.settings.clients,
        r.settings.duration.as_secs(),
    );
    let l = r.logging;
    let _ = writeln!(
        out,
        "Service logging: the production configuration (`platform::logging`, as `k12 serve` with \
         `K12_LOG_FORMAT=json`): JSON lines through the non-blocking writer, filter `{}` (an INFO \
         access line per request), to a file: {} lines, {:.1} MB during the whole run, {} dropped.\n",
        l.filter,
        thousands(l.lines as i64),
        l.bytes as f64 / 1e6,
        l.dropped,
    );
    let _ = writeln!(
        out,
        "| endpoint | HTTP req/s | p50 | p99 | errors | pgbench tps | pgbench p50 | pgbench p99 | ratio |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in r.rows {
        let _ = writeln!(
            out,
            "| `{}` | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0} | {:.2} ms | {:.2} ms | {:.0}% |",
            row.name,
            row.http.rate(),
            row.http.p50_ms(),
            row.http.p99_ms(),
            row.http.errors,
            row.pgbench.tps,
            row.pgbench.p50_ms,
            row.pgbench.p99_ms,
            100.0 * row.http.rate() / row.pgbench.tps.max(1e-9),
        );
    }
    let _ = writeln!(
        out,
        "\nPer request (first target): statements counted by the service (Server-Timing), rows and bytes answered; \
         load average (which counts this benchmark's own processes too) and compilers running \
         (other people's builds) when the endpoint's HTTP run started.\n"
    );
    let _ = writeln!(
        out,
        "| endpoint | statements | rows | bytes | load | compilers |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for row in r.rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {:.2} | {} |",
            row.name, row.statements, row.rows, row.bytes, row.load.load1, row.load.compilers
        );
    }
    if r.settings.meter.is_some() {
        let _ = writeln!(
            out,
            "\nCPU per request or transaction (µs, from /proc; {} CPUs = {} µs of CPU per second):\n",
            m.cpus,
            thousands(m.cpus as i64 * 1_000_000)
        );
        let _ = writeln!(
            out,
            "| endpoint | HTTP clients | service | PostgreSQL | HTTP total | pgbench | PostgreSQL (pgbench) | pgbench total |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for row in r.rows {
            let (h, p) = (row.http.cpu, row.pgbench.cpu);
            let _ = writeln!(
                out,
                "| `{}` | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
                row.name,
                h.client,
                h.server,
                h.postgres,
                h.client + h.server + h.postgres,
                p.pgbench,
                p.postgres,
                p.pgbench + p.postgres
            );
        }
    }
    if r.rows.iter().any(|row| !row.profile.is_empty()) || r.baseline.is_some() {
        let _ = writeln!(
            out,
            "\nWhere the time goes (pgbench on parts of a request; each part still picks its random target):\n"
        );
        let _ = writeln!(
            out,
            "| endpoint | whole tps | session lookup alone tps | handler alone tps | target pick alone tps |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for row in r.rows {
            let part = |p: Part| {
                row.profile
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map_or("-".to_string(), |(_, o)| format!("{:.0}", o.tps))
            };
            let _ = writeln!(
                out,
                "| `{}` | {:.0} | {} | {} | {} |",
                row.name,
                row.pgbench.tps,
                part(Part::SessionLookup),
                part(Part::Handler),
                part(Part::TargetPick)
            );
        }
        if let Some((http, pg)) = r.baseline {
            let _ = writeln!(
                out,
                "\nBaseline: `GET /api/v1/health` (router, pool, `SELECT 1`, no session) {:.0} req/s, \
                 p50 {:.2} ms, p99 {:.2} ms, {} errors, CPU per request {:.0} µs clients + {:.0} µs service \
                 + {:.0} µs PostgreSQL; pgbench `SELECT 1` {:.0} tps, average latency {:.2} ms, CPU per \
                 transaction {:.0} µs pgbench + {:.0} µs PostgreSQL.",
                http.rate(),
                http.p50_ms(),
                http.p99_ms(),
                http.errors,
                http.cpu.client,
                http.cpu.server,
                http.cpu.postgres,
                pg.tps,
                pg.latency_avg_ms,
                pg.cpu.pgbench,
                pg.cpu.postgres
            );
        }
    }

    scenarios(&mut out, r);
    let _ = writeln!(
        out,
        "\n### The district\n\n{} schools in one district; per school {} teachers, {} students, {} courses \
         ({} sections each), each student in {} courses, {} assignments per course ({} published), \
         {} submissions, one discussion per course with {} posts and a reply to each. \
         Sessions for every teacher and {} students per school.",
        s.tenants,
        s.teachers,
        s.students,
        s.courses,
        s.sections_per_course,
        s.courses_per_student,
        s.assignments_per_course,
        s.published_per_course,
        s.submissions,
        s.posts_per_discussion,
        s.student_sessions
    );
    let seed = r.seeding;
    if seed.reused {
        let _ = writeln!(
            out,
            "\nReused from `--data-dir`; it was seeded in {:.1} s (+ {:.1} s of VACUUM ANALYZE).\n",
            seed.seed_seconds, seed.vacuum_seconds
        );
    } else {
        let _ = writeln!(
            out,
            "\nSeeded in {:.1} s (two schools at a time, one transaction each), then VACUUM ANALYZE in {:.1} s.\n",
            seed.seed_seconds, seed.vacuum_seconds
        );
    }
    let _ = writeln!(out, "| table | rows |\n|---|---:|");
    for (table, n) in &seed.counts {
        let _ = writeln!(out, "| {table} | {} |", thousands(*n));
    }
    if let Some(b) = r.bulk {
        let with = median(&b.with_trigger);
        let without = median(&b.without_trigger);
        let list = |v: &[Duration]| {
            v.iter()
                .map(|d| format!("{:.2}", d.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "\n### Bulk import\n\n`INSERT INTO users ... SELECT` of {} users in one statement into an empty school: \
             {:.2} s with the users_count counter trigger (runs: {} s), {:.2} s without it (runs: {} s); \
             the counter costs {:+.2} s ({:+.1}%). It is a statement-level trigger: one UPDATE of the \
             tenant row per statement, whatever the row count, so the hot row is locked only from the end \
             of the statement to the commit. A one-user insert into the same school (its trigger updates \
             the same row) took {} while the import statement ran, and {:.1} ms while the import \
             transaction stayed open {} ms after its statement: it waited for that transaction to end. \
             Commit an import right after its statement.",
            thousands(b.users),
            with,
            list(&b.with_trigger),
            without,
            list(&b.without_trigger),
            with - without,
            100.0 * (with - without) / without.max(1e-9),
            b.probe_during_statement
                .map_or("(not measured: the import was too quick)".to_string(), |d| {
                    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
                }),
            b.probe_after_statement.as_secs_f64() * 1000.0,
            crate::seed::HOLD.as_millis(),
        );
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// The stampede, analytics and PgBouncer tables.
fn scenarios(out: &mut String, r: &Report) {
    let sc = r.scenarios;
    if let Some(s) = &sc.stampede {
        let o = &s.outcome;
        let _ = writeln!(
            out,
            "\n### The stampede\n\n{} concurrent keep-alive clients for {} s on the list routes \
             (random list endpoint and target per request), service pool {} connections, acquire \
             timeout {} ms. Errors are non-200 answers other than a 503 with `Retry-After` \
             (counted apart), transport failures and requests unanswered after 30 s.\n",
            s.clients,
            o.elapsed.as_secs(),
            s.pool_size,
            s.acquire_timeout.as_millis()
        );
        let _ = writeln!(
            out,
            "| req/s | p50 | p99 | max | errors | 503 + Retry-After | waited for a connection | acquire timeouts |"
        );
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        let _ = writeln!(
            out,
            "| {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {} |",
            o.rate(),
            o.p50_ms(),
            o.p99_ms(),
            o.max_ms(),
            o.errors,
            o.unavailable,
            thousands(s.waits as i64),
            s.acquire_timeouts
        );
    }
    if let Some(a) = &sc.analytics {
        let mut took = a.refreshes.clone();
        took.sort();
        let _ = writeln!(
            out,
            "\n### Analytics\n\nThe views were first refreshed (populated) alone in {}. Then {} clients \
             per route for {} s, each request as one of the schools' admins:\n",
            ms(a.first_refresh),
            r.settings.clients,
            r.settings.duration.as_secs()
        );
        let _ = writeln!(
            out,
            "| route | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|"
        );
        for (route, o) in [
            ("GET /api/v1/admin/analytics/daily?days=30", &a.daily),
            ("GET /api/v1/admin/analytics/courses", &a.courses),
        ] {
            let _ = writeln!(
                out,
                "| `{route}` | {:.0} | {:.2} ms | {:.2} ms | {} |",
                o.rate(),
                o.p50_ms(),
                o.p99_ms(),
                o.errors + o.unavailable
            );
        }
        let _ = writeln!(
            out,
            "\n`REFRESH MATERIALIZED VIEW CONCURRENTLY` of both views (`refresh_analytics()`), run back to \
             back while {} clients read the list routes: {} refreshes, median {}, longest {}.\n",
            r.settings.clients,
            took.len(),
            took.get(took.len() / 2).map_or("-".into(), |d| ms(*d)),
            took.last().map_or("-".into(), |d| ms(*d)),
        );
        let _ = writeln!(
            out,
            "| list traffic | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|"
        );
        for (label, o) in [
            ("without a refresh", &a.list_without),
            ("during the refreshes", &a.list_during),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {:.0} | {:.2} ms | {:.2} ms | {} |",
                o.rate(),
                o.p50_ms(),
                o.p99_ms(),
                o.errors + o.unavailable
            );
        }
    }
    if let Some((version, bounced)) = &sc.pgbouncer {
        let _ = writeln!(
            out,
            "\n### Through PgBouncer\n\n{version}, transaction mode, on loopback in front of the same \
             cluster (`default_pool_size` = the service's pool); the service with \
             `K12_DB_PGBOUNCER=transaction` (no statement cache, `DEALLOCATE ALL` with each BEGIN), \
             {} clients, {} s per endpoint after {} s of warm-up, next to the direct figures above.\n",
            r.settings.clients,
            r.settings.duration.as_secs(),
            r.settings.warmup.as_secs()
        );
        let _ = writeln!(
            out,
            "| endpoint | direct req/s | PgBouncer req/s | p50 | p99 | errors | PgBouncer / direct |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
        for b in bounced {
            let direct = r.rows.iter().find(|row| row.name == b.name);
            let direct_rate = direct.map_or(0.0, |row| row.http.rate());
            let _ = writeln!(
                out,
                "| `{}` | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0}% |",
                b.name,
                direct_rate,
                b.http.rate(),
                b.http.p50_ms(),
                b.http.p99_ms(),
                b.http.errors + b.http.unavailable,
                100.0 * b.http.rate() / direct_rate.max(1e-9)
            );
        }
    } else if let Some(why) = &sc.pgbouncer_skipped {
        let _ = writeln!(out, "\nThrough PgBouncer: not measured ({why}).");
    }
}
