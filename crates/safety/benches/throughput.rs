//! Throughput, latency and adversarial-input timings (spec 09, "Speed").
//!
//! `cargo bench -p safety --bench throughput` (release build, one thread). Prints a
//! Markdown table; docs/safety.md records a run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use safety::{Direction, Pipeline, Policy};

#[path = "../examples/shared/prose.rs"]
mod prose;
use prose::{mixed_english, prompts};

/// CPU time this thread has run, in nanoseconds (Linux schedstat; `None` elsewhere). On
/// a shared machine this, unlike wall time, leaves out the time spent waiting for a CPU.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `n` times; returns CPU nanoseconds per run (whole-batch measurement, so the
/// scheduler-tick granularity of schedstat averages out).
fn cpu_per_run<F: FnMut()>(n: u32, mut f: F) -> Option<f64> {
    let a = cpu_ns()?;
    for _ in 0..n {
        f();
    }
    let b = cpu_ns()?;
    Some((b - a) as f64 / n as f64)
}

fn time<F: FnMut()>(mut f: F) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn main() {
    let p = Pipeline::new();
    let policy = Policy::default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!(
        "load average at start: {} on {cpus} CPUs",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| measurement | result | target |");
    println!("|---|---|---|");

    // Throughput: 8 MiB of mixed English, timed as 1 MiB slices, best of 40 per slice
    // size (the best run is the one the scheduler left alone on a shared machine), and
    // the whole 8 MiB once for reference.
    let text = mixed_english(8 << 20);
    let slices: Vec<&str> = (0..8)
        .map(|i| {
            let (mut a, mut b) = (i << 20, (i + 1) << 20);
            while !text.is_char_boundary(a) {
                a += 1;
            }
            while !text.is_char_boundary(b) {
                b += 1;
            }
            &text[a..b]
        })
        .collect();
    for dir in [Direction::Input, Direction::Output] {
        let best = (0..40)
            .map(|k| {
                let slice = slices[k % slices.len()];
                let d = time(|| {
                    black_box(p.check(black_box(slice), dir, &policy));
                });
                slice.len() as f64 / d.as_secs_f64() / 1e6
            })
            .fold(0.0f64, f64::max);
        let cpu = cpu_per_run(3, || {
            black_box(p.check(black_box(&text), dir, &policy));
        })
        .map(|ns| format!("{:.0} MB/s", text.len() as f64 / ns * 1e3))
        .unwrap_or_else(|| "n/a".into());
        println!("| throughput, mixed English, {dir:?} | wall best {best:.0} MB/s, CPU time {cpu} | >= 50 MB/s |");
    }

    // Short prompts: the learned stage reads the first 320 normalised bytes of a text, so
    // the long-text figures above barely include it. A student's prompt is ~200 bytes:
    // 1 MiB of the same prose cut into ~5,000 of them, best of 10 passes.
    let short = prompts(slices[0], 200);
    let bytes: usize = short.iter().map(|q| q.len()).sum();
    let best = (0..10)
        .map(|_| {
            time(|| {
                for q in &short {
                    black_box(p.check(black_box(q), Direction::Input, &policy));
                }
            })
        })
        .min()
        .unwrap();
    println!(
        "| {} prompts of ~200 bytes, Input: wall best | {:.1} MB/s, {:.1} µs a prompt | - |",
        short.len(),
        bytes as f64 / best.as_secs_f64() / 1e6,
        best.as_secs_f64() * 1e6 / short.len() as f64
    );

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
        let cpu = cpu_per_run(2000, || {
            black_box(p.check(black_box(prompt), dir, &policy));
        })
        .map(|ns| format!("{:.0} µs", ns / 1e3))
        .unwrap_or_else(|| "n/a".into());
        println!(
            "| 4 KB {dir:?}: wall p50 / p99, CPU mean | {:.0} µs / {:.0} µs, {cpu} | p99 <= 200 µs |",
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
            let best = (0..10)
                .map(|_| {
                    time(|| {
                        black_box(p.check(black_box(s), dir, &policy));
                    })
                })
                .min()
                .unwrap();
            let cpu = cpu_per_run(10, || {
                black_box(p.check(black_box(s), dir, &policy));
            })
            .map(|ns| format!("{:.1} ms", ns / 1e6))
            .unwrap_or_else(|| "n/a".into());
            println!(
                "| 1 MiB {name}, {dir:?}: wall best, CPU mean | {:.1} ms, {cpu} | < 20 ms |",
                best.as_secs_f64() * 1e3
            );
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
