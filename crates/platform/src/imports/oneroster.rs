//! OneRoster 1.1 CSV archives (spec 08, "Data import"): a zip of `manifest.csv` and the
//! roster files, mapped onto our model and keyed by `sourcedId` (`oneroster_sources`).
//!
//! The archive goes through the attachments' zip checks ([`check_zip`]) first; then
//! everything that makes it unusable is a 400 before anything is written (no manifest,
//! a wrong version, a file the manifest lists but the archive lacks, a missing required
//! column, bytes that are not UTF-8). Rows are then applied in dependency order (orgs,
//! academicSessions, courses, classes, users, enrollments) in one transaction; a bad or
//! dangling row is reported `{file, row, column, message}` and the good rows go in.
//!
//! The mapping (README "OneRoster"): every org is the tenant's one school (orgs are
//! remembered so that references to them can be checked, nothing else is created);
//! `schoolYear` sessions are academic years, `term`/`semester`/`gradingPeriod` sessions
//! are terms of the year their `parentSourcedId` names; courses are courses; classes are
//! sections of their course (in the first of their terms); users are users
//! with the role of [`platform_role`]; enrollments are enrollments with the role of
//! [`enrollment_role`]. In a delta file a `tobedeleted` row deactivates a user, archives
//! a course, deletes a class (its section) or an enrollment; sessions and orgs are kept.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use chrono::NaiveDate;
use roster::{Columns, Records};

use super::{ImportReport, RowError};
use crate::attachments::inspect::{check_zip, Refusal, ZipLimits};
use crate::db::{Db, TenantId, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::identity::Email;

/// How the manifest says a file is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Bulk,
    Delta,
}

/// A roster file of the archive: its name, mode, required and optional columns.
struct Spec {
    name: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

/// The files we import, in the order they are applied, with the columns OneRoster 1.1
/// requires (`status` and `dateLastModified` are required in delta files only).
const FILES: &[Spec] = &[
    Spec {
        name: "orgs",
        required: &["sourcedId", "name", "type"],
        optional: &[
            "status",
            "dateLastModified",
            "identifier",
            "parentSourcedId",
        ],
    },
    Spec {
        name: "academicSessions",
        required: &[
            "sourcedId",
            "title",
            "type",
            "startDate",
            "endDate",
            "schoolYear",
        ],
        optional: &["status", "dateLastModified", "parentSourcedId"],
    },
    Spec {
        name: "courses",
        required: &["sourcedId", "title", "orgSourcedId"],
        optional: &[
            "status",
            "dateLastModified",
            "schoolYearSourcedId",
            "courseCode",
        ],
    },
    Spec {
        name: "classes",
        required: &[
            "sourcedId",
            "title",
            "courseSourcedId",
            "classType",
            "schoolSourcedId",
            "termSourcedIds",
        ],
        optional: &["status", "dateLastModified", "classCode"],
    },
    Spec {
        name: "users",
        required: &[
            "sourcedId",
            "enabledUser",
            "orgSourcedIds",
            "role",
            "username",
            "givenName",
            "familyName",
        ],
        optional: &["status", "dateLastModified", "email"],
    },
    Spec {
        name: "enrollments",
        required: &[
            "sourcedId",
            "classSourcedId",
            "schoolSourcedId",
            "userSourcedId",
            "role",
        ],
        optional: &["status", "dateLastModified"],
    },
];

/// Our platform role for a OneRoster user role (README "OneRoster").
pub fn platform_role(role: &str) -> Option<&'static str> {
    Some(match role.to_ascii_lowercase().as_str() {
        "administrator" => "admin",
        "teacher" | "aide" | "proctor" => "teacher",
        "student" => "student",
        "parent" | "guardian" | "relative" => "guardian",
        _ => return None,
    })
}

/// Our enrollment role for a OneRoster enrollment role.
pub fn enrollment_role(role: &str) -> Option<&'static str> {
    Some(match role.to_ascii_lowercase().as_str() {
        "teacher" => "teacher",
        "student" => "student",
        "aide" | "proctor" => "ta",
        "administrator" | "parent" | "guardian" | "relative" => "observer",
        _ => return None,
    })
}

/// One roster file that passed the checks made before anything is written.
struct File {
    spec: &'static Spec,
    mode: Mode,
    text: String,
    columns: Columns,
}

/// An archive that passed the checks made before anything is written.
pub struct Archive {
    files: Vec<File>,
}

impl Archive {
    /// Data rows of the files to import.
    pub fn rows(&self) -> usize {
        self.files
            .iter()
            .map(|f| Records::new(&f.text).skip(1).count())
            .sum()
    }
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// Reads one entry of the archive (already size-checked) as UTF-8 text.
fn entry_text(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> ApiResult<String> {
    let mut entry = archive
        .by_name(name)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
    entry
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "{name} is not UTF-8 text (invalid bytes at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Parses a CSV header and matches the columns (case-insensitive), or a 400.
fn header(name: &str, text: &str, required: &[&str], optional: &[&str]) -> ApiResult<Columns> {
    let first = match Records::new(text).next() {
        None => return Err(bad(format!("{name} is empty"))),
        Some(Err(e)) => {
            return Err(bad(format!(
                "{name}: the header (line {}) is not valid CSV: {}",
                e.line, e.message
            )))
        }
        Some(Ok(h)) => h,
    };
    Columns::match_header(&first.fields, required, optional).map_err(|missing| {
        bad(format!(
            "{name}: missing required column(s): {}",
            missing.join(", ")
        ))
    })
}

/// Checks the archive as a whole: a safe zip, the manifest and its versions, every file
/// the manifest lists as `bulk` or `delta` present with its required columns.
pub fn prepare(bytes: &[u8]) -> ApiResult<Archive> {
    let mut archive = check_zip(Cursor::new(bytes), ZipLimits::default()).map_err(|r| match r {
        Refusal::Type(m) | Refusal::Invalid(m) => bad(m),
    })?;
    if archive.index_for_name("manifest.csv").is_none() {
        return Err(bad("the archive has no manifest.csv"));
    }
    let manifest = entry_text(&mut archive, "manifest.csv")?;
    let cols = header("manifest.csv", &manifest, &["propertyName", "value"], &[])?;
    let mut props = HashMap::new();
    for record in Records::new(&manifest).skip(1) {
        let r = record.map_err(|e| bad(format!("manifest.csv line {}: {}", e.line, e.message)))?;
        props.insert(
            cols.get(&r.fields, 0).trim().to_string(),
            cols.get(&r.fields, 1).trim().to_ascii_lowercase(),
        );
    }
    // OneRoster 1.1's manifest format is version 1.0.
    match props.get("manifest.version").map(String::as_str) {
        Some("1.0") => {}
        other => {
            return Err(bad(format!(
                "manifest.csv: manifest.version must be 1.0 (found {})",
                other.unwrap_or("nothing")
            )))
        }
    }
    match props.get("oneroster.version").map(String::as_str) {
        Some("1.1") => {}
        other => {
            return Err(bad(format!(
                "manifest.csv: oneroster.version must be 1.1 (found {})",
                other.unwrap_or("nothing")
            )))
        }
    }
    let mut files = Vec::new();
    for spec in FILES {
        let mode = match props
            .get(&format!("file.{}", spec.name))
            .map(String::as_str)
        {
            None | Some("absent") => continue,
            Some("bulk") => Mode::Bulk,
            Some("delta") => Mode::Delta,
            Some(other) => {
                return Err(bad(format!(
                    "manifest.csv: file.{} must be bulk, delta or absent (found {other})",
                    spec.name
                )))
            }
        };
        let name = format!("{}.csv", spec.name);
        if archive.index_for_name(&name).is_none() {
            return Err(bad(format!(
                "the manifest lists {name} but the archive has no such file"
            )));
        }
        let text = entry_text(&mut archive, &name)?;
        let mut required: Vec<&str> = spec.required.to_vec();
        let mut optional: Vec<&str> = spec.optional.to_vec();
        if mode == Mode::Delta {
            optional.retain(|c| !matches!(*c, "status" | "dateLastModified"));
            required.extend(["status", "dateLastModified"]);
        }
        let columns = header(&name, &text, &required, &optional)?;
        files.push(File {
            spec,
            mode,
            text,
            columns,
        });
    }
    Ok(Archive { files })
}

/// A row's fields by column name.
struct Row<'a> {
    file: &'a File,
    fields: &'a [String],
    line: usize,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        let (req, opt) = (self.file.spec.required, self.file.spec.optional);
        let mut names: Vec<&str> = req.to_vec();
        let mut rest: Vec<&str> = opt.to_vec();
        if self.file.mode == Mode::Delta {
            rest.retain(|c| !matches!(*c, "status" | "dateLastModified"));
            names.extend(["status", "dateLastModified"]);
        }
        names.extend(rest);
        names
            .iter()
            .position(|c| *c == column)
            .map(|i| self.file.columns.get(self.fields, i).trim())
            .unwrap_or("")
    }
}

type RowResult<T> = Result<T, (&'static str, String)>;

fn required<'r>(row: &'r Row<'_>, column: &'static str) -> RowResult<&'r str> {
    let v = row.get(column);
    if v.is_empty() {
        Err((column, "is required".into()))
    } else if v.contains('\0') {
        Err((column, "must not contain the NUL character".into()))
    } else if v.chars().count() > 255 && column.ends_with("Id") {
        Err((column, "must be at most 255 characters".into()))
    } else {
        Ok(v)
    }
}

fn text(v: &str, column: &'static str, max: usize) -> RowResult<String> {
    if v.chars().count() > max {
        Err((column, format!("must be at most {max} characters")))
    } else if v.contains('\0') {
        Err((column, "must not contain the NUL character".into()))
    } else {
        Ok(v.to_string())
    }
}

fn date(row: &Row<'_>, column: &'static str) -> RowResult<NaiveDate> {
    NaiveDate::parse_from_str(required(row, column)?, "%Y-%m-%d")
        .map_err(|_| (column, "must be a date YYYY-MM-DD".into()))
}

/// What applying one row did.
enum Outcome {
    Created,
    Updated,
    Skipped,
}

/// The mapped target of a `sourcedId`, if it still exists.
async fn target(tx: &mut TenantTx, kind: &str, source: &str) -> ApiResult<Option<i64>> {
    let table = match kind {
        "org" => "schools",
        "year" => "academic_years",
        "term" => "terms",
        "course" => "courses",
        "class" => "sections",
        "user" => "users",
        _ => "enrollments",
    };
    let sql = format!(
        "SELECT s.target_id FROM oneroster_sources s JOIN {table} t ON t.id = s.target_id
          WHERE s.kind = $1 AND s.source_id = $2"
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(kind)
        .bind(source)
        .fetch_optional(&mut **tx)
        .await?)
}

async fn remember(tx: &mut TenantTx, kind: &str, source: &str, id: i64) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO oneroster_sources (tenant_id, kind, source_id, target_id)
         VALUES (current_tenant_id(), $1, $2, $3)
         ON CONFLICT (tenant_id, kind, source_id) DO UPDATE SET target_id = EXCLUDED.target_id",
    )
    .bind(kind)
    .bind(source)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn forget(tx: &mut TenantTx, kind: &str, source: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM oneroster_sources WHERE kind = $1 AND source_id = $2")
        .bind(kind)
        .bind(source)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A reference to another record: its target or a row error naming the column.
async fn reference(
    tx: &mut TenantTx,
    kind: &str,
    source: &str,
    column: &'static str,
) -> ApiResult<RowResult<i64>> {
    Ok(match target(tx, kind, source).await? {
        Some(id) => Ok(id),
        None => Err((column, format!("no {kind} with sourcedId {source:?}"))),
    })
}

/// Imports a prepared archive in one transaction (rolled back in a dry run).
pub async fn run(
    db: &Db,
    tenant: TenantId,
    archive: &Archive,
    dry_run: bool,
) -> ApiResult<ImportReport> {
    let mut report = ImportReport {
        dry_run,
        ..Default::default()
    };
    let mut tx = db.tenant(tenant).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('k12.import'), (current_tenant_id() % 2147483647)::int)")
        .execute(&mut *tx)
        .await?;
    let school: Option<i64> = sqlx::query_scalar("SELECT min(id) FROM schools")
        .fetch_one(&mut *tx)
        .await?;
    let school = school.ok_or_else(|| ApiError::Conflict {
        code: "no_school",
        message: "the tenant has no school".into(),
    })?;
    for file in &archive.files {
        let name = format!("{}.csv", file.spec.name);
        let mut rows: Vec<(usize, Vec<String>)> = Vec::new();
        for record in Records::new(&file.text).skip(1) {
            report.rows += 1;
            match record {
                Ok(r) => rows.push((r.line, r.fields)),
                Err(e) => report.error(RowError {
                    file: name.clone(),
                    row: e.line,
                    column: String::new(),
                    message: e.message,
                }),
            }
        }
        // School years before the terms that name them.
        if file.spec.name == "academicSessions" {
            rows.sort_by_key(|(line, fields)| {
                let row = Row {
                    file,
                    fields,
                    line: *line,
                };
                (!row.get("type").eq_ignore_ascii_case("schoolYear"), *line)
            });
        }
        for (line, fields) in &rows {
            let row = Row {
                file,
                fields,
                line: *line,
            };
            match apply(&mut tx, &row, school).await? {
                Ok(Outcome::Created) => report.created += 1,
                Ok(Outcome::Updated) => report.updated += 1,
                Ok(Outcome::Skipped) => report.skipped += 1,
                Err((column, message)) => report.error(RowError {
                    file: name.clone(),
                    row: row.line,
                    column: column.to_string(),
                    message,
                }),
            }
        }
    }
    report
        .errors
        .sort_by(|a, b| (a.file.as_str(), a.row).cmp(&(b.file.as_str(), b.row)));
    if !dry_run {
        tx.commit().await?;
    }
    Ok(report)
}

/// Applies one row: created, updated, skipped or a row error.
async fn apply(tx: &mut TenantTx, row: &Row<'_>, school: i64) -> ApiResult<RowResult<Outcome>> {
    let source = match required(row, "sourcedId") {
        Ok(s) => s.to_string(),
        Err(e) => return Ok(Err(e)),
    };
    let deleted = match (
        row.file.mode,
        row.get("status").to_ascii_lowercase().as_str(),
    ) {
        (_, "" | "active") => false,
        (Mode::Delta, "tobedeleted") => true,
        (Mode::Bulk, "tobedeleted") => {
            return Ok(Err((
                "status",
                "tobedeleted is only applied in a delta file".into(),
            )))
        }
        _ => return Ok(Err(("status", "must be active or tobedeleted".into()))),
    };
    match row.file.spec.name {
        "orgs" => org(tx, row, &source, deleted, school).await,
        "academicSessions" => session(tx, row, &source, deleted).await,
        "courses" => course(tx, row, &source, deleted).await,
        "classes" => class(tx, row, &source, deleted).await,
        "users" => user(tx, row, &source, deleted).await,
        _ => enrollment(tx, row, &source, deleted).await,
    }
}

macro_rules! row_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// Orgs are the tenant's school: remembered so that references can be checked.
async fn org(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
    school: i64,
) -> ApiResult<RowResult<Outcome>> {
    row_try!(required(row, "name"));
    row_try!(required(row, "type"));
    if deleted {
        return Ok(Ok(Outcome::Skipped));
    }
    if target(tx, "org", source).await?.is_some() {
        return Ok(Ok(Outcome::Skipped));
    }
    remember(tx, "org", source, school).await?;
    Ok(Ok(Outcome::Created))
}

async fn session(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
) -> ApiResult<RowResult<Outcome>> {
    let title = row_try!(required(row, "title").and_then(|t| text(t, "title", 100)));
    let kind = row_try!(required(row, "type")).to_ascii_lowercase();
    let (start, end) = (
        row_try!(date(row, "startDate")),
        row_try!(date(row, "endDate")),
    );
    row_try!(required(row, "schoolYear"));
    if end <= start {
        return Ok(Err(("endDate", "must be after startDate".into())));
    }
    if deleted {
        return Ok(Ok(Outcome::Skipped));
    }
    match kind.as_str() {
        "schoolyear" => {
            if let Some(id) = target(tx, "year", source).await? {
                let n = sqlx::query(
                    "UPDATE academic_years SET name = $2, start_date = $3, end_date = $4
                      WHERE id = $1 AND (name, start_date, end_date) IS DISTINCT FROM ($2, $3, $4)",
                )
                .bind(id)
                .bind(&title)
                .bind(start)
                .bind(end)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                return Ok(Ok(if n > 0 {
                    Outcome::Updated
                } else {
                    Outcome::Skipped
                }));
            }
            // A year of the same name (made by provisioning, say) is linked, not repeated.
            let existing: Option<i64> =
                sqlx::query_scalar("SELECT id FROM academic_years WHERE name = $1")
                    .bind(&title)
                    .fetch_optional(&mut **tx)
                    .await?;
            let (id, outcome) = match existing {
                Some(id) => (id, Outcome::Updated),
                None => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO academic_years (tenant_id, name, start_date, end_date)
                         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
                    )
                    .bind(&title)
                    .bind(start)
                    .bind(end)
                    .fetch_one(&mut **tx)
                    .await?;
                    (id, Outcome::Created)
                }
            };
            remember(tx, "year", source, id).await?;
            Ok(Ok(outcome))
        }
        "term" | "semester" | "gradingperiod" => {
            let parent = row.get("parentSourcedId");
            if parent.is_empty() {
                return Ok(Err((
                    "parentSourcedId",
                    "a term must name its schoolYear session".into(),
                )));
            }
            let year = row_try!(reference(tx, "year", parent, "parentSourcedId").await?);
            if let Some(id) = target(tx, "term", source).await? {
                let n = sqlx::query(
                    "UPDATE terms SET name = $2, start_date = $3, end_date = $4, academic_year_id = $5
                      WHERE id = $1 AND (name, start_date, end_date, academic_year_id)
                            IS DISTINCT FROM ($2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&title)
                .bind(start)
                .bind(end)
                .bind(year)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                return Ok(Ok(if n > 0 {
                    Outcome::Updated
                } else {
                    Outcome::Skipped
                }));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO terms (tenant_id, academic_year_id, name, start_date, end_date)
                 VALUES (current_tenant_id(), $1, $2, $3, $4) RETURNING id",
            )
            .bind(year)
            .bind(&title)
            .bind(start)
            .bind(end)
            .fetch_one(&mut **tx)
            .await?;
            remember(tx, "term", source, id).await?;
            Ok(Ok(Outcome::Created))
        }
        _ => Ok(Err((
            "type",
            "must be schoolYear, term, semester or gradingPeriod".into(),
        ))),
    }
}

async fn course(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
) -> ApiResult<RowResult<Outcome>> {
    let title = row_try!(required(row, "title").and_then(|t| text(t, "title", 200)));
    let code = row_try!(text(row.get("courseCode"), "courseCode", 50));
    let org = row_try!(required(row, "orgSourcedId"));
    row_try!(reference(tx, "org", org, "orgSourcedId").await?);
    let year_source = row.get("schoolYearSourcedId");
    let year = if year_source.is_empty() {
        None
    } else {
        Some(row_try!(
            reference(tx, "year", year_source, "schoolYearSourcedId").await?
        ))
    };
    let existing = target(tx, "course", source).await?;
    if deleted {
        let Some(id) = existing else {
            return Ok(Ok(Outcome::Skipped));
        };
        let n = sqlx::query(
            "UPDATE courses SET archived_at = now() WHERE id = $1 AND archived_at IS NULL",
        )
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        return Ok(Ok(if n > 0 {
            Outcome::Updated
        } else {
            Outcome::Skipped
        }));
    }
    if let Some(id) = existing {
        let n = sqlx::query(
            "UPDATE courses SET name = $2, code = $3, academic_year_id = $4, archived_at = NULL
              WHERE id = $1 AND (name, code, academic_year_id, archived_at)
                    IS DISTINCT FROM ($2, $3, $4, NULL::timestamptz)",
        )
        .bind(id)
        .bind(&title)
        .bind(&code)
        .bind(year)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        return Ok(Ok(if n > 0 {
            Outcome::Updated
        } else {
            Outcome::Skipped
        }));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO courses (tenant_id, name, code, academic_year_id)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
    )
    .bind(&title)
    .bind(&code)
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    remember(tx, "course", source, id).await?;
    Ok(Ok(Outcome::Created))
}

async fn class(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
) -> ApiResult<RowResult<Outcome>> {
    let title = row_try!(required(row, "title").and_then(|t| text(t, "title", 200)));
    let class_type = row_try!(required(row, "classType")).to_ascii_lowercase();
    if !matches!(class_type.as_str(), "homeroom" | "scheduled") {
        return Ok(Err(("classType", "must be homeroom or scheduled".into())));
    }
    let school = row_try!(required(row, "schoolSourcedId"));
    row_try!(reference(tx, "org", school, "schoolSourcedId").await?);
    let course_source = row_try!(required(row, "courseSourcedId"));
    let course = row_try!(reference(tx, "course", course_source, "courseSourcedId").await?);
    let terms = row_try!(required(row, "termSourcedIds"));
    // Every listed term must be known; the section is in the first.
    let mut term = None;
    for t in terms.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let id = row_try!(reference(tx, "term", t, "termSourcedIds").await?);
        term.get_or_insert(id);
    }
    let existing = target(tx, "class", source).await?;
    if deleted {
        let Some(id) = existing else {
            return Ok(Ok(Outcome::Skipped));
        };
        sqlx::query("DELETE FROM sections WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        forget(tx, "class", source).await?;
        return Ok(Ok(Outcome::Updated));
    }
    if let Some(id) = existing {
        let moved: Option<i64> =
            sqlx::query_scalar("SELECT course_id FROM sections WHERE id = $1 AND course_id <> $2")
                .bind(id)
                .bind(course)
                .fetch_optional(&mut **tx)
                .await?;
        if moved.is_some() {
            return Ok(Err((
                "courseSourcedId",
                "a class cannot move to another course".into(),
            )));
        }
        let n = sqlx::query(
            "UPDATE sections SET name = $2, term_id = $3
              WHERE id = $1 AND (name, term_id) IS DISTINCT FROM ($2, $3)",
        )
        .bind(id)
        .bind(&title)
        .bind(term)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        return Ok(Ok(if n > 0 {
            Outcome::Updated
        } else {
            Outcome::Skipped
        }));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sections (tenant_id, course_id, term_id, name)
         VALUES (current_tenant_id(), $1, $2, $3) RETURNING id",
    )
    .bind(course)
    .bind(term)
    .bind(&title)
    .fetch_one(&mut **tx)
    .await?;
    remember(tx, "class", source, id).await?;
    Ok(Ok(Outcome::Created))
}

async fn user(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
) -> ApiResult<RowResult<Outcome>> {
    let role = row_try!(required(row, "role"));
    let Some(role) = platform_role(role) else {
        return Ok(Err((
            "role",
            "must be administrator, teacher, aide, proctor, student, parent, guardian or relative"
                .into(),
        )));
    };
    row_try!(required(row, "username"));
    let first = row_try!(required(row, "givenName").and_then(|t| text(t, "givenName", 100)));
    let last = row_try!(required(row, "familyName").and_then(|t| text(t, "familyName", 100)));
    let enabled = match row_try!(required(row, "enabledUser"))
        .to_ascii_lowercase()
        .as_str()
    {
        "true" => true,
        "false" => false,
        _ => return Ok(Err(("enabledUser", "must be true or false".into()))),
    };
    let orgs = row_try!(required(row, "orgSourcedIds"));
    for o in orgs.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        row_try!(reference(tx, "org", o, "orgSourcedIds").await?);
    }
    // Our accounts are keyed by email: a user without one cannot be imported.
    let email = match Email::parse(row.get("email")) {
        Ok(e) => e,
        Err(m) => return Ok(Err(("email", m))),
    };
    let active = enabled && !deleted;
    let existing = match target(tx, "user", source).await? {
        Some(id) => Some(id),
        None => {
            sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
                .bind(email.as_str())
                .fetch_optional(&mut **tx)
                .await?
        }
    };
    if deleted && existing.is_none() {
        return Ok(Ok(Outcome::Skipped));
    }
    let (id, mut outcome) = match existing {
        Some(id) => {
            let n = sqlx::query(
                "UPDATE users SET first_name = $2, last_name = $3,
                        disabled_at = CASE WHEN $4 THEN NULL ELSE coalesce(disabled_at, now()) END
                  WHERE id = $1 AND ((first_name, last_name) IS DISTINCT FROM ($2, $3)
                                     OR (disabled_at IS NULL) <> $4)",
            )
            .bind(id)
            .bind(&first)
            .bind(&last)
            .bind(active)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            (
                id,
                if n > 0 {
                    Outcome::Updated
                } else {
                    Outcome::Skipped
                },
            )
        }
        None => {
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO users (tenant_id, email, first_name, last_name, disabled_at)
                 VALUES (current_tenant_id(), $1, $2, $3, CASE WHEN $4 THEN NULL ELSE now() END)
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(email.as_str())
            .bind(&first)
            .bind(&last)
            .bind(active)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(id) = id else {
                return Ok(Err((
                    "email",
                    "another user of the school has this email".into(),
                )));
            };
            (id, Outcome::Created)
        }
    };
    remember(tx, "user", source, id).await?;
    if !deleted {
        let granted = sqlx::query(
            "INSERT INTO user_roles (tenant_id, user_id, role_id)
             SELECT current_tenant_id(), $1, id FROM roles WHERE name = $2
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(role)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if granted > 0 && matches!(outcome, Outcome::Skipped) {
            outcome = Outcome::Updated;
        }
    }
    Ok(Ok(outcome))
}

async fn enrollment(
    tx: &mut TenantTx,
    row: &Row<'_>,
    source: &str,
    deleted: bool,
) -> ApiResult<RowResult<Outcome>> {
    let role = row_try!(required(row, "role"));
    let Some(role) = enrollment_role(role) else {
        return Ok(Err((
            "role",
            "must be teacher, student, aide, proctor, administrator, parent, guardian or relative"
                .into(),
        )));
    };
    let school = row_try!(required(row, "schoolSourcedId"));
    row_try!(reference(tx, "org", school, "schoolSourcedId").await?);
    let class_source = row_try!(required(row, "classSourcedId"));
    let user_source = row_try!(required(row, "userSourcedId"));
    let existing = target(tx, "enrollment", source).await?;
    if deleted {
        let Some(id) = existing else {
            return Ok(Ok(Outcome::Skipped));
        };
        sqlx::query("DELETE FROM enrollments WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        forget(tx, "enrollment", source).await?;
        return Ok(Ok(Outcome::Updated));
    }
    let section = row_try!(reference(tx, "class", class_source, "classSourcedId").await?);
    let user = row_try!(reference(tx, "user", user_source, "userSourcedId").await?);
    if let Some(id) = existing {
        let n = sqlx::query(
            "UPDATE enrollments SET role = $2 WHERE id = $1 AND role <> $2
                AND user_id = $3 AND section_id = $4",
        )
        .bind(id)
        .bind(role)
        .bind(user)
        .bind(section)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        let same: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM enrollments WHERE id = $1 AND user_id = $2 AND section_id = $3)",
        )
        .bind(id)
        .bind(user)
        .bind(section)
        .fetch_one(&mut **tx)
        .await?;
        if !same {
            return Ok(Err((
                "classSourcedId",
                "an enrollment cannot move to another user or class".into(),
            )));
        }
        return Ok(Ok(if n > 0 {
            Outcome::Updated
        } else {
            Outcome::Skipped
        }));
    }
    let (id, inserted): (i64, bool) = sqlx::query_as(
        "INSERT INTO enrollments (tenant_id, user_id, section_id, course_id, role)
         SELECT current_tenant_id(), $1, s.id, s.course_id, $3 FROM sections s WHERE s.id = $2
         ON CONFLICT (tenant_id, user_id, section_id) DO UPDATE SET role = EXCLUDED.role
         RETURNING id, (xmax = 0)",
    )
    .bind(user)
    .bind(section)
    .bind(role)
    .fetch_one(&mut **tx)
    .await?;
    remember(tx, "enrollment", source, id).await?;
    Ok(Ok(if inserted {
        Outcome::Created
    } else {
        Outcome::Updated
    }))
}
