//! Where a text may be cut into units that are screened one after the other.
//!
//! Rewrites (redaction, sanitising) are applied unit by unit, so a cut must never fall
//! inside anything a rewrite could cover. A cut is taken right after whitespace, once the
//! unit is at least [`MIN_UNIT`] bytes long, outside any HTML tag, comment, raw-text or
//! dangerous element and outside a Markdown `[..](..)`, and only:
//!
//! * after a line break, or
//! * at a sentence end: `.`, `!` or `?` (and closing quotes), whitespace, then a capital
//!   letter, or
//! * between two words that both have at least three letters at the cut (so never inside
//!   a phone number, a date, a card, an id, or spaced-out letters).
//!
//! Each rule looks at most three characters ahead, and the decision depends only on the
//! text, never on how it arrived: the whole-text check and the stream screener cut at
//! the same places, which is what makes them give the same answer for any split.

use crate::html::{Lexer, Name};

/// The smallest unit; also the most text a stream normally holds back.
pub(crate) const MIN_UNIT: usize = 64;

/// Elements inside which a cut is never taken (they are sanitised whole).
const CONTAINERS: &[&str] = &[
    "svg", "math", "form", "object", "applet", "frameset", "select", "button", "template",
];

#[derive(Debug, Clone, Copy)]
struct Candidate {
    at: usize,
    words: bool,
    sentence: bool,
    letters: u8,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Segmenter {
    html: Lexer,
    container: Option<(Name, u32)>,
    md_depth: u32,
    md_paren: u32,
    md_after_close: bool,
    last_cut: usize,
    letters: u32,
    tail_letters: u32,
    prev_ws: bool,
    after_punct: bool,
    candidate: Option<Candidate>,
}

impl Segmenter {
    /// Scans `text`, which starts at absolute offset `base` and directly follows what was
    /// scanned before, and appends the cuts it can decide.
    pub(crate) fn scan(&mut self, text: &str, base: usize, cuts: &mut Vec<usize>) {
        let bytes = text.as_bytes();
        let mut next = 0;
        while next < bytes.len() {
            let i = next;
            let b = bytes[i];
            let plain_state = self.candidate.is_none()
                && !self.md_after_close
                && (self.html.in_data() || self.html.waiting_in_raw_text());
            if b.is_ascii_alphabetic()
                && self.candidate.is_none()
                && !self.md_after_close
                && self.html.skip_letters_possible()
            {
                // Fastest path: a run of ASCII letters, as `track_char` would count it
                // and as the tokenizer would step over it (letters never end a tag).
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_alphabetic() {
                    j += 1;
                }
                self.html.skip_letters(&bytes[i..j]);
                let n = (j - i) as u32;
                self.letters = if self.prev_ws { n } else { self.letters + n };
                self.after_punct = false;
                self.prev_ws = false;
                next = j;
                continue;
            }
            if b == b' ' && self.candidate.is_none() && !self.md_after_close && self.html.in_data()
            {
                // A space in plain text: the whitespace bookkeeping below, without the
                // markup tracking (a space changes nothing there in the data state).
                if !self.prev_ws {
                    self.tail_letters = self.letters;
                }
                self.letters = 0;
                self.prev_ws = true;
                let at = base + i + 1;
                let words = self.tail_letters >= 3;
                let sentence = self.after_punct;
                if (words || sentence)
                    && self.container.is_none()
                    && self.md_depth == 0
                    && self.md_paren == 0
                    && at - self.last_cut >= MIN_UNIT
                {
                    self.candidate = Some(Candidate {
                        at,
                        words,
                        sentence,
                        letters: 0,
                    });
                }
                next = i + 1;
                continue;
            }
            if b.is_ascii_digit() && plain_state {
                // A run of digits, as `track_char` would see it.
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                self.letters = 0;
                self.after_punct = false;
                self.prev_ws = false;
                next = j;
                continue;
            }
            let c = if b.is_ascii() {
                b as char
            } else {
                text[i..].chars().next().unwrap_or('\u{FFFD}')
            };
            next = i + c.len_utf8();
            let pos = base + i;
            // Fast path: plain ASCII text with no decision pending.
            if c.is_ascii()
                && !c.is_ascii_whitespace()
                && !matches!(c, '<' | '[' | ']' | '(' | ')')
                && plain_state
            {
                self.track_char(c);
                continue;
            }
            self.resolve(c, cuts);
            self.track_markup(c, text, i, pos);
            if c.is_whitespace() {
                if !self.prev_ws {
                    self.tail_letters = self.letters;
                }
                self.letters = 0;
                self.prev_ws = true;
                let at = pos + c.len_utf8();
                let free = self.html.in_data()
                    && self.container.is_none()
                    && self.md_depth == 0
                    && self.md_paren == 0
                    && !self.md_after_close;
                if free && at - self.last_cut >= MIN_UNIT {
                    if c == '\n' {
                        self.cut(at, cuts);
                    } else {
                        let words = self.tail_letters >= 3;
                        let sentence = self.after_punct;
                        if words || sentence {
                            self.candidate = Some(Candidate {
                                at,
                                words,
                                sentence,
                                letters: 0,
                            });
                        }
                    }
                }
            } else {
                self.track_char(c);
            }
        }
    }

    /// Word and sentence bookkeeping for a character that is not whitespace.
    fn track_char(&mut self, c: char) {
        if c.is_alphabetic() {
            self.letters = if self.prev_ws { 1 } else { self.letters + 1 };
            self.after_punct = false;
        } else if matches!(c, '.' | '!' | '?') {
            self.after_punct = true;
            self.letters = 0;
        } else if matches!(c, ')' | '"' | '\'' | '\u{2019}' | '\u{201D}' | ']') {
            self.letters = 0;
        } else {
            self.after_punct = false;
            self.letters = 0;
        }
        self.prev_ws = false;
    }

    /// Confirms or drops the pending candidate with the next character.
    fn resolve(&mut self, c: char, cuts: &mut Vec<usize>) {
        let Some(mut cand) = self.candidate.take() else {
            return;
        };
        if cand.sentence && cand.letters == 0 && c.is_uppercase() {
            self.cut(cand.at, cuts);
            return;
        }
        if cand.words && c.is_alphabetic() {
            cand.letters += 1;
            if cand.letters >= 3 {
                self.cut(cand.at, cuts);
            } else {
                cand.sentence = false;
                self.candidate = Some(cand);
            }
        }
    }

    fn cut(&mut self, at: usize, cuts: &mut Vec<usize>) {
        self.candidate = None;
        self.last_cut = at;
        cuts.push(at);
    }

    fn track_markup(&mut self, c: char, text: &str, i: usize, pos: usize) {
        let was_data = self.html.in_data() && self.container.is_none();
        if was_data && !matches!(c, '<' | '[' | ']' | '(' | ')' | '\n') && !self.md_after_close {
            // Plain text: the tokenizer would stay in its data state.
            return;
        }
        for (k, &b) in text.as_bytes()[i..i + c.len_utf8()].iter().enumerate() {
            if let Some(tag) = self.html.step(b, pos + k) {
                let name = tag.name.as_str();
                match self.container.as_mut() {
                    Some((open, depth)) if tag.name == *open => {
                        if tag.is_end {
                            *depth -= 1;
                            if *depth == 0 {
                                self.container = None;
                            }
                        } else if !(tag.self_closing && matches!(name, "svg" | "math")) {
                            *depth += 1;
                        }
                    }
                    Some(_) => {}
                    None => {
                        let self_closed_foreign =
                            tag.self_closing && matches!(name, "svg" | "math");
                        if !tag.is_end && CONTAINERS.contains(&name) && !self_closed_foreign {
                            self.container = Some((tag.name, 1));
                        }
                    }
                }
            }
        }
        if !was_data {
            return;
        }
        if self.md_after_close {
            self.md_after_close = false;
            if c == '(' {
                self.md_paren = 1;
                return;
            }
        }
        match c {
            '\n' => {
                self.md_depth = 0;
                self.md_paren = 0;
            }
            '[' if self.md_paren == 0 => self.md_depth += 1,
            ']' if self.md_paren == 0 && self.md_depth > 0 => {
                self.md_depth -= 1;
                if self.md_depth == 0 {
                    self.md_after_close = true;
                }
            }
            '(' if self.md_paren > 0 => self.md_paren += 1,
            ')' if self.md_paren > 0 => self.md_paren -= 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cuts(text: &str) -> Vec<usize> {
        let mut s = Segmenter::default();
        let mut out = Vec::new();
        s.scan(text, 0, &mut out);
        out
    }

    #[test]
    fn cuts_between_words_after_the_minimum() {
        let text = "The quick brown fox jumps over the lazy dog and then the quick brown fox sleeps all day long.";
        let c = cuts(text);
        assert!(!c.is_empty());
        for at in c {
            assert!(at >= MIN_UNIT);
            assert_eq!(&text[at - 1..at], " ");
        }
    }

    #[test]
    fn never_cuts_inside_tags_or_numbers() {
        let text = format!("{} <img src=x title=\"some long words here and there\" onerror=alert(1)> call 555 123 4567 now", "word ".repeat(20));
        for at in cuts(&text) {
            let tag = text.find("<img").unwrap()..text.find("> call").unwrap();
            assert!(!tag.contains(&at), "cut inside the tag at {at}");
        }
    }
}
