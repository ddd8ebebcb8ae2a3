//! Throughput, latency and adversarial-input timings (spec 09, "Speed").
//!
//! `cargo bench -p safety --bench throughput` (release build, one thread). Prints a
//! Markdown table; docs/safety.md records a run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use safety::{Direction, Pipeline, Policy};

/// Mixed English as a model would write for a class: prose, a little markup, numbers,
/// the odd email and link. Deterministic.
fn mixed_english(bytes: usize) -> String {
    const PARAS: &[&str] = &[
        "Photosynthesis is the process plants use to turn light energy into chemical energy. \
         Inside the chloroplast, chlorophyll absorbs sunlight, and the plant combines carbon \
         dioxide and water to make glucose, releasing oxygen as a by-product. ",
        "The First World War began in 1914 after the assassination of Archduke Franz \
         Ferdinand. Millions of soldiers died in the trenches; new weapons such as machine \
         guns and poison gas changed how wars were fought. ",
        "To solve 3x + 5 = 20, subtract 5 from both sides to get 3x = 15, then divide by 3: \
         x = 5. Check your answer by substituting it back into the equation. ",
        "<p>Homework is due on <b>Friday</b>. Email questions to the class inbox at \
         science.class@example.org or see <a href=\"https://example.org/unit-4\">unit 4</a>.</p> ",
        "In Romeo and Juliet, Shakespeare shows how a feud between two families leads to \
         tragedy. Discuss how the theme of fate is developed in Act 3, Scene 1. ",
        "Healthy habits: sleep for nine hours, drink water, and take breaks from screens. \
         Talk to a trusted adult if something online makes you uncomfortable. ",
        "def average(xs):\n    return sum(xs) / len(xs)  # ignore the first row if it is a header\n",
        "The lab is in room 204; call the front office on 555-0100 ext. 12 if you are late. ",
    ];
    let mut s = String::with_capacity(bytes + 512);
    let mut i = 0usize;
    while s.len() < bytes {
        s.push_str(PARAS[i % PARAS.len()]);
        if i % 5 == 4 {
            s.push('\n');
        }
        i = i.wrapping_mul(31).wrapping_add(7) % 1009;
    }
    s
}

fn time<F: FnMut()>(mut f: F) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    let p = Pipeline::new();
    let policy = Policy::default();
    println!("| measurement | result | target |");
    println!("|---|---|---|");

    // Throughput on 8 MiB of mixed English, best of 5, both directions.
    let text = mixed_english(8 << 20);
    for dir in [Direction::Input, Direction::Output] {
        let _ = p.check(&text[..1 << 20], dir, &policy);
        let best = (0..5)
            .map(|_| {
                time(|| {
                    black_box(p.check(black_box(&text), dir, &policy));
                })
            })
            .min()
            .unwrap();
        let mbps = text.len() as f64 / best.as_secs_f64() / 1e6;
        println!("| throughput, mixed English, {dir:?} | {mbps:.0} MB/s | >= 50 MB/s |");
    }

    // Latency of a 4 KB prompt, p50/p99 over 20 000 runs (input) and answers (output).
    let mut cut = 4096;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let prompt = &text[..cut];
    for dir in [Direction::Input, Direction::Output] {
        let mut samples: Vec<Duration> = (0..20_000)
            .map(|_| {
                time(|| {
                    black_box(p.check(black_box(prompt), dir, &policy));
                })
            })
            .collect();
        samples.sort_unstable();
        let pct = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
        println!(
            "| 4 KB {dir:?}, p50 / p99 | {:.0} µs / {:.0} µs | p99 <= 200 µs |",
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6
        );
    }

    // Streaming a 4 KB answer in 16-byte chunks.
    let chunks: Vec<&str> = {
        let mut v = Vec::new();
        let mut at = 0;
        while at < prompt.len() {
            let mut e = (at + 16).min(prompt.len());
            while !prompt.is_char_boundary(e) {
                e += 1;
            }
            v.push(&prompt[at..e]);
            at = e;
        }
        v
    };
    let mut samples: Vec<Duration> = (0..5_000)
        .map(|_| {
            time(|| {
                let mut s = p.screener(Direction::Output, &policy);
                for c in &chunks {
                    black_box(s.push(c));
                }
                black_box(s.finish());
            })
        })
        .collect();
    samples.sort_unstable();
    println!(
        "| 4 KB answer streamed in 16-byte chunks, p99 | {:.0} µs | - |",
        samples[samples.len() * 99 / 100].as_secs_f64() * 1e6
    );

    // Adversarial shapes at 1 MiB (the original took 89 s on 64 KB of the first).
    let n = 1 << 20;
    let shapes: Vec<(&str, String)> = vec![
        (
            "\"a.\"*N + \"@\" + \"a.\"*N",
            format!("{}@{}", "a.".repeat(n / 4), "a.".repeat(n / 4)),
        ),
        ("\"<svg \"*N", "<svg ".repeat(n / 5)),
        ("\"on\"*N", "on".repeat(n / 2)),
        ("\"<a onclick=\"*N", "<a onclick=".repeat(n / 11)),
        ("digits and spaces", "1 2 ".repeat(n / 4)),
        ("\"k i l l \"*N", "k i l l ".repeat(n / 8)),
        ("\"[\"*N + \"](\"", format!("{}](", "[".repeat(n))),
        ("\"<script>\"*N", "<script>".repeat(n / 8)),
        ("one long word", "a".repeat(n)),
    ];
    for (name, s) in &shapes {
        for dir in [Direction::Input, Direction::Output] {
            let best = (0..3)
                .map(|_| {
                    time(|| {
                        black_box(p.check(black_box(s), dir, &policy));
                    })
                })
                .min()
                .unwrap();
            println!(
                "| 1 MiB {name}, {dir:?} | {:.1} ms | < 20 ms |",
                best.as_secs_f64() * 1e3
            );
        }
    }
}
