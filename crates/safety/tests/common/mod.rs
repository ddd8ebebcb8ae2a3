//! Loading the labelled corpus in `corpus/*.jsonl`.
#![allow(dead_code)]

use std::path::PathBuf;

use safety::{Direction, Level, Policy, Role};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub text: String,
    pub direction: Direction,
    pub level: Level,
    #[serde(default)]
    pub role: Option<Role>,
    pub expect: String,
    pub category: Option<String>,
    #[serde(default)]
    pub subcategory: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(skip)]
    pub file: String,
    #[serde(skip)]
    pub line: usize,
}

impl Case {
    pub fn policy(&self) -> Policy {
        Policy::new(self.level, self.role.unwrap_or_default())
    }
}

pub fn corpus() -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        if f.extension().and_then(|e| e.to_str()) != Some("jsonl") {
            continue;
        }
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for (i, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut c: Case =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            c.file = name.clone();
            c.line = i + 1;
            cases.push(c);
        }
    }
    cases
}

/// A tiny deterministic PRNG (xorshift64*), so split tests need no extra crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
