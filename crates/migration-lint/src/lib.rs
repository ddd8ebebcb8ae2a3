//! A linter for PostgreSQL migration files, pure logic without I/O besides reading the
//! files it is given.
//!
//! Statements are parsed by PostgreSQL's own parser (libpg_query, through the `pg_query`
//! crate), so comments and string literals never trigger or hide a rule. The linter knows
//! how sqlx's migrator runs a file: in one transaction, unless the file's first bytes are
//! `-- no-transaction`, in which case the whole file is sent as one simple query (which
//! PostgreSQL still runs as one implicit transaction when it has several statements).
//!
//! A statement is allowed with a comment right before it:
//! `-- k12-lint: allow RULE[, RULE] because REASON`. The rules and their ids are in
//! [`Rule`]; README.md has the table.

mod check;
mod rules;
mod source;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use rules::Rule;
pub use source::NO_TRANSACTION_MARKER;

use check::{FileCheck, History, Wrapping};
use source::{Comment, Directive, LineIndex};

/// The name of the optional baseline file in a migrations directory: one file name per
/// line (`#` starts a comment). Findings in those files are not reported, because the
/// files are already applied on deployments and sqlx checksums them, so they can no
/// longer be changed, not even a comment.
pub const BASELINE_FILE: &str = "lint-baseline.txt";

/// One finding. Serialises to `{"file","line","column","rule","message","suggestion"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub file: String,
    /// 1-based line of the statement's (or comment's) first character.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub rule: &'static str,
    pub message: String,
    pub suggestion: &'static str,
}

/// Why linting could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}: syntax error: {message}")]
    Parse { file: String, message: String },
}

/// The result of linting a set of files.
#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Files linted, in order.
    pub files: Vec<String>,
    /// Files whose findings the baseline suppressed, with how many.
    pub baselined: Vec<(String, usize)>,
}

/// Lints files in migration order, carrying what earlier files did (validated NOT NULL
/// checks) into later ones.
#[derive(Debug, Default)]
pub struct Linter {
    history: History,
}

impl Linter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lints one file's text; `file` names it in the findings.
    pub fn lint_source(&mut self, file: &str, sql: &str) -> Result<Vec<Finding>, Error> {
        let parsed = source::parse(sql).map_err(|message| Error::Parse {
            file: file.to_string(),
            message,
        })?;
        let lines = LineIndex::new(sql);
        let at = |offset: usize| lines.position(sql, offset);
        let mut findings = Vec::new();
        let mut push = |offset: usize, rule: Rule, message: String| {
            let (line, column) = at(offset);
            findings.push(Finding {
                file: file.to_string(),
                line,
                column,
                rule: rule.id(),
                message,
                suggestion: rule.suggestion(),
            });
        };

        let wrapping = Wrapping {
            wrapped: !sql.starts_with(NO_TRANSACTION_MARKER),
            multi_statement: parsed.statements.len() > 1,
        };
        for c in &parsed.all_comments {
            let body = c
                .text
                .trim_start_matches("--")
                .trim_start_matches("/*")
                .trim()
                .to_ascii_lowercase();
            if body.starts_with("no-transaction")
                && !(c.start == 0 && sql.starts_with(NO_TRANSACTION_MARKER))
            {
                push(
                    c.start,
                    Rule::NoTransactionMarkerMisplaced,
                    "sqlx ignores this no-transaction marker (it must be the file's first bytes, exactly `-- no-transaction`): the file runs in a transaction".into(),
                );
            }
        }

        let mut check = FileCheck::new(&mut self.history, wrapping);
        for stmt in &parsed.statements {
            let allows = directives(&stmt.leading_comments, &mut push);
            let mut hits = check.statement(&stmt.node);
            let mut used = HashSet::new();
            hits.retain(|(rule, _)| {
                if allows.iter().any(|(_, rules)| rules.contains(rule)) {
                    used.insert(*rule);
                    false
                } else {
                    true
                }
            });
            for (comment, rules) in &allows {
                for rule in rules.iter().filter(|r| !used.contains(r)) {
                    push(
                        comment.start,
                        Rule::UnusedAllow,
                        format!("allow {rule} does not match a finding on the next statement"),
                    );
                }
            }
            for (rule, message) in hits {
                push(stmt.start, rule, message);
            }
        }
        for (comment, rules) in directives(&parsed.trailing_comments, &mut push) {
            for rule in rules {
                push(
                    comment.start,
                    Rule::UnusedAllow,
                    format!("allow {rule} is not followed by any statement"),
                );
            }
        }
        findings.sort_by_key(|f| (f.line, f.column));
        Ok(findings)
    }
}

/// The allow directives among `comments`; malformed ones become findings.
fn directives<'c>(
    comments: &'c [Comment],
    push: &mut impl FnMut(usize, Rule, String),
) -> Vec<(&'c Comment, Vec<Rule>)> {
    let mut allows = Vec::new();
    for c in comments {
        match source::directive(&c.text) {
            Some(Directive::Allow { rules }) => allows.push((c, rules)),
            Some(Directive::Bad { rule, message }) => push(c.start, rule, message),
            None => {}
        }
    }
    allows
}

/// Lints one file's text on its own.
pub fn lint_sql(file: &str, sql: &str) -> Result<Vec<Finding>, Error> {
    Linter::new().lint_source(file, sql)
}

/// The version prefix sqlx orders migrations by (`0007` in `0007_name.sql`).
fn version_of(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    name.split_once('_')?.0.parse().ok()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a directory's baseline file, if any.
fn read_baseline(dir: &Path) -> Result<HashSet<String>, Error> {
    let path = dir.join(BASELINE_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Lints files and directories (every `*.sql` in a directory, in sqlx's version order,
/// honouring the directory's baseline file).
pub fn lint_paths(paths: &[PathBuf]) -> Result<Report, Error> {
    let mut report = Report::default();
    let mut linter = Linter::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(io(path))?;
        let (files, baseline) = if meta.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io(path))? {
                let p = entry.map_err(io(path))?.path();
                if p.is_file() && p.extension().is_some_and(|e| e == "sql") {
                    files.push(p);
                }
            }
            files.sort_by(|a, b| (version_of(a), a).cmp(&(version_of(b), b)));
            (files, read_baseline(path)?)
        } else {
            (vec![path.clone()], HashSet::new())
        };
        for file in files {
            let sql = std::fs::read_to_string(&file).map_err(io(&file))?;
            let name = file.display().to_string();
            let findings = linter.lint_source(&name, &sql)?;
            let base = file
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| baseline.contains(n));
            if base {
                report.baselined.push((name.clone(), findings.len()));
            } else {
                report.findings.extend(findings);
            }
            report.files.push(name);
        }
    }
    Ok(report)
}

/// Renders the findings for a terminal: `file:line:column: rule: message`, the suggestion
/// indented below, and a summary line.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let _ = writeln!(
            out,
            "{}:{}:{}: {}: {}\n    fix: {}",
            f.file, f.line, f.column, f.rule, f.message, f.suggestion
        );
    }
    for (file, n) in &report.baselined {
        if *n > 0 {
            let _ = writeln!(
                out,
                "{file}: {n} finding(s) not reported (listed in {BASELINE_FILE}: already applied)"
            );
        }
    }
    let _ = writeln!(
        out,
        "{} finding(s) in {} file(s)",
        report.findings.len(),
        report.files.len()
    );
    out
}

/// Renders the findings as a JSON array.
pub fn render_json(report: &Report) -> String {
    serde_json::to_string_pretty(&report.findings).unwrap_or_else(|_| "[]".into())
}

/// The README table of rules (markdown), generated from the rules themselves.
pub fn rules_markdown() -> String {
    let mut out =
        String::from("| rule | what it catches | safe alternative |\n| --- | --- | --- |\n");
    for r in Rule::ALL {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            r.id(),
            r.catches().replace('|', "\\|"),
            r.suggestion().replace('|', "\\|")
        );
    }
    out
}
