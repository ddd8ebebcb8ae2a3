//! The corpus: for every rule an unsafe migration that must trigger exactly the expected
//! rules, and a safe one that must lint clean. An unsafe file expects the rule named by
//! its file name (`RULE.sql`, `RULE.2.sql`) unless a `-- expect: a, b` comment lists them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use migration_lint::{lint_paths, lint_sql, render_json, Finding, Linter, Rule};

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    let name = path.file_name().unwrap().to_str().unwrap();
    name.split('.').next().unwrap().to_string()
}

fn lint(path: &Path) -> Vec<Finding> {
    let sql = std::fs::read_to_string(path).unwrap();
    lint_sql(&path.display().to_string(), &sql).unwrap()
}

fn rules_of(findings: &[Finding]) -> BTreeSet<String> {
    findings.iter().map(|f| f.rule.to_string()).collect()
}

#[test]
fn every_rule_has_an_unsafe_and_a_safe_example() {
    let unsafe_stems: BTreeSet<String> = files("unsafe").iter().map(|p| stem(p)).collect();
    let safe_stems: BTreeSet<String> = files("safe").iter().map(|p| stem(p)).collect();
    for rule in Rule::ALL {
        assert!(
            unsafe_stems.contains(rule.id()),
            "no unsafe example for {rule}"
        );
        assert!(safe_stems.contains(rule.id()), "no safe example for {rule}");
    }
    for s in unsafe_stems.iter().chain(&safe_stems) {
        assert!(
            Rule::from_id(s).is_some() || s == "comments-and-strings",
            "corpus file {s} names no rule"
        );
    }
}

#[test]
fn unsafe_examples_trigger_exactly_their_rules() {
    for path in files("unsafe") {
        let sql = std::fs::read_to_string(&path).unwrap();
        let expected: BTreeSet<String> =
            match sql.lines().find_map(|l| l.strip_prefix("-- expect:")) {
                Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
                None => BTreeSet::from([stem(&path)]),
            };
        let found = lint(&path);
        assert_eq!(rules_of(&found), expected, "{}: {found:#?}", path.display());
    }
}

#[test]
fn safe_examples_are_clean() {
    for path in files("safe") {
        let found = lint(&path);
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
    }
}

#[test]
fn findings_point_at_the_statement_not_the_comments_before_it() {
    let found = lint(&corpus("unsafe").join("create-index-not-concurrent.2.sql"));
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].column), (3, 1));
}

#[test]
fn string_literals_do_not_split_statements() {
    let found = lint_sql("x.sql", "SELECT 'a;b'; TRUNCATE users;\n").unwrap();
    let truncate = found.iter().find(|f| f.rule == "truncate").unwrap();
    assert_eq!((truncate.line, truncate.column), (1, 15));
    // The column counts characters, not bytes.
    let found = lint_sql("x.sql", "SELECT 'été'; TRUNCATE users;\n").unwrap();
    let truncate = found.iter().find(|f| f.rule == "truncate").unwrap();
    assert_eq!((truncate.line, truncate.column), (1, 15));
}

#[test]
fn an_allow_only_covers_the_next_statement() {
    let sql = "SET LOCAL lock_timeout = '5s';\n\
               -- k12-lint: allow truncate because report_cache is rebuilt nightly\n\
               TRUNCATE report_cache;\n\
               TRUNCATE users;\n";
    let found = lint_sql("x.sql", sql).unwrap();
    assert_eq!(rules_of(&found), BTreeSet::from(["truncate".to_string()]));
    assert_eq!(found[0].line, 4);
}

#[test]
fn a_parse_error_is_an_error_not_a_finding() {
    let err = lint_sql("bad.sql", "ALTER TABLE users ADD COLUMN;").unwrap_err();
    assert!(
        err.to_string().starts_with("bad.sql: syntax error"),
        "{err}"
    );
}

#[test]
fn set_not_null_is_safe_after_a_check_validated_in_an_earlier_file() {
    let mut linter = Linter::new();
    let t = "SET LOCAL lock_timeout = '5s';\n";
    let a = format!(
        "{t}ALTER TABLE users ADD CONSTRAINT nick_nn CHECK (nickname IS NOT NULL) NOT VALID;\n"
    );
    let b = format!("{t}ALTER TABLE users VALIDATE CONSTRAINT nick_nn;\n");
    let c = format!("{t}ALTER TABLE users ALTER COLUMN nickname SET NOT NULL;\n");
    assert!(linter.lint_source("a.sql", &a).unwrap().is_empty());
    assert!(linter.lint_source("b.sql", &b).unwrap().is_empty());
    assert!(linter.lint_source("c.sql", &c).unwrap().is_empty());
    // Without the validation the same statement is a finding.
    let mut fresh = Linter::new();
    assert!(fresh.lint_source("a.sql", &a).unwrap().is_empty());
    let found = fresh.lint_source("c.sql", &c).unwrap();
    assert_eq!(
        rules_of(&found),
        BTreeSet::from(["set-not-null".to_string()])
    );
}

#[test]
fn json_output_has_exactly_the_documented_fields() {
    let report = lint_paths(&[corpus("unsafe").join("truncate.sql")]).unwrap();
    let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let obj = list[0].as_object().unwrap();
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["file", "line", "column", "rule", "message", "suggestion"])
    );
    assert_eq!(obj["rule"], "truncate");
    assert_eq!(obj["line"], 2);
    assert_eq!(obj["column"], 1);
}

/// The repository's own migrations lint clean (the already-applied ones through the
/// baseline file, which must only name files that exist).
#[test]
fn repository_migrations_are_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    let report = lint_paths(std::slice::from_ref(&dir)).unwrap();
    assert!(report.files.len() >= 6);
    assert!(
        report.findings.is_empty(),
        "{}",
        migration_lint::render_text(&report)
    );
    let baseline =
        std::fs::read_to_string(dir.join(migration_lint::BASELINE_FILE)).unwrap_or_default();
    for name in baseline
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
    {
        assert!(
            dir.join(name).is_file(),
            "baseline names missing file {name}"
        );
    }
}

#[test]
fn an_allow_inside_a_string_literal_allows_nothing() {
    let sql = "SET LOCAL lock_timeout = '5s';\n\
               SELECT '-- k12-lint: allow truncate because it is only text';\n\
               TRUNCATE users;\n";
    let found = lint_sql("x.sql", sql).unwrap();
    assert_eq!(rules_of(&found), BTreeSet::from(["truncate".to_string()]));
}

/// The README's rule table is generated from the rules, so it cannot drift.
#[test]
fn readme_has_the_rule_table() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let table = migration_lint::rules_markdown();
    if !readme.contains(&table) {
        std::fs::write(std::env::temp_dir().join("k12-lint-rules.md"), &table).unwrap();
        panic!("README.md lacks the current rule table (written to $TMPDIR/k12-lint-rules.md)");
    }
}
