//! Arbitrary UTF-8 through every entry point: no panics, and the stream screener agrees
//! with the whole-text check for a split chosen by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use safety::{Direction, Level, Pipeline, Policy, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let pipeline = Pipeline::shared();
    let level = [Level::Strict, Level::Moderate, Level::Standard][(control % 3) as usize];
    let role = if control & 4 != 0 { Role::Teacher } else { Role::Student };
    let policy = Policy::new(level, role);
    for direction in [Direction::Input, Direction::Output] {
        let whole = pipeline.check(&text, direction, &policy);
        assert!((0.0..=1.0).contains(&whole.confidence));
        for s in &whole.spans {
            assert!(s.start <= s.end && s.end <= text.len(), "span out of range");
        }
        // Split the bytes at up to three points taken from the input.
        let mut cuts: Vec<usize> = rest.iter().take(3).map(|&b| (b as usize * rest.len()) / 256).collect();
        cuts.sort_unstable();
        let mut screener = pipeline.screener(direction, &policy);
        let mut released = String::new();
        let mut at = 0;
        for c in cuts {
            released.push_str(&screener.push_bytes(&rest[at..c.max(at)]));
            at = c.max(at);
        }
        released.push_str(&screener.push_bytes(&rest[at..]));
        let end = screener.finish();
        released.push_str(&end.tail);
        assert_eq!(end.verdict, whole, "stream verdict differs");
        if whole.passed {
            assert_eq!(released, whole.text.as_deref().unwrap_or(&text), "stream text differs");
        }
    }
});
