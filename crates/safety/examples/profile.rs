//! Runs the whole-text check over generated mixed English for profiling:
//! `cargo run --release -p safety --example profile -- [input|output] [MiB]`.

use safety::{Direction, Pipeline, Policy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = if args.get(1).map(String::as_str) == Some("output") {
        Direction::Output
    } else {
        Direction::Input
    };
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let para = "Photosynthesis is the process plants use to turn light energy into chemical energy. \
        The First World War began in 1914; millions of soldiers died. Solve 3x + 5 = 20 to get x = 5. \
        <p>Homework is due on <b>Friday</b>, email science.class@example.org.</p>\n";
    let text = para.repeat((mib << 20) / para.len());
    let p = Pipeline::new();
    let t = std::time::Instant::now();
    let v = p.check(&text, dir, &Policy::default());
    let dt = t.elapsed();
    println!(
        "{:?} {} bytes in {:?}: {:.1} MB/s",
        v.action,
        text.len(),
        dt,
        text.len() as f64 / dt.as_secs_f64() / 1e6
    );
}
