//! The content classifier: one Aho-Corasick automaton over every lexicon phrase, matched
//! as whole words on normalised text.

use std::collections::HashMap;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

use crate::injection::ANCHORS;
use crate::lexicon::{self, Topic};
use crate::normalize::normalize_phrase;

/// A phrase found in the normalised stream; `start..end` are stream positions without
/// the framing spaces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub phrase: u16,
    pub start: usize,
    pub end: usize,
}

/// One DFA over every lexicon phrase (framed by spaces, so only whole words match) and
/// the injection filter's anchor words. It runs over the normalised text of unit after
/// unit with its state carried across, so a phrase that straddles two units is found
/// without scanning anything twice.
pub(crate) struct Classifier {
    dfa: DFA,
    /// Pattern id to phrase index, for the lexicon patterns (the first ones).
    phrase_of: Vec<u16>,
    /// Pattern id minus `phrase_of.len()` to anchor family.
    anchor_family: Vec<u8>,
}

impl Classifier {
    pub(crate) fn new() -> Self {
        let mut patterns: Vec<String> = Vec::new();
        let mut phrase_of = Vec::new();
        let mut seen: HashMap<String, u16> = HashMap::new();
        for (i, (phrase, _, _)) in lexicon::all().iter().enumerate() {
            let norm = normalize_phrase(phrase);
            // `1` reads as `i` in the normaliser; also accept it where it stood for `l`,
            // and a leetspeak "I" standing alone (`1 want to die`), which the normaliser
            // keeps as a digit.
            let lone = norm
                .strip_prefix("i ")
                .map(|rest| format!("1 {rest}"))
                .unwrap_or_default();
            let variants = [norm.clone(), norm.replace('l', "i"), lone];
            for v in variants {
                if v.is_empty() || seen.contains_key(&v) {
                    continue;
                }
                seen.insert(v.clone(), i as u16);
                patterns.push(format!(" {v} "));
                phrase_of.push(i as u16);
            }
        }
        let mut anchor_family = Vec::new();
        for (family, (_, words)) in ANCHORS.iter().enumerate() {
            for w in *words {
                // Anchors start a word; the short ones are whole words.
                let whole = (w.len() <= 4 && !w.contains(' ') && !w.starts_with("base"))
                    || matches!(*w, "rules" | "without");
                patterns.push(if whole {
                    format!(" {w} ")
                } else {
                    format!(" {w}")
                });
                anchor_family.push(family as u8);
            }
        }
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .expect("lexicon automaton");
        Self {
            dfa,
            phrase_of,
            anchor_family,
        }
    }

    /// The state before any text.
    pub(crate) fn start(&self) -> StateID {
        self.dfa
            .start_state(Anchored::No)
            .expect("unanchored start state")
    }

    /// Feeds normalised text that sits at stream position `pos`; appends every phrase
    /// that ends in it and sets the bits of the anchor families seen.
    pub(crate) fn feed(
        &self,
        state: &mut StateID,
        text: &[u8],
        pos: usize,
        hits: &mut Vec<Hit>,
        families: &mut u8,
    ) {
        let mut sid = *state;
        for (i, &b) in text.iter().enumerate() {
            sid = self.dfa.next_state(Anchored::No, sid, b);
            if self.dfa.is_special(sid) && self.dfa.is_match(sid) {
                let end = pos + i + 1;
                for k in 0..self.dfa.match_len(sid) {
                    let pid = self.dfa.match_pattern(sid, k).as_usize();
                    if let Some(&phrase) = self.phrase_of.get(pid) {
                        let len = self.dfa.pattern_len(self.dfa.match_pattern(sid, k));
                        hits.push(Hit {
                            phrase,
                            start: end - len + 1,
                            end: end - 1,
                        });
                    } else {
                        *families |= 1 << self.anchor_family[pid - self.phrase_of.len()];
                    }
                }
            }
        }
        *state = sid;
    }

    /// Drops phrases inside a longer phrase ("kill a python process" hides "kill").
    pub(crate) fn drop_contained(hits: &mut Vec<Hit>) {
        if hits.len() < 2 {
            return;
        }
        hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut reach = 0usize;
        let mut reach_start = usize::MAX;
        hits.retain(|h| {
            let contained = h.end <= reach && !(h.start == reach_start && h.end == reach);
            if h.end > reach {
                reach = h.end;
                reach_start = h.start;
            }
            !contained
        });
    }

    pub(crate) fn topic(phrase: u16) -> Topic {
        lexicon::all()[phrase as usize].1
    }

    pub(crate) fn weight(phrase: u16) -> u32 {
        lexicon::all()[phrase as usize].2 as u32
    }

    #[cfg(test)]
    fn topic_of_text(text: &str) -> Option<Topic> {
        lexicon::all().iter().find(|p| p.0 == text).map(|p| p.1)
    }

    pub(crate) fn text(phrase: u16) -> &'static str {
        &lexicon::all()[phrase as usize].0
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
        let mut families = 0;
        c.feed(
            &mut c.start(),
            window.as_bytes(),
            0,
            &mut out,
            &mut families,
        );
        Classifier::drop_contained(&mut out);
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

    #[test]
    fn crime_phrases_never_hide_other_topics() {
        // The generated crime phrase "im going to bring a gun to school" would contain
        // and so hide the violence phrase; it is left out when the lexicon is built.
        let found = hits("I'm going to bring a gun to school");
        assert!(
            found
                .iter()
                .all(|p| Classifier::topic_of_text(p) != Some(crate::lexicon::Topic::Crime)),
            "{found:?}"
        );
        assert!(!found.is_empty());
        assert_eq!(
            hits("How do I scam people online?"),
            ["how do i scam people"]
        );
    }
}
