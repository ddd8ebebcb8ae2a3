//! Trains the learned stage (`src/model.rs`) and writes `model/weights.bin`.
//!
//! `CARGO_TARGET_DIR=/work/target-safety cargo run -p safety --release --example train`
//! `[-- --without SOURCE,SOURCE] [--out PATH]`
//!
//! The trainer itself is `shared/train.rs`; the sources and their licences are listed in
//! `train/README.md`. `--without` leaves public sources out (names in
//! `trainer::SOURCES`), `--out` writes elsewhere than the committed weights.

#[path = "shared/data.rs"]
mod data;
#[path = "shared/train.rs"]
mod trainer;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let without = value("--without").unwrap_or_default();
    let without: Vec<&str> = without.split(',').filter(|s| !s.is_empty()).collect();
    for s in &without {
        assert!(
            trainer::SOURCES.contains(s),
            "unknown source {s}: {:?}",
            trainer::SOURCES
        );
    }
    let bytes = trainer::fit(&trainer::build(&without), true);
    let out = value("--out")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| data::crate_dir().join("model/weights.bin"));
    std::fs::write(&out, &bytes).expect("write weights");
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
}
