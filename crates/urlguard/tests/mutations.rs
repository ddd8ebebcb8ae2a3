//! A cheap, deterministic stand-in for the fuzz target that runs in every test run:
//! mutate every corpus line many times and check that the guard never panics and never
//! accepts a non-public IP literal.

use std::net::IpAddr;

use urlguard::{judge_ip, Guard, Host, Policy};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Characters that matter to URL parsing, plus a few confusables.
const ALPHABET: &[char] = &[
    '/', '\\', '@', ':', '.', '[', ']', '%', '#', '?', '0', '1', '7', 'x', 'X', 'f', 'a', ' ',
    '\t', '\u{0}', '\u{3002}', '\u{FF10}', '\u{FF0E}', '\u{2460}', '\u{00AD}', 'é', '-', '2', '5',
    '9', 'e', ';', ',', '\'', '"', '~', '!', '$', '&', '(', '=', '+', '*',
];

fn mutate(rng: &mut Rng, input: &str) -> String {
    let mut chars: Vec<char> = input.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = if chars.is_empty() {
            0
        } else {
            rng.below(chars.len() + 1)
        };
        match rng.below(4) {
            0 => chars.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = ALPHABET[rng.below(ALPHABET.len())],
            _ => {
                // Duplicate a slice: repeats dots, brackets, labels.
                let end = (at + rng.below(6)).min(chars.len());
                let piece: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, piece);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_corpus_never_panics_or_admits_a_special_literal() {
    let seeds: Vec<&str> = include_str!("bypass.txt")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(' ').map(|(_, p)| p))
        .collect();
    let guard = Guard::new(Policy {
        allow_http: true,
        ..Policy::default()
    });
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for seed in &seeds {
        for _ in 0..200 {
            let candidate = mutate(&mut rng, seed);
            if let Ok(target) = guard.check_url(&candidate) {
                accepted += 1;
                if let Host::Ip(ip) = target.host() {
                    assert!(judge_ip(*ip).is_ok(), "{candidate:?} admitted {ip}");
                    let again: IpAddr = *ip;
                    assert!(guard.check_addresses(&target, &[again]).is_ok());
                }
            }
        }
    }
    assert!(accepted > 0, "mutations never produced an acceptable URL");
}
