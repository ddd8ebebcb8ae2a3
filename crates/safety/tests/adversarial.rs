//! Adversarial shapes complete (no timing here: `benches/throughput.rs` measures them),
//! are screened sensibly, and stream to the same result.

use safety::{Action, Direction, Pipeline, Policy};

fn shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        (
            "email-like",
            format!("{}@{}", "a.".repeat(n / 4), "a.".repeat(n / 4)),
        ),
        ("svg", "<svg ".repeat(n / 5)),
        ("on", "on".repeat(n / 2)),
        ("handlers", "<a onclick=".repeat(n / 11)),
        ("digits", "1 2 ".repeat(n / 4)),
        ("spaced letters", "k i l l ".repeat(n / 8)),
        ("brackets", format!("{}](", "[".repeat(n))),
        ("scripts", "<script>".repeat(n / 8)),
        ("one word", "a".repeat(n)),
        ("zero width", "k\u{200B}".repeat(n / 4)),
        ("base64-ish", "QUFB".repeat(n / 4)),
        ("dots and digits", "1.".repeat(n / 2)),
    ]
}

#[test]
fn one_mebibyte_shapes_complete() {
    let p = Pipeline::new();
    for (name, text) in shapes(1 << 20) {
        for dir in [Direction::Input, Direction::Output] {
            let v = p.check(&text, dir, &Policy::default());
            assert!(v.spans.len() <= 4096, "{name}: spans are capped");
            let active = matches!(name, "svg" | "scripts" | "handlers");
            if active && dir == Direction::Output {
                assert_eq!(v.action, Action::Sanitized, "{name}");
                let out = v.text.unwrap();
                assert!(
                    !out.contains("<svg") && !out.contains("<script") && !out.contains("onclick"),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn shapes_stream_to_the_same_result() {
    let p = Pipeline::new();
    for (name, text) in shapes(64 << 10) {
        for dir in [Direction::Output, Direction::Input] {
            let whole = p.check(&text, dir, &Policy::default());
            let mut s = p.screener(dir, &Policy::default());
            let mut out = String::new();
            let b = text.as_bytes();
            for chunk in b.chunks(997) {
                out.push_str(&s.push_bytes(chunk));
            }
            let end = s.finish();
            out.push_str(&end.tail);
            assert_eq!(end.verdict, whole, "{name}");
            if whole.passed {
                assert_eq!(out, whole.text.as_deref().unwrap_or(&text), "{name}");
            }
        }
    }
}
