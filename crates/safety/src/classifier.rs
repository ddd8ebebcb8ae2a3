//! The content classifier: one Aho-Corasick automaton over every lexicon phrase, matched
//! as whole words on normalised text.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::lexicon::{Topic, PHRASES};
use crate::normalize::normalize_phrase;

/// A phrase found in a window of normalised text; `start..end` excludes the framing
/// spaces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub phrase: u16,
    pub start: usize,
    pub end: usize,
}

pub(crate) struct Classifier {
    automaton: AhoCorasick,
    /// Pattern id to phrase index.
    phrase_of: Vec<u16>,
}

impl Classifier {
    pub(crate) fn new() -> Self {
        let mut patterns: Vec<String> = Vec::new();
        let mut phrase_of = Vec::new();
        let mut seen: HashMap<String, u16> = HashMap::new();
        for (i, (phrase, _, _)) in PHRASES.iter().enumerate() {
            let norm = normalize_phrase(phrase);
            // `1` reads as `i` in the normaliser; also accept it where it stood for `l`.
            let variants = [norm.clone(), norm.replace('l', "i")];
            for v in variants {
                if v.is_empty() || seen.contains_key(&v) {
                    continue;
                }
                seen.insert(v.clone(), i as u16);
                patterns.push(format!(" {v} "));
                phrase_of.push(i as u16);
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("lexicon automaton");
        Self {
            automaton,
            phrase_of,
        }
    }

    /// Finds phrases in `window` (which must start and end with a space where a word
    /// boundary is) that end at or after `new_from`; a phrase inside a longer phrase is
    /// dropped, so "kill a python process" hides "kill".
    pub(crate) fn scan(&self, window: &str, new_from: usize, out: &mut Vec<Hit>) {
        let mut found: Vec<Hit> = self
            .automaton
            .find_overlapping_iter(window)
            .map(|m| Hit {
                phrase: self.phrase_of[m.pattern().as_usize()],
                start: m.start() + 1,
                end: m.end() - 1,
            })
            .collect();
        if found.is_empty() {
            return;
        }
        found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut reach = 0usize;
        let mut reach_start = usize::MAX;
        for h in found {
            let contained = h.end <= reach && !(h.start == reach_start && h.end == reach);
            if h.end > reach {
                reach = h.end;
                reach_start = h.start;
            }
            if !contained && h.end > new_from {
                out.push(h);
            }
        }
    }

    pub(crate) fn topic(phrase: u16) -> Topic {
        PHRASES[phrase as usize].1
    }

    pub(crate) fn weight(phrase: u16) -> u32 {
        PHRASES[phrase as usize].2 as u32
    }

    pub(crate) fn text(phrase: u16) -> &'static str {
        PHRASES[phrase as usize].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;

    fn hits(text: &str) -> Vec<&'static str> {
        let c = Classifier::new();
        let window = format!(" {} ", normalize(text).text.trim_end());
        let mut out = Vec::new();
        c.scan(&window, 0, &mut out);
        out.iter().map(|h| Classifier::text(h.phrase)).collect()
    }

    #[test]
    fn matches_whole_words_only() {
        assert_eq!(
            hits("a skill, a method, begun, a pharmacy"),
            Vec::<&str>::new()
        );
        assert_eq!(hits("I will k1ll you"), ["i will kill you"]);
        assert_eq!(
            hits("How can I kill a Python process?"),
            ["kill a python process"]
        );
        assert_eq!(hits("drugs kill"), ["kill"]);
    }
}
