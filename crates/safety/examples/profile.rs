//! Runs the whole-text check over generated mixed English for profiling:
//! `cargo run --release -p safety --example profile -- [input|output] [MiB] [email|digits|spaced|script|onclick|svg]`.

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
