//! Roster imports (spec 08, "Data import"): CSV files of users, courses or enrollments
//! into one tenant.
//!
//! Everything that makes a file unusable is a 400 before anything is written: an unknown
//! type, bytes that are not UTF-8, no header, a missing required column. Then every row is
//! validated; bad rows are reported `{file, row, column, message}` (row = the line in the
//! file) and good rows go in. The fast path streams the valid rows of a chunk into a
//! temporary table with `COPY` and applies them with a few set-based statements keyed by
//! a natural key (users: the email; courses: the name; sections: the name within the
//! course; enrollments: user and section), so re-running a file changes nothing. A dry
//! run does the same work and rolls it back. Values are stored as typed, formula-leading
//! ones included (`roster::export_field` escapes them on the way out).
//!
//! Files up to `K12_IMPORT_SYNC_ROWS` rows are imported in the request; larger ones are
//! kept in the `imports` row and run by the [`ImportFile`] job, which commits a chunk at
//! a time and records its progress.

pub mod export;
pub mod oneroster;
pub mod routes;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roster::{Columns, Records};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, AuditEvent, TenantActor};
use crate::auth::permission::DEFAULT_ROLES;
use crate::auth::session::{CurrentOperator, CurrentUser};
use crate::db::{Db, TenantId, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiBytes, ApiPath, ApiQuery, TenantScope};
use crate::http::AppState;
use crate::identity::Email;
use crate::jobs::{Job, JobContext};
use crate::request::RequestMeta;

/// The largest import file the API accepts.
pub const MAX_FILE_BYTES: usize = 128 * 1024 * 1024;
/// Rows per transaction of a job (and the COPY batch of the fast path).
pub const CHUNK_ROWS: usize = 50_000;
/// The most row errors a report lists (`errors_total` counts them all).
pub const MAX_REPORTED_ERRORS: usize = 10_000;
pub const DEFAULT_SYNC_ROWS: usize = 5_000;

/// `K12_IMPORT_SYNC_ROWS` (default 5,000), read once: files with more rows run as a job.
pub fn sync_rows() -> usize {
    static ROWS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *ROWS.get_or_init(|| match std::env::var("K12_IMPORT_SYNC_ROWS") {
        Err(_) => DEFAULT_SYNC_ROWS,
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            tracing::warn!(value = %v, "K12_IMPORT_SYNC_ROWS is not a number; using 5000");
            DEFAULT_SYNC_ROWS
        }),
    })
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    Users,
    Courses,
    Enrollments,
}

impl ImportKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "users" => Some(Self::Users),
            "courses" => Some(Self::Courses),
            "enrollments" => Some(Self::Enrollments),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Courses => "courses",
            Self::Enrollments => "enrollments",
        }
    }

    /// (required, optional) columns, in the order the temporary table holds them.
    fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Self::Users => (&["email", "first_name", "last_name", "role"], &[]),
            Self::Courses => (&["name"], &["description", "section_name"]),
            Self::Enrollments => (&["email", "course_name"], &["section_name", "role"]),
        }
    }

    fn file_name(self) -> String {
        format!("{}.csv", self.as_str())
    }
}

/// One rejected row.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    /// The line in the file (the header is line 1).
    pub row: usize,
    pub column: String,
    pub message: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct ImportReport {
    /// The import's record (`GET .../imports/{id}`, its errors as CSV at
    /// `.../imports/{id}/errors.csv`); absent in the stored report itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub created: u64,
    pub updated: u64,
    /// Valid rows that changed nothing (already there, or repeated in the file).
    pub skipped: u64,
    /// The first 10,000 row errors.
    pub errors: Vec<RowError>,
    pub errors_total: u64,
    /// Data rows read (header excluded).
    pub rows: u64,
    pub dry_run: bool,
}

impl ImportReport {
    fn error(&mut self, e: RowError) {
        self.errors_total += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(e);
        }
    }
}

/// A file that passed the checks made before anything is written.
pub struct Prepared<'a> {
    kind: ImportKind,
    columns: Columns,
    records: Records<'a>,
    file: String,
}

/// Checks the file as a whole: UTF-8, a header with every required column. A 400 names
/// what is wrong.
pub fn prepare(kind: ImportKind, bytes: &[u8]) -> ApiResult<Prepared<'_>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the file is not UTF-8 text (invalid bytes at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut records = Records::new(text);
    let header = match records.next() {
        None => return Err(ApiError::BadRequest("the file is empty".into())),
        Some(Err(e)) => {
            return Err(ApiError::BadRequest(format!(
                "the header (line {}) is not valid CSV: {}",
                e.line, e.message
            )))
        }
        Some(Ok(h)) => h,
    };
    let (required, optional) = kind.columns();
    let columns = Columns::match_header(&header.fields, required, optional).map_err(|missing| {
        ApiError::BadRequest(format!(
            "{}: missing required column(s): {}",
            kind.file_name(),
            missing.join(", ")
        ))
    })?;
    Ok(Prepared {
        kind,
        columns,
        records,
        file: kind.file_name(),
    })
}

/// Data rows in a prepared file, counting at most `limit + 1` (enough to choose between
/// the request and a job).
pub fn count_rows(bytes: &[u8], limit: usize) -> usize {
    std::str::from_utf8(bytes)
        .map(|t| Records::new(t).skip(1).take(limit + 1).count())
        .unwrap_or(0)
}

/// Validates one row; the values for the temporary table (c1..c4) or the bad column.
fn validate(
    kind: ImportKind,
    cols: &Columns,
    fields: &[String],
) -> Result<[String; 4], (&'static str, String)> {
    let (required, optional) = kind.columns();
    let names: Vec<&'static str> = required.iter().chain(optional).copied().collect();
    for (i, name) in names.iter().enumerate() {
        if cols.get(fields, i).contains('\0') {
            return Err((name, "must not contain the NUL character".into()));
        }
    }
    let get = |i: usize| cols.get(fields, i).to_string();
    let len = |name: &'static str, v: &str, min: usize, max: usize| {
        let n = v.chars().count();
        if n < min {
            Err((name, "is required".to_string()))
        } else if n > max {
            Err((name, format!("must be at most {max} characters")))
        } else {
            Ok(())
        }
    };
    match kind {
        ImportKind::Users => {
            let email = Email::parse(&get(0)).map_err(|m| ("email", m))?;
            let (first, last) = (get(1), get(2));
            len("first_name", &first, 0, 100)?;
            len("last_name", &last, 0, 100)?;
            let role = get(3).to_ascii_lowercase();
            if !DEFAULT_ROLES.iter().any(|r| r.0 == role) {
                return Err((
                    "role",
                    "must be admin, teacher, curriculum_lead, student or guardian".into(),
                ));
            }
            Ok([email.as_str().to_string(), first, last, role])
        }
        ImportKind::Courses => {
            let (name, description, section) = (get(0), get(1), get(2));
            len("name", &name, 1, 200)?;
            len("description", &description, 0, 20_000)?;
            len("section_name", &section, 0, 200)?;
            Ok([name, description, section, String::new()])
        }
        ImportKind::Enrollments => {
            let email = Email::parse(&get(0)).map_err(|m| ("email", m))?;
            let (course, section) = (get(1), get(2));
            len("course_name", &course, 1, 200)?;
            len("section_name", &section, 0, 200)?;
            let role = match get(3).to_ascii_lowercase().as_str() {
                "" => "student".to_string(),
                r @ ("teacher" | "student" | "ta" | "observer") => r.to_string(),
                _ => return Err(("role", "must be teacher, student, ta or observer".into())),
            };
            Ok([email.as_str().to_string(), course, section, role])
        }
    }
}

/// Runs a prepared file a chunk at a time.
pub struct Importer<'a> {
    prepared: Prepared<'a>,
    pub report: ImportReport,
    done: bool,
}

impl<'a> Importer<'a> {
    pub fn new(prepared: Prepared<'a>, dry_run: bool) -> Self {
        Self {
            prepared,
            report: ImportReport {
                dry_run,
                ..Default::default()
            },
            done: false,
        }
    }

    pub fn finished(&self) -> bool {
        self.done
    }

    /// Imports the next `chunk` rows in one transaction (rolled back in a dry run).
    pub async fn step(&mut self, db: &Db, tenant: TenantId, chunk: usize) -> ApiResult<()> {
        let mut tx = db.tenant(tenant).await?;
        // One import at a time per tenant: the natural keys are matched, not constrained.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('k12.import'), (current_tenant_id() % 2147483647)::int)")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TEMP TABLE imp_rows (line integer, c1 text, c2 text, c3 text, c4 text)
             ON COMMIT DROP",
        )
        .execute(&mut *tx)
        .await?;
        let valid = self.copy_chunk(&mut tx, chunk).await?;
        if valid > 0 {
            let kind = self.prepared.kind;
            let file = self.prepared.file.clone();
            apply(&mut tx, kind, &file, valid, &mut self.report).await?;
            // Syntax and value errors come first, unresolved references after: in file order.
            self.report.errors.sort_by_key(|e| e.row);
        }
        if self.report.dry_run {
            drop(tx);
        } else {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Validates up to `chunk` rows and streams the valid ones into `imp_rows`.
    async fn copy_chunk(&mut self, tx: &mut TenantTx, chunk: usize) -> ApiResult<u64> {
        let kind = self.prepared.kind;
        let mut copy = tx
            .copy_in_raw("COPY imp_rows (line, c1, c2, c3, c4) FROM STDIN")
            .await?;
        let mut buf = String::with_capacity(1 << 20);
        let mut valid = 0u64;
        let mut taken = 0usize;
        while taken < chunk {
            let Some(record) = self.prepared.records.next() else {
                self.done = true;
                break;
            };
            taken += 1;
            self.report.rows += 1;
            let file = &self.prepared.file;
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    self.report.error(RowError {
                        file: file.clone(),
                        row: e.line,
                        column: String::new(),
                        message: e.message,
                    });
                    continue;
                }
            };
            match validate(kind, &self.prepared.columns, &record.fields) {
                Err((column, message)) => self.report.error(RowError {
                    file: file.clone(),
                    row: record.line,
                    column: column.to_string(),
                    message,
                }),
                Ok(values) => {
                    valid += 1;
                    buf.push_str(&record.line.to_string());
                    for v in &values {
                        buf.push('\t');
                        roster::copy_text(&mut buf, v);
                    }
                    buf.push('\n');
                    if buf.len() >= 1 << 20 {
                        copy.send(buf.as_bytes()).await?;
                        buf.clear();
                    }
                }
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_bytes()).await?;
        }
        copy.finish().await?;
        Ok(valid)
    }
}

/// Applies the valid rows in `imp_rows` with set-based statements and counts what changed.
async fn apply(
    tx: &mut TenantTx,
    kind: ImportKind,
    file: &str,
    valid: u64,
    report: &mut ImportReport,
) -> ApiResult<()> {
    let (created, updated, invalid): (i64, i64, u64) = match kind {
        ImportKind::Users => {
            let (c, u): (i64, i64) = sqlx::query_as(USERS_SQL).fetch_one(&mut **tx).await?;
            (c, u, 0)
        }
        ImportKind::Courses => {
            let (c, u): (i64, i64) = sqlx::query_as(COURSES_SQL).fetch_one(&mut **tx).await?;
            (c, u, 0)
        }
        ImportKind::Enrollments => {
            sqlx::query(ENROLLMENTS_RESOLVE_SQL)
                .execute(&mut **tx)
                .await?;
            let dangling: Vec<(i32, String)> = sqlx::query_as(
                "SELECT line, CASE WHEN uid IS NULL THEN 'email'
                                   WHEN cid IS NULL THEN 'course_name'
                                   ELSE 'section_name' END
                   FROM imp_resolved WHERE uid IS NULL OR cid IS NULL OR sid IS NULL
                  ORDER BY line",
            )
            .fetch_all(&mut **tx)
            .await?;
            let n = dangling.len() as u64;
            for (line, column) in dangling {
                let message = match column.as_str() {
                    "email" => "no user with this email in the school",
                    "course_name" => "no course with this name in the school",
                    _ => "no section with this name in the course",
                };
                report.error(RowError {
                    file: file.to_string(),
                    row: usize::try_from(line).unwrap_or(0),
                    column,
                    message: message.into(),
                });
            }
            let (c,): (i64,) = sqlx::query_as(ENROLLMENTS_INSERT_SQL)
                .fetch_one(&mut **tx)
                .await?;
            (c, 0, n)
        }
    };
    let (created, updated) = (created.max(0) as u64, updated.max(0) as u64);
    report.created += created;
    report.updated += updated;
    report.skipped += valid.saturating_sub(invalid + created + updated);
    Ok(())
}

/// Users by email (case-insensitive; the last row of an email wins): new users with their
/// role, existing users' names updated and the role added.
const USERS_SQL: &str = "
WITH src AS (
    SELECT DISTINCT ON (lower(c1)) c1 AS email, c2 AS first_name, c3 AS last_name, c4 AS role
      FROM imp_rows ORDER BY lower(c1), line DESC
), existing AS (
    SELECT u.id, lower(u.email) AS e FROM users u JOIN src s ON lower(u.email) = lower(s.email)
), ins AS (
    INSERT INTO users (tenant_id, email, first_name, last_name)
    SELECT current_tenant_id(), s.email, s.first_name, s.last_name FROM src s
     WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.e = lower(s.email))
    ON CONFLICT DO NOTHING
    RETURNING id, lower(email) AS e
), upd AS (
    UPDATE users u SET first_name = s.first_name, last_name = s.last_name
      FROM src s
     WHERE lower(u.email) = lower(s.email)
       AND (u.first_name, u.last_name) IS DISTINCT FROM (s.first_name, s.last_name)
    RETURNING u.id
), granted AS (
    INSERT INTO user_roles (tenant_id, user_id, role_id)
    SELECT current_tenant_id(), a.id, r.id
      FROM (SELECT id, e FROM ins UNION ALL SELECT id, e FROM existing) a
      JOIN src s ON lower(s.email) = a.e
      JOIN roles r ON r.name = s.role
    ON CONFLICT DO NOTHING
    RETURNING user_id
)
SELECT (SELECT count(*) FROM ins),
       (SELECT count(*) FROM (SELECT id FROM upd UNION SELECT user_id FROM granted) x
         WHERE x.id NOT IN (SELECT id FROM ins))";

/// Courses by name (case-insensitive; the first such course if several): new courses,
/// descriptions updated, and each named section added to its course when missing (a
/// blank section name: a first section `Section 1` for a course that has none).
const COURSES_SQL: &str = "
WITH src AS (
    SELECT DISTINCT ON (lower(c1)) c1 AS name, c2 AS description
      FROM imp_rows ORDER BY lower(c1), line DESC
), existing AS (
    SELECT DISTINCT ON (lower(c.name)) c.id, lower(c.name) AS k
      FROM courses c JOIN src s ON lower(c.name) = lower(s.name)
     ORDER BY lower(c.name), c.id
), ins AS (
    INSERT INTO courses (tenant_id, name, description)
    SELECT current_tenant_id(), s.name, s.description FROM src s
     WHERE NOT EXISTS (SELECT 1 FROM existing x WHERE x.k = lower(s.name))
    RETURNING id, lower(name) AS k
), upd AS (
    UPDATE courses c SET description = s.description
      FROM src s JOIN existing x ON x.k = lower(s.name)
     WHERE c.id = x.id AND s.description <> '' AND c.description IS DISTINCT FROM s.description
    RETURNING c.id
), wanted AS (
    SELECT DISTINCT a.id AS course_id, nullif(i.c3, '') AS name
      FROM imp_rows i
      JOIN (SELECT id, k FROM ins UNION ALL SELECT id, k FROM existing) a ON a.k = lower(i.c1)
), sec AS (
    INSERT INTO sections (tenant_id, course_id, name)
    SELECT current_tenant_id(), w.course_id, coalesce(w.name, 'Section 1') FROM wanted w
     WHERE CASE WHEN w.name IS NULL
                THEN NOT EXISTS (SELECT 1 FROM sections s WHERE s.course_id = w.course_id)
                ELSE NOT EXISTS (SELECT 1 FROM sections s
                                  WHERE s.course_id = w.course_id AND lower(s.name) = lower(w.name))
           END
    RETURNING course_id
)
SELECT (SELECT count(*) FROM ins),
       (SELECT count(*) FROM (SELECT id FROM upd UNION SELECT course_id FROM sec) x
         WHERE x.id NOT IN (SELECT id FROM ins))";

/// Resolves each enrollment row to its user, course and section (NULL when absent).
const ENROLLMENTS_RESOLVE_SQL: &str = "
CREATE TEMP TABLE imp_resolved ON COMMIT DROP AS
WITH c AS (
    SELECT DISTINCT ON (lower(name)) id, lower(name) AS k FROM courses ORDER BY lower(name), id
), s AS (
    SELECT DISTINCT ON (course_id, lower(name)) id, course_id, lower(name) AS k
      FROM sections ORDER BY course_id, lower(name), id
), first AS (
    SELECT DISTINCT ON (course_id) id, course_id FROM sections ORDER BY course_id, id
)
SELECT i.line, i.c4 AS role, u.id AS uid, c.id AS cid, coalesce(s.id, first.id) AS sid
  FROM imp_rows i
  LEFT JOIN users u ON lower(u.email) = lower(i.c1)
  LEFT JOIN c ON c.k = lower(i.c2)
  LEFT JOIN s ON i.c3 <> '' AND s.course_id = c.id AND s.k = lower(i.c3)
  LEFT JOIN first ON i.c3 = '' AND first.course_id = c.id";

/// Enrollments by (user, section): new ones inserted, existing ones left as they are.
const ENROLLMENTS_INSERT_SQL: &str = "
WITH src AS (
    SELECT DISTINCT ON (uid, sid) uid, sid, cid, role FROM imp_resolved
     WHERE uid IS NOT NULL AND sid IS NOT NULL
     ORDER BY uid, sid, line DESC
), ins AS (
    INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
    SELECT current_tenant_id(), uid, sid, cid, role FROM src
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM ins";

/// Who started an import: recorded in its audit row.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportActor {
    User(i64),
    Operator(i64),
    /// A district admin (a user of another tenant of the district).
    DistrictAdmin(i64),
    Cli,
}

impl ImportActor {
    fn audit(self) -> (TenantActor, serde_json::Value) {
        match self {
            Self::User(id) => (TenantActor::User(id), json!({})),
            Self::Operator(id) => (TenantActor::Operator(id), json!({})),
            Self::DistrictAdmin(id) => (
                TenantActor::Anonymous,
                json!({"district_admin_user_id": id}),
            ),
            Self::Cli => (TenantActor::Anonymous, json!({"cli": true})),
        }
    }

    fn user(self) -> Option<i64> {
        match self {
            Self::User(id) => Some(id),
            _ => None,
        }
    }
}

/// Records an import in the tenant's audit trail (its own transaction: a dry run's work
/// is rolled back, its audit row is not).
async fn record(
    db: &Db,
    tenant: TenantId,
    by: ImportActor,
    meta: &RequestMeta,
    event: &str,
    metadata: serde_json::Value,
) -> ApiResult<()> {
    let (actor, who) = by.audit();
    let mut tx = db.tenant(tenant).await?;
    audit::record_tenant(
        &mut tx,
        actor,
        meta,
        AuditEvent::new(event).with(json!({"import": metadata, "by": who})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Imports a whole prepared file now, a chunk per transaction.
pub async fn run_now(
    db: &Db,
    tenant: TenantId,
    prepared: Prepared<'_>,
    dry_run: bool,
    mut progress: impl FnMut(&ImportReport),
) -> ApiResult<ImportReport> {
    let mut importer = Importer::new(prepared, dry_run);
    while !importer.finished() {
        importer.step(db, tenant, CHUNK_ROWS).await?;
        progress(&importer.report);
    }
    Ok(importer.report)
}

/// Imports a whole prepared file now and records it in the tenant's audit trail (the
/// request path for small files, and `k12 import`).
pub async fn import_now(
    db: &Db,
    tenant: TenantId,
    prepared: Prepared<'_>,
    dry_run: bool,
    by: ImportActor,
    meta: &RequestMeta,
    progress: impl FnMut(&ImportReport),
) -> ApiResult<ImportReport> {
    let kind = prepared.kind;
    let mut report = run_now(db, tenant, prepared, dry_run, progress).await?;
    report.id = Some(remember(db, tenant, kind.as_str(), by, meta, &report).await?);
    Ok(report)
}

/// Keeps a finished import of the request path (or `k12 import`) as a completed
/// `imports` row with its report, so its errors can be downloaded later
/// (`errors.csv`), and records it in the tenant's audit trail; its id. Its own
/// transaction: a dry run's work is rolled back, its record is not.
async fn remember(
    db: &Db,
    tenant: TenantId,
    kind: &str,
    by: ImportActor,
    meta: &RequestMeta,
    report: &ImportReport,
) -> ApiResult<i64> {
    let rows = i32::try_from(report.rows).unwrap_or(i32::MAX);
    let errors = i32::try_from(report.errors_total).unwrap_or(i32::MAX);
    let mut tx = db.tenant(tenant).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO imports (tenant_id, kind, dry_run, state, created_by, rows_total,
                              rows_processed, errors_so_far, report, finished_at)
         VALUES (current_tenant_id(), $1, $2, 'completed', $3, $4, $4, $5, $6, now())
         RETURNING id",
    )
    .bind(kind)
    .bind(report.dry_run)
    .bind(by.user())
    .bind(rows)
    .bind(errors)
    .bind(serde_json::to_value(report).map_err(anyhow::Error::from)?)
    .fetch_one(&mut *tx)
    .await?;
    let (actor, who) = by.audit();
    audit::record_tenant(
        &mut tx,
        actor,
        meta,
        AuditEvent::new("import.completed")
            .on("import", id)
            .with(json!({
                "import": {"type": kind, "dry_run": report.dry_run, "rows": report.rows,
                           "created": report.created, "updated": report.updated,
                           "skipped": report.skipped, "errors": report.errors_total},
                "by": who
            })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// The query of the import routes.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ImportParams {
    /// `users`, `courses`, `enrollments` (`text/csv`) or `oneroster` (`application/zip`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `true` validates and reports without writing.
    pub dry_run: Option<String>,
}

impl ImportParams {
    fn parse(&self) -> ApiResult<(ImportKind, bool)> {
        let kind = self
            .kind
            .as_deref()
            .and_then(ImportKind::parse)
            .ok_or_else(|| {
                ApiError::BadRequest("type must be users, courses, enrollments or oneroster".into())
            })?;
        let dry_run = match self.dry_run.as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => return Err(ApiError::BadRequest("dry_run must be true or false".into())),
        };
        Ok((kind, dry_run))
    }
}

/// A queued import (202).
#[derive(Debug, Serialize, JsonSchema)]
pub struct QueuedImport {
    pub id: i64,
    pub state: String,
    pub rows_total: i64,
}

/// An import's progress.
#[derive(Debug, Serialize, JsonSchema, sqlx::FromRow)]
pub struct ImportView {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub dry_run: bool,
    /// `queued`, `running`, `completed` or `failed`.
    pub state: String,
    pub rows_total: i32,
    pub rows_processed: i32,
    pub errors_so_far: i32,
    /// The report once completed (or the reason it failed).
    pub report: Option<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn check_content_type(headers: &HeaderMap, expected: &str) -> ApiResult<()> {
    let essence = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: {expected}"
        )))
    }
}

/// `?type=oneroster`: the dry_run flag of the query.
fn oneroster_dry_run(params: &ImportParams) -> ApiResult<bool> {
    match params.dry_run.as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::BadRequest("dry_run must be true or false".into())),
    }
}

/// Imports a OneRoster archive now and records it in the tenant's audit trail (the
/// request path for small archives, and `k12 import --type oneroster`).
pub async fn import_oneroster_now(
    db: &Db,
    tenant: TenantId,
    archive: &oneroster::Archive,
    dry_run: bool,
    by: ImportActor,
    meta: &RequestMeta,
) -> ApiResult<ImportReport> {
    let mut report = oneroster::run(db, tenant, archive, dry_run).await?;
    report.id = Some(remember(db, tenant, "oneroster", by, meta, &report).await?);
    Ok(report)
}

/// A file to queue: its type, dry-run flag, bytes and data rows.
struct Upload<'a> {
    kind: &'a str,
    dry_run: bool,
    body: &'a Bytes,
    rows: usize,
}

/// Queues an import as a job (202): the file waits in its `imports` row.
async fn queue(
    db: &Db,
    tenant: TenantId,
    by: ImportActor,
    meta: &RequestMeta,
    upload: Upload<'_>,
) -> ApiResult<Response> {
    let Upload {
        kind,
        dry_run,
        body,
        rows,
    } = upload;
    let mut tx = db.tenant(tenant).await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO imports (tenant_id, kind, dry_run, file, created_by, rows_total)
         VALUES (current_tenant_id(), $1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(dry_run)
    .bind(body.as_ref())
    .bind(by.user())
    .bind(i32::try_from(rows).unwrap_or(i32::MAX))
    .fetch_one(&mut *tx)
    .await?;
    crate::jobs::enqueue(
        &mut tx,
        &ImportFile {
            tenant_id: tenant.0,
            import_id: id,
            by,
        },
    )
    .await?;
    let (actor, who) = by.audit();
    audit::record_tenant(
        &mut tx,
        actor,
        meta,
        AuditEvent::new("import.queued")
            .on("import", id)
            .with(json!({"type": kind, "dry_run": dry_run, "by": who})),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedImport {
            id,
            state: "queued".into(),
            rows_total: i64::try_from(rows).unwrap_or(i64::MAX),
        }),
    )
        .into_response())
}

/// The import of every route: checks, then in the request or as a job.
async fn import(
    db: &Db,
    tenant: TenantId,
    by: ImportActor,
    meta: &RequestMeta,
    params: &ImportParams,
    headers: &HeaderMap,
    body: &Bytes,
) -> ApiResult<Response> {
    if params.kind.as_deref() == Some("oneroster") {
        let dry_run = oneroster_dry_run(params)?;
        check_content_type(headers, "application/zip")?;
        let archive = oneroster::prepare(body)?;
        let rows = archive.rows();
        if rows <= sync_rows() {
            let report = import_oneroster_now(db, tenant, &archive, dry_run, by, meta).await?;
            return Ok(Json(report).into_response());
        }
        let upload = Upload {
            kind: "oneroster",
            dry_run,
            body,
            rows,
        };
        return queue(db, tenant, by, meta, upload).await;
    }
    let (kind, dry_run) = params.parse()?;
    check_content_type(headers, "text/csv")?;
    let prepared = prepare(kind, body)?;
    let rows = count_rows(body, sync_rows());
    if rows <= sync_rows() {
        let report = import_now(db, tenant, prepared, dry_run, by, meta, |_| {}).await?;
        return Ok(Json(report).into_response());
    }
    // Every row this time: the count the progress is measured against.
    let rows = count_rows(body, usize::MAX - 1);
    let upload = Upload {
        kind: kind.as_str(),
        dry_run,
        body,
        rows,
    };
    queue(db, tenant, by, meta, upload).await
}

/// `POST /api/v1/admin/imports`
pub async fn admin_create(
    State(state): State<AppState>,
    TenantScope { me, db: _ }: TenantScope,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    let by = ImportActor::User(me.user_id);
    import(&state.db, me.tenant_id, by, &meta, &params, &headers, &body).await
}

/// `POST /api/v1/operator/tenants/{slug}/imports`
pub async fn operator_create(
    State(state): State<AppState>,
    CurrentOperator(op): CurrentOperator,
    ApiPath(slug): ApiPath<String>,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    let tenant = crate::provisioning::tenant_in_scope(&state.db, &slug, None).await?;
    let by = ImportActor::Operator(op.operator_id);
    import(&state.db, tenant, by, &meta, &params, &headers, &body).await
}

/// `POST /api/v1/district/tenants/{slug}/imports`: a school of the caller's district.
pub async fn district_create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(slug): ApiPath<String>,
    meta: RequestMeta,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    let district = user.district_id.ok_or(ApiError::Forbidden)?;
    let tenant = crate::provisioning::tenant_in_scope(&state.db, &slug, Some(district)).await?;
    let by = ImportActor::DistrictAdmin(user.user_id);
    import(&state.db, tenant, by, &meta, &params, &headers, &body).await
}

/// `GET /api/v1/admin/imports/{id}`
pub async fn admin_show(
    TenantScope { me: _, db }: TenantScope,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ImportView>> {
    let mut tx = db.begin().await?;
    let view: Option<ImportView> = sqlx::query_as(
        "SELECT id, kind, dry_run, state, rows_total, rows_processed, errors_so_far, report,
                created_at, finished_at
           FROM imports WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    view.map(Json).ok_or(ApiError::NotFound)
}

/// Runs a queued import a chunk per transaction, recording progress after each.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportFile {
    pub tenant_id: i64,
    pub import_id: i64,
    pub by: ImportActor,
}

impl Job for ImportFile {
    const KIND: &'static str = "import_file";
    // A retry would start the file again; an import is idempotent, but its report would
    // count the first attempt's rows as skipped. One attempt, and a failed state.
    const MAX_ATTEMPTS: i32 = 1;
    const TIMEOUT: Duration = Duration::from_secs(60 * 60);

    fn unique_key(&self) -> Option<String> {
        Some(format!("{}:{}", self.tenant_id, self.import_id))
    }

    async fn run(&self, ctx: &JobContext) -> anyhow::Result<()> {
        let tenant = TenantId(self.tenant_id);
        let db = &ctx.db;
        let mut tx = db.tenant(tenant).await?;
        let row: Option<(String, bool, Option<Vec<u8>>)> = sqlx::query_as(
            "UPDATE imports SET state = 'running' WHERE id = $1 AND state = 'queued'
             RETURNING kind, dry_run, file",
        )
        .bind(self.import_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some((kind, dry_run, Some(file))) = row else {
            return Err(crate::jobs::Permanent("the import is not queued".into()).into());
        };
        let outcome = self.process(db, tenant, &kind, dry_run, &file).await;
        let (state, report) = match &outcome {
            Ok(report) => ("completed", serde_json::to_value(report)?),
            // The tenant admin reads this: database and internal errors are logged, not shown.
            Err(e @ (ApiError::Database(_) | ApiError::Internal(_))) => {
                tracing::error!(import_id = self.import_id, error = %e, "import failed");
                ("failed", json!({"error": "internal error"}))
            }
            Err(e) => ("failed", json!({"error": e.to_string()})),
        };
        let mut tx = db.tenant(tenant).await?;
        sqlx::query(
            "UPDATE imports SET state = $2, report = $3, file = NULL, finished_at = now()
              WHERE id = $1",
        )
        .bind(self.import_id)
        .bind(state)
        .bind(&report)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        record(
            db,
            tenant,
            self.by,
            &RequestMeta::default(),
            if state == "completed" {
                "import.completed"
            } else {
                "import.failed"
            },
            json!({"id": self.import_id, "type": kind, "dry_run": dry_run}),
        )
        .await
        .map_err(|e| anyhow::anyhow!("audit: {e}"))?;
        outcome
            .map(drop)
            .map_err(|e| anyhow::anyhow!("import {}: {e}", self.import_id))
    }
}

impl ImportFile {
    async fn process(
        &self,
        db: &Db,
        tenant: TenantId,
        kind: &str,
        dry_run: bool,
        file: &[u8],
    ) -> ApiResult<ImportReport> {
        if kind == "oneroster" {
            // One transaction for the whole archive: the progress is all or nothing.
            let archive = oneroster::prepare(file)?;
            let report = oneroster::run(db, tenant, &archive, dry_run).await?;
            let mut tx = db.tenant(tenant).await?;
            sqlx::query("UPDATE imports SET rows_processed = $2, errors_so_far = $3 WHERE id = $1")
                .bind(self.import_id)
                .bind(i32::try_from(report.rows).unwrap_or(i32::MAX))
                .bind(i32::try_from(report.errors_total).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(report);
        }
        let kind =
            ImportKind::parse(kind).ok_or_else(|| ApiError::BadRequest("unknown type".into()))?;
        let mut importer = Importer::new(prepare(kind, file)?, dry_run);
        while !importer.finished() {
            importer.step(db, tenant, CHUNK_ROWS).await?;
            let r = &importer.report;
            let mut tx = db.tenant(tenant).await?;
            sqlx::query("UPDATE imports SET rows_processed = $2, errors_so_far = $3 WHERE id = $1")
                .bind(self.import_id)
                .bind(i32::try_from(r.rows).unwrap_or(i32::MAX))
                .bind(i32::try_from(r.errors_total).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(importer.report)
    }
}
