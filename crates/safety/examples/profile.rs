//! Runs the whole-text check over generated mixed English for profiling:
//! `cargo run --release -p safety --example profile -- [input|output] [MiB] [email|digits|spaced|script|onclick|svg|prompts]`.
//!
//! `prompts` screens the mixed English as separate prompts of about 200 bytes, so the
//! learned stage (which reads a text's first 320 normalised bytes) runs on every byte.

use safety::{Direction, Pipeline, Policy};

#[path = "shared/prose.rs"]
mod prose;
use prose::mixed_english;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = if args.get(1).map(String::as_str) == Some("output") {
        Direction::Output
    } else {
        Direction::Input
    };
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let n = 1usize << 20;
    let text = match args.get(3).map(String::as_str) {
        Some("email") => format!("{}@{}", "a.".repeat(n / 4), "a.".repeat(n / 4)),
        Some("digits") => "1 2 ".repeat(n / 4),
        Some("spaced") => "k i l l ".repeat(n / 8),
        Some("script") => "<script>".repeat(n / 8),
        Some("onclick") => "<a onclick=".repeat(n / 11),
        Some("svg") => "<svg ".repeat(n / 5),
        _ => mixed_english(mib << 20),
    };
    let p = Pipeline::new();
    if args.get(3).map(String::as_str) == Some("prompts") {
        let text = mixed_english(mib << 20);
        let prompts = prose::prompts(&text, 200);
        let t = std::time::Instant::now();
        let mut withheld = 0;
        for _ in 0..5 {
            for q in &prompts {
                let v = p.check(q, dir, &Policy::default());
                if !v.passed && std::env::var_os("SHOW").is_some() {
                    println!("WITHHELD {} | {q:?}", v.detail);
                }
                withheld += usize::from(!v.passed);
            }
        }
        let dt = t.elapsed();
        println!(
            "5 x {} prompts ({} bytes) in {:?}: {:.1} MB/s, {:.1} µs a prompt, {} withheld",
            prompts.len(),
            text.len(),
            dt,
            5.0 * text.len() as f64 / dt.as_secs_f64() / 1e6,
            dt.as_secs_f64() * 1e6 / (5 * prompts.len()) as f64,
            withheld / 5
        );
        return;
    }
    let t = std::time::Instant::now();
    let mut v = p.check(&text, dir, &Policy::default());
    for _ in 1..5 {
        v = p.check(&text, dir, &Policy::default());
    }
    let dt = t.elapsed();
    println!(
        "{:?} 5 x {} bytes in {:?}: {:.1} MB/s",
        v.action,
        text.len(),
        dt,
        5.0 * text.len() as f64 / dt.as_secs_f64() / 1e6
    );
}
