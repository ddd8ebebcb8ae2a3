//! `k12 safety check`: screens JSON Lines from stdin and prints one verdict per line, so
//! operators and support staff can ask "why was this blocked?".
//!
//! Input lines are `{"text", "direction"?, "level"?, "role"?}`; per-line values override
//! the flags. Output lines are `{"action", "category", "subcategory", "confidence",
//! "detail", "spans": [[start, end], ...], "text"}` in input order, where `text` is the
//! rewritten text when redacted or sanitised. A line that can't be read yields
//! `{"error": ...}` and the command goes on. One line is in memory at a time.

use std::io::{BufRead, Write};

use anyhow::Context as _;
use safety::{Action, Category, Direction, Level, Pipeline, Policy, Role, StudentIdPattern};
use serde::{Deserialize, Serialize};

#[derive(clap::Args, Debug)]
pub struct SafetyCheckArgs {
    /// Safety level for lines that don't give one: strict (K-5), moderate (6-8) or
    /// standard (9-12).
    #[arg(long, default_value = "strict")]
    pub level: Level,
    /// Direction for lines that don't give one: input (a prompt) or output (an answer).
    #[arg(long, default_value = "input")]
    pub direction: Direction,
    /// Role of the prompt's author for lines that don't give one: student, guardian,
    /// teacher, curriculum_lead or admin (staff prompts are judged at standard at most).
    #[arg(long, default_value = "student")]
    pub role: Role,
    /// The tenant's student-id format as a regex (e.g. `S\d{6}`), matched as a whole word.
    #[arg(long)]
    pub student_id_pattern: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputLine {
    text: String,
    direction: Option<String>,
    level: Option<String>,
    role: Option<String>,
}

#[derive(Serialize)]
struct OutputLine<'a> {
    action: Action,
    category: Option<Category>,
    subcategory: Option<&'a str>,
    confidence: f32,
    detail: &'a str,
    spans: Vec<[usize; 2]>,
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorLine {
    error: String,
    line: u64,
}

pub fn run(args: SafetyCheckArgs) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    check_lines(&args, stdin.lock(), stdout.lock())
}

/// Reads JSON Lines from `input` and writes one verdict (or error) line per line read,
/// flushing each so that a pipe sees answers as they are ready.
pub fn check_lines(
    args: &SafetyCheckArgs,
    mut input: impl BufRead,
    mut output: impl Write,
) -> anyhow::Result<()> {
    let pipeline = Pipeline::shared();
    let mut base = Policy::new(args.level, args.role);
    if let Some(pattern) = &args.student_id_pattern {
        base = base.with_student_id(StudentIdPattern::parse(pattern)?);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
            break;
        }
        number += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match verdict_line(pipeline, &base, args.direction, &buf) {
            Ok(line) => output.write_all(line.as_bytes())?,
            Err(error) => {
                serde_json::to_writer(
                    &mut output,
                    &ErrorLine {
                        error,
                        line: number,
                    },
                )?;
            }
        }
        output.write_all(b"\n")?;
        output.flush()?;
    }
    Ok(())
}

fn verdict_line(
    pipeline: &Pipeline,
    base: &Policy,
    direction: Direction,
    raw: &[u8],
) -> Result<String, String> {
    let line: InputLine =
        serde_json::from_slice(raw).map_err(|e| format!("invalid input line: {e}"))?;
    let mut policy = base.clone();
    let field = |v: Option<String>| v.filter(|s| !s.is_empty());
    if let Some(level) = field(line.level) {
        policy.level = level
            .parse()
            .map_err(|e: safety::UnknownValue| e.to_string())?;
    }
    if let Some(role) = field(line.role) {
        policy.role = role
            .parse()
            .map_err(|e: safety::UnknownValue| e.to_string())?;
    }
    let direction = match field(line.direction) {
        Some(d) => d.parse().map_err(|e: safety::UnknownValue| e.to_string())?,
        None => direction,
    };
    let verdict = pipeline.check(&line.text, direction, &policy);
    let out = OutputLine {
        action: verdict.action,
        category: verdict.category,
        subcategory: verdict.subcategory.as_deref(),
        confidence: verdict.confidence,
        detail: &verdict.detail,
        spans: verdict.spans.iter().map(|s| [s.start, s.end]).collect(),
        text: verdict.text.as_deref(),
    };
    serde_json::to_string(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(input: &str) -> Vec<serde_json::Value> {
        let args = SafetyCheckArgs {
            level: Level::Strict,
            direction: Direction::Input,
            role: Role::Student,
            student_id_pattern: None,
        };
        let mut out = Vec::new();
        check_lines(&args, input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn redacts_a_phone_in_an_answer_and_survives_bad_lines() {
        let out = run_lines("{\"text\":\"Call me at (555) 123-4567\",\"direction\":\"output\"}\nnot json\n{\"text\":\"hello\"}\n");
        assert_eq!(out.len(), 3);
        assert_eq!(out[0]["action"], "redacted");
        assert_eq!(out[0]["text"], "Call me at [REDACTED PHONE]");
        assert_eq!(out[0]["spans"], serde_json::json!([[11, 25]]));
        assert!(out[1]["error"].is_string());
        assert_eq!(out[2]["action"], "allowed");
        assert!(out[2]["category"].is_null());
    }
}
