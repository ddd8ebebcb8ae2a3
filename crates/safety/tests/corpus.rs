//! The labelled corpus: every case's action and category, precision and recall per
//! category against the thresholds in docs/safety.md, and the hard zero-tolerance rules
//! (look-alike numbers, executable payloads left after sanitising).
//!
//! `cargo test -p safety --test corpus -- --nocapture` prints the table.

mod common;

use std::collections::BTreeMap;

use common::corpus;
use safety::{Action, Category, Pipeline, Verdict};

/// Minimum precision and recall per class (docs/safety.md, "Thresholds").
const THRESHOLDS: &[(&str, f64, f64)] = &[
    ("allowed", 0.98, 0.99),
    ("injection", 0.98, 0.98),
    ("xss", 0.98, 0.98),
    ("pii", 0.98, 0.98),
    ("self_harm", 0.98, 0.98),
    ("violence", 0.90, 0.90),
    ("weapons", 0.90, 0.90),
    ("drugs_alcohol", 0.90, 0.90),
    ("explicit", 0.90, 0.90),
    ("hate", 0.90, 0.90),
    ("bullying", 0.90, 0.90),
    ("crime", 0.90, 0.90),
];
/// Share of cases whose action, category and sub-category all match: every one (issue
/// 17, third round; at 0.99 two mismatches, a threat let through at `moderate`, passed).
const MIN_EXACT: f64 = 1.0;

fn class_of(v: &Verdict) -> String {
    match v.category {
        None => "allowed".into(),
        Some(Category::Inappropriate) => v.subcategory.clone().unwrap_or_default(),
        Some(c) => c.as_str().into(),
    }
}

fn expected_class(category: &Option<String>, sub: &Option<String>) -> String {
    match (category.as_deref(), sub.as_deref()) {
        (None, _) => "allowed".into(),
        (Some("inappropriate"), Some(s)) => s.into(),
        (Some(c), _) => c.into(),
    }
}

#[test]
fn corpus_precision_and_recall() {
    let p = Pipeline::new();
    let cases = corpus();
    assert!(cases.len() >= 300, "the corpus has {} cases", cases.len());
    let mut tp: BTreeMap<String, usize> = BTreeMap::new();
    let mut predicted: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let mut exact = 0;
    let mut failures = Vec::new();
    for c in &cases {
        let v = p.check(&c.text, c.direction, &c.policy());
        let got = class_of(&v);
        let want = expected_class(&c.category, &c.subcategory);
        *predicted.entry(got.clone()).or_default() += 1;
        // A blocked case whose sub-category is not labelled counts for whatever blocked it.
        let want = if want == "inappropriate" && c.expect == v.action.as_str() {
            got.clone()
        } else {
            want
        };
        *expected.entry(want.clone()).or_default() += 1;
        if got == want {
            *tp.entry(got.clone()).or_default() += 1;
        }
        let action_ok = v.action.as_str() == c.expect;
        let sub_ok = c.subcategory.is_none()
            || c.category.as_deref() != v.category.map(|x| x.as_str())
            || v.subcategory == c.subcategory;
        if action_ok && got == want && sub_ok {
            exact += 1;
        } else {
            failures.push(format!(
                "{}:{} [{} {} {:?}] want {} {} {:?} got {} {} ({})  {:?}",
                c.file,
                c.line,
                c.direction_str(),
                c.level.as_str(),
                c.role,
                c.expect,
                want,
                c.subcategory,
                v.action.as_str(),
                got,
                v.detail,
                c.text.chars().take(90).collect::<String>()
            ));
        }
    }
    println!(
        "\ncorpus: {} cases, {} exact ({:.1}%)",
        cases.len(),
        exact,
        100.0 * exact as f64 / cases.len() as f64
    );
    println!("| class | expected | predicted | precision | recall |");
    println!("|---|---|---|---|---|");
    let mut below = Vec::new();
    for &(class, min_p, min_r) in THRESHOLDS {
        let t = *tp.get(class).unwrap_or(&0) as f64;
        let pr = *predicted.get(class).unwrap_or(&0) as f64;
        let ex = *expected.get(class).unwrap_or(&0) as f64;
        let precision = if pr == 0.0 { 1.0 } else { t / pr };
        let recall = if ex == 0.0 { 1.0 } else { t / ex };
        println!("| {class} | {ex} | {pr} | {precision:.3} | {recall:.3} |");
        if precision < min_p || recall < min_r {
            below.push(format!(
                "{class}: precision {precision:.3} (min {min_p}), recall {recall:.3} (min {min_r})"
            ));
        }
    }
    for f in &failures {
        println!("MISMATCH {f}");
    }
    assert!(below.is_empty(), "below threshold: {below:#?}");
    let share = exact as f64 / cases.len() as f64;
    assert!(
        share >= MIN_EXACT,
        "only {:.1}% of cases match exactly",
        100.0 * share
    );
}

trait DirectionStr {
    fn direction_str(&self) -> &'static str;
}

impl DirectionStr for common::Case {
    fn direction_str(&self) -> &'static str {
        match self.direction {
            safety::Direction::Input => "input",
            safety::Direction::Output => "output",
        }
    }
}

#[test]
fn look_alike_numbers_are_never_personal_data() {
    let p = Pipeline::new();
    for c in corpus()
        .iter()
        .filter(|c| c.note.as_deref() == Some("look-alike, never PII"))
    {
        let v = p.check(&c.text, c.direction, &c.policy());
        let pii: Vec<_> = v
            .spans
            .iter()
            .filter(|s| s.category == Category::Pii)
            .collect();
        assert!(pii.is_empty(), "{:?} flagged as {:?}", c.text, pii);
    }
}

/// What a browser could run: script elements, handlers and script URLs in tags.
fn executable_left(html: &str) -> Option<String> {
    let lower: String = html
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    for needle in [
        "<script",
        "javascript:",
        "vbscript:",
        "<iframe",
        "<object",
        "<embed",
        "<svg",
        "<form",
        "<input",
        "<meta",
        "<base",
        "<link",
        "expression(",
        "url(",
        "srcdoc",
        "data:text/html",
    ] {
        if lower.contains(needle) {
            return Some(needle.into());
        }
    }
    // An `on...=` attribute inside a tag.
    let b = html.as_bytes();
    let mut in_tag = false;
    for i in 0..b.len() {
        match b[i] {
            b'<' if i + 1 < b.len() && b[i + 1].is_ascii_alphabetic() => in_tag = true,
            b'>' => in_tag = false,
            b'o' | b'O'
                if in_tag
                    && i > 0
                    && (b[i - 1].is_ascii_whitespace() || b[i - 1] == b'/' || b[i - 1] == b'"') =>
            {
                let rest: String = html[i..]
                    .chars()
                    .take(40)
                    .collect::<String>()
                    .to_lowercase();
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if name.len() > 2
                    && name.starts_with("on")
                    && rest[name.len()..].trim_start().starts_with('=')
                {
                    return Some(name);
                }
            }
            _ => {}
        }
    }
    None
}

#[test]
fn sanitised_output_has_no_executable_payload() {
    let p = Pipeline::new();
    let mut checked = 0;
    for c in corpus().iter().filter(|c| c.expect == "sanitized") {
        let v = p.check(&c.text, c.direction, &c.policy());
        assert_eq!(v.action, Action::Sanitized, "{:?}", c.text);
        let out = v.text.expect("sanitised text");
        if let Some(what) = executable_left(&out) {
            panic!("{:?} left {what:?} in {:?}", c.text, out);
        }
        // Sanitising is idempotent: the result has nothing left to remove.
        let again = p.check_output(&out, &c.policy());
        assert_eq!(
            again.action,
            Action::Allowed,
            "{:?} -> {:?} -> {:?}",
            c.text,
            out,
            again.text
        );
        checked += 1;
    }
    assert!(checked >= 30);
}
