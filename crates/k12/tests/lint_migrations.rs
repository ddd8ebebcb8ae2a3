//! `k12 lint-migrations`: exit codes, text and JSON output, the default directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const K12: &str = env!("CARGO_BIN_EXE_k12");

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migration-lint/tests/corpus")
        .join(rel)
}

fn lint(args: &[&str], cwd: &Path) -> Output {
    Command::new(K12)
        .arg("lint-migrations")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_repository_migrations_are_clean_by_default() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = lint(&[], &root);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("0 finding(s)"), "{}", stdout(&out));
}

#[test]
fn findings_exit_1_with_json_positions() {
    let dir = corpus("unsafe");
    let out = lint(
        &[
            "--format",
            "json",
            "create-index-not-concurrent.2.sql",
            "truncate.sql",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["file"], "create-index-not-concurrent.2.sql");
    assert_eq!(list[0]["rule"], "create-index-not-concurrent");
    assert_eq!(
        (list[0]["line"].as_u64(), list[0]["column"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(list[1]["rule"], "truncate");
    assert!(list[1]["suggestion"].as_str().unwrap().contains("batches"));
}

#[test]
fn text_output_names_file_line_rule_and_fix() {
    let out = lint(&["unsafe/drop-column.sql"], &corpus(""));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("unsafe/drop-column.sql:2:1: drop-column: dropping column `users.nickname`"),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");
}

#[test]
fn clean_files_exit_0() {
    let out = lint(&["safe"], &corpus(""));
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn parse_errors_missing_paths_and_bad_flags_exit_2() {
    let dir = std::env::temp_dir().join(format!("k12-lint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0001_bad.sql"), "ALTER TABLE users ADD COLUMN;\n").unwrap();
    let out = lint(&["0001_bad.sql"], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("syntax error"));
    let out = lint(&["no-such-dir"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let out = lint(&["--format", "yaml"], &dir);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
