//! The bypass corpus (tests/bypass.txt): every payload is refused with its expected
//! reason, every legitimate URL passes the pure stage.

use urlguard::{Guard, Policy, Reason};

/// Decode the corpus escapes: `\\` is a backslash, `\u{HEX}` a character.
fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if let Some(t) = tail.strip_prefix('\\') {
            out.push('\\');
            rest = t;
        } else if let Some(t) = tail.strip_prefix("u{") {
            let end = t.find('}').expect("unterminated \\u{");
            let code = u32::from_str_radix(&t[..end], 16).expect("hex code point");
            out.push(char::from_u32(code).expect("valid code point"));
            rest = &t[end + 1..];
        } else {
            panic!("unknown escape in corpus line {raw:?}");
        }
    }
    out.push_str(rest);
    out
}

fn cases() -> Vec<(String, String)> {
    include_str!("bypass.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (expected, payload) = l.split_once(' ').expect("`expected payload`");
            (expected.to_owned(), unescape(payload))
        })
        .collect()
}

#[test]
fn corpus_verdicts_match() {
    let guard = Guard::new(Policy {
        allow_http: true,
        ..Policy::default()
    });
    let mut failures = Vec::new();
    for (expected, payload) in cases() {
        let got = match guard.check_url(&payload) {
            Ok(_) => "ok",
            Err(refusal) => refusal.reason.as_str(),
        };
        if got != expected {
            failures.push(format!("{payload:?}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_is_large_and_covers_every_pure_reason() {
    let cases = cases();
    let refused: Vec<_> = cases.iter().filter(|(e, _)| e != "ok").collect();
    assert!(
        refused.len() >= 150,
        "only {} bypass payloads",
        refused.len()
    );
    assert!(cases.len() - refused.len() >= 20);
    for (expected, _) in &cases {
        assert!(
            expected == "ok" || Reason::from_name(expected).is_some(),
            "unknown reason {expected}"
        );
    }
    // Every reason the pure stage can give appears at least once.
    for reason in Reason::ALL {
        if matches!(reason, Reason::ResolutionFailed | Reason::NoAddresses) {
            continue;
        }
        assert!(
            refused.iter().any(|(e, _)| e == reason.as_str()),
            "no payload for {reason}"
        );
    }
}
