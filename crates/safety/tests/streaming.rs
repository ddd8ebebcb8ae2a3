//! The stream screener gives the same verdict and the same text as the whole-text check,
//! however the text is split: every corpus case at every split point (char boundaries for
//! `push(&str)`, byte boundaries for `push_bytes`), random k-way splits, and long
//! documents made of many cases so that the screener actually cuts and releases early.

mod common;

use common::{corpus, Case, Rng};
use safety::{Direction, Pipeline, Policy, Verdict};

struct Run {
    released: Vec<String>,
    tail: String,
    verdict: Verdict,
}

impl Run {
    fn text(&self) -> String {
        let mut s: String = self.released.concat();
        s.push_str(&self.tail);
        s
    }
}

fn stream(p: &Pipeline, dir: Direction, policy: &Policy, pieces: &[&str]) -> Run {
    let mut s = p.screener(dir, policy);
    let released = pieces.iter().map(|c| s.push(c)).collect();
    let end = s.finish();
    Run {
        released,
        tail: end.tail,
        verdict: end.verdict,
    }
}

fn stream_bytes(p: &Pipeline, dir: Direction, policy: &Policy, pieces: &[&[u8]]) -> Run {
    let mut s = p.screener(dir, policy);
    let released = pieces.iter().map(|c| s.push_bytes(c)).collect();
    let end = s.finish();
    Run {
        released,
        tail: end.tail,
        verdict: end.verdict,
    }
}

/// The whole-text verdict, and what a one-piece stream releases.
fn reference(p: &Pipeline, text: &str, dir: Direction, policy: &Policy) -> (Verdict, String) {
    let whole = p.check(text, dir, policy);
    let one = stream(p, dir, policy, &[text]);
    assert_eq!(
        one.verdict, whole,
        "one-piece stream differs from check for {text:?}"
    );
    (whole, one.text())
}

fn assert_same(what: &str, text: &str, whole: &Verdict, one_piece: &str, run: &Run) {
    assert_eq!(&run.verdict, whole, "{what}: verdict differs for {text:?}");
    let got = run.text();
    if whole.passed {
        let expected = whole.text.as_deref().unwrap_or(text);
        assert_eq!(got, expected, "{what}: released text differs for {text:?}");
    } else {
        // Withheld: nothing beyond what was clean before the blocking unit.
        assert!(
            one_piece.starts_with(&got),
            "{what}: released {got:?}, more than {one_piece:?}"
        );
    }
}

fn check_every_split(p: &Pipeline, text: &str, dir: Direction, policy: &Policy) {
    let (whole, one) = reference(p, text, dir, policy);
    for (i, _) in text.char_indices().skip(1) {
        let run = stream(p, dir, policy, &[&text[..i], &text[i..]]);
        assert_same(&format!("split at {i}"), text, &whole, &one, &run);
    }
    if !text.is_ascii() {
        let b = text.as_bytes();
        for i in 1..b.len() {
            let run = stream_bytes(p, dir, policy, &[&b[..i], &b[i..]]);
            assert_same(&format!("byte split at {i}"), text, &whole, &one, &run);
        }
    }
}

fn check_random_splits(
    p: &Pipeline,
    text: &str,
    dir: Direction,
    policy: &Policy,
    rng: &mut Rng,
    rounds: usize,
) {
    let (whole, one) = reference(p, text, dir, policy);
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    for _ in 0..rounds {
        let k = 2 + rng.below(14);
        let mut cuts: Vec<usize> = (0..k.min(bounds.len()))
            .map(|_| bounds[rng.below(bounds.len().max(1))])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts {
            pieces.push(&text[at..c]);
            at = c;
        }
        pieces.push(&text[at..]);
        let run = stream(p, dir, policy, &pieces);
        assert_same(
            &format!("{}-way split", pieces.len()),
            text,
            &whole,
            &one,
            &run,
        );
        // Byte-level k-way split too.
        let b = text.as_bytes();
        let mut bcuts: Vec<usize> = (0..k).map(|_| 1 + rng.below(b.len().max(2) - 1)).collect();
        bcuts.sort_unstable();
        bcuts.dedup();
        let mut bp: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        for c in bcuts {
            if c > at && c < b.len() {
                bp.push(&b[at..c]);
                at = c;
            }
        }
        bp.push(&b[at..]);
        let run = stream_bytes(p, dir, policy, &bp);
        assert_same(
            &format!("{}-way byte split", bp.len()),
            text,
            &whole,
            &one,
            &run,
        );
    }
}

#[test]
fn every_corpus_case_at_every_split() {
    let p = Pipeline::new();
    for c in corpus() {
        check_every_split(&p, &c.text, c.direction, &c.policy());
    }
}

#[test]
fn every_corpus_case_at_random_splits() {
    let p = Pipeline::new();
    let mut rng = Rng(0x5AFE_7E57);
    for c in corpus() {
        check_random_splits(&p, &c.text, c.direction, &c.policy(), &mut rng, 10);
    }
}

/// Long answers built from many corpus cases, as a model would stream them.
fn documents(cases: &[Case], rng: &mut Rng, n: usize) -> Vec<(String, Direction, Policy)> {
    let seps = [" ", "\n", ". ", "\n\n", "  ", " - "];
    (0..n)
        .map(|_| {
            let base = &cases[rng.below(cases.len())];
            let mut text = String::new();
            for _ in 0..(4 + rng.below(10)) {
                let c = &cases[rng.below(cases.len())];
                text.push_str(&c.text);
                text.push_str(seps[rng.below(seps.len())]);
            }
            (text, base.direction, base.policy())
        })
        .collect()
}

#[test]
fn long_documents_at_every_split_and_random_splits() {
    let p = Pipeline::new();
    let cases = corpus();
    let mut rng = Rng(0xD0C5);
    let mut released_early = 0;
    for (text, dir, policy) in documents(&cases, &mut rng, 60) {
        check_every_split(&p, &text, dir, &policy);
        check_random_splits(&p, &text, dir, &policy, &mut rng, 20);
        // Fed char by char, a clean document is released before it ends.
        let chars: Vec<String> = text.chars().map(String::from).collect();
        let pieces: Vec<&str> = chars.iter().map(String::as_str).collect();
        let run = stream(&p, dir, &policy, &pieces);
        if run.verdict.passed && run.released.iter().any(|r| !r.is_empty()) {
            released_early += 1;
        }
    }
    assert!(
        released_early > 0,
        "the screener never released text before the end"
    );
}

#[test]
fn hold_back_is_bounded_on_plain_prose() {
    let p = Pipeline::new();
    let text = "The water cycle moves water between the oceans, the air and the land. \
        Water evaporates from the sea, rises, cools and condenses into clouds, then falls \
        again as rain or snow, which runs off into rivers and back to the sea again. "
        .repeat(8);
    let mut s = p.screener(Direction::Output, &Policy::default());
    let mut given = 0;
    let mut released = 0;
    let mut worst = 0;
    for c in text.chars() {
        let mut buf = [0u8; 4];
        given += c.len_utf8();
        released += s.push(c.encode_utf8(&mut buf)).len();
        worst = worst.max(given - released);
    }
    let end = s.finish();
    assert_eq!(released + end.tail.len(), text.len());
    // A unit is at least 64 bytes, cut between two words once it is long enough.
    assert!(worst <= 64 + 24, "held back up to {worst} bytes");
}

#[test]
fn a_script_tag_split_across_chunks_is_still_removed() {
    let p = Pipeline::new();
    let text = "Here is the answer you asked for, with a small demo of the page layout. <scr";
    let mut s = p.screener(Direction::Output, &Policy::default());
    let mut out = s.push(text);
    out.push_str(&s.push("ipt>alert(document.cookie)</scr"));
    out.push_str(&s.push("ipt> And the rest of the answer."));
    let end = s.finish();
    out.push_str(&end.tail);
    assert!(!out.contains("script"), "{out}");
    assert_eq!(end.verdict.action, safety::Action::Sanitized);
}
