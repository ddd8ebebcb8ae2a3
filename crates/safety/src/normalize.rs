//! Normalisation for matching: the text the keyword and injection matchers see.
//!
//! Per character: invisible and bidi controls dropped, compatibility decomposition (the
//! "K" of NFKC: fullwidth, ligatures, mathematical letters) with accents dropped, case
//! folded, common Cyrillic and Greek homoglyphs mapped to Latin. Then per word: leetspeak
//! (`k1ll`, `$uicide`) turned into letters when the word has letters, apostrophes dropped
//! (`don't` -> `dont`), and runs of three or more single letters joined (`k i l l`,
//! `k.i.l.l` -> `kill`). Everything else becomes one space. The result contains only
//! lower-case letters, digits and single spaces, and every byte of it maps back to the
//! original character it came from, so matches are reported as original byte offsets.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Normalised text and, per byte, the original byte range it came from (relative to the
/// normalised slice's start).
#[derive(Debug, Default)]
pub(crate) struct Normalized {
    pub text: String,
    pub starts: Vec<u32>,
    pub ends: Vec<u32>,
}

impl Normalized {
    fn push(&mut self, c: char, start: u32, end: u32) {
        let before = self.text.len();
        self.text.push(c);
        for _ in before..self.text.len() {
            self.starts.push(start);
            self.ends.push(end);
        }
    }

    fn ends_with_space(&self) -> bool {
        self.text.is_empty() || self.text.ends_with(' ')
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Letter,
    Digit,
    /// `$ @ ! |`: letters in disguise inside a word, noise elsewhere.
    Symbol,
}

#[derive(Clone, Copy)]
struct TokChar {
    c: char,
    start: u32,
    end: u32,
    kind: Kind,
}

/// Normalises `src`. Offsets in the result are relative to `src`.
pub(crate) fn normalize(src: &str) -> Normalized {
    let mut n = Normalizer {
        out: Normalized {
            text: String::with_capacity(src.len() + 1),
            starts: Vec::with_capacity(src.len() + 1),
            ends: Vec::with_capacity(src.len() + 1),
        },
        tok: Vec::with_capacity(32),
        singles: Vec::new(),
        gap: 0,
        gap_start: 0,
    };
    let mut decomposed: Vec<char> = Vec::with_capacity(4);
    for (off, ch) in src.char_indices() {
        let start = off as u32;
        let end = (off + ch.len_utf8()) as u32;
        if ch.is_ascii() {
            n.feed(ch.to_ascii_lowercase(), start, end);
            continue;
        }
        if is_invisible(ch) {
            continue;
        }
        decomposed.clear();
        decompose_compatible(ch, |d| decomposed.push(d));
        for &d in &decomposed {
            if is_combining_mark(d) {
                continue;
            }
            if d.is_ascii() {
                n.feed(d.to_ascii_lowercase(), start, end);
            } else {
                for l in d.to_lowercase() {
                    n.feed(homoglyph(l), start, end);
                }
            }
        }
    }
    n.finish()
}

struct Normalizer {
    out: Normalized,
    tok: Vec<TokChar>,
    /// Single-letter words seen in a row, each separated by exactly one separator.
    singles: Vec<TokChar>,
    /// Separator characters since the last word.
    gap: u32,
    gap_start: u32,
}

impl Normalizer {
    fn feed(&mut self, c: char, start: u32, end: u32) {
        let kind = match c {
            'a'..='z' => Kind::Letter,
            '0'..='9' => Kind::Digit,
            '$' | '@' | '!' | '|' => Kind::Symbol,
            '\'' | '\u{2019}' | '\u{2018}' | '`' => return,
            _ if c.is_alphabetic() => Kind::Letter,
            _ if c.is_numeric() => Kind::Digit,
            _ => {
                if !self.tok.is_empty() {
                    self.end_word();
                }
                if self.gap == 0 {
                    self.gap_start = start;
                }
                // A line break never joins spaced letters.
                self.gap += if c == '\n' { 2 } else { 1 };
                return;
            }
        };
        self.tok.push(TokChar {
            c,
            start,
            end,
            kind,
        });
    }

    /// Decides leetspeak for the finished word and queues it.
    fn end_word(&mut self) {
        let has_letter = self.tok.iter().any(|t| t.kind == Kind::Letter);
        // Trailing symbols are punctuation ("hello!"), never letters.
        let mut trailing = 0;
        while self.tok.last().is_some_and(|t| t.kind == Kind::Symbol) {
            self.tok.pop();
            trailing += 1;
        }
        let mut word: Vec<TokChar> = Vec::with_capacity(self.tok.len());
        for t in self.tok.drain(..) {
            match t.kind {
                Kind::Letter => word.push(t),
                Kind::Digit if has_letter => {
                    word.push(TokChar { c: leet(t.c), ..t });
                }
                Kind::Digit => word.push(t),
                Kind::Symbol if has_letter => word.push(TokChar { c: leet(t.c), ..t }),
                Kind::Symbol => {}
            }
        }
        let gap = std::mem::replace(&mut self.gap, 0);
        if word.is_empty() {
            // Only symbols: counts as separator.
            self.gap = gap + 1;
            return;
        }
        if word.len() == 1 && word[0].c.is_alphabetic() {
            if !self.singles.is_empty() && gap != 1 {
                self.flush_singles();
            }
            if self.singles.is_empty() && gap > 0 {
                self.space(self.gap_start_or(word[0].start));
            }
            self.singles.push(word[0]);
            self.gap = trailing;
            return;
        }
        self.flush_singles();
        if gap > 0 || !self.out.ends_with_space() {
            self.space(word[0].start);
        }
        for t in word {
            self.out.push(t.c, t.start, t.end);
        }
        self.gap = trailing;
    }

    fn gap_start_or(&self, fallback: u32) -> u32 {
        if self.gap_start > 0 {
            self.gap_start
        } else {
            fallback
        }
    }

    fn space(&mut self, at: u32) {
        if !self.out.ends_with_space() {
            self.out.push(' ', at, at);
        }
    }

    fn flush_singles(&mut self) {
        if self.singles.is_empty() {
            return;
        }
        let singles = std::mem::take(&mut self.singles);
        if singles.len() >= 3 {
            self.space(singles[0].start);
            for t in &singles {
                self.out.push(t.c, t.start, t.end);
            }
        } else {
            for t in &singles {
                self.space(t.start);
                self.out.push(t.c, t.start, t.end);
            }
        }
    }

    fn finish(mut self) -> Normalized {
        if !self.tok.is_empty() {
            self.end_word();
        }
        let trailing_gap = self.gap > 0;
        self.flush_singles();
        if trailing_gap {
            let at = self.out.ends.last().copied().unwrap_or(0);
            self.space(at);
        }
        // No leading space: callers frame the text themselves.
        if self.out.text.starts_with(' ') {
            self.out.text.remove(0);
            self.out.starts.remove(0);
            self.out.ends.remove(0);
        }
        self.out
    }
}

/// Normalises a lexicon entry the same way as text.
pub(crate) fn normalize_phrase(phrase: &str) -> String {
    normalize(phrase).text.trim().to_string()
}

fn leet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        other => other,
    }
}

/// Zero-width, joiner, soft hyphen, bidi controls and other invisible format characters.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Cyrillic, Greek and other letters that look like Latin ones (after lower-casing).
fn homoglyph(c: char) -> char {
    match c {
        'а' | 'α' | 'ɑ' => 'a',
        'в' | 'β' | 'ь' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'ε' | 'є' => 'e',
        'ɡ' => 'g',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ι' | 'ı' | 'ӏ' => 'i',
        'ј' | 'ϳ' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'η' | 'п' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'μ' => 'u',
        'ν' => 'v',
        'ԝ' | 'ω' | 'ш' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' | 'ү' => 'y',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn folds_case_punctuation_and_apostrophes() {
        assert_eq!(norm("Don't KILL  the-cell!"), "dont kill the cell ");
    }

    #[test]
    fn decodes_obfuscations() {
        assert_eq!(norm("k1ll"), "kill");
        assert_eq!(norm("$uicide"), "suicide");
        assert_eq!(norm("k i l l myself"), "kill myself");
        assert_eq!(norm("s.u.i.c.i.d.e"), "suicide");
        assert_eq!(norm("ki\u{200B}ll"), "kill");
        assert_eq!(norm("ｋｉｌｌ"), "kill");
        assert_eq!(norm("kіll"), "kill"); // Cyrillic і
        assert_eq!(norm("𝐤𝐢𝐥𝐥"), "kill");
        assert_eq!(norm("kíll"), "kill");
    }

    #[test]
    fn leaves_numbers_and_punctuation_alone() {
        assert_eq!(norm("Total = $5!"), "total 5 ");
        assert_eq!(norm("in 1914, a war"), "in 1914 a war");
        assert_eq!(norm("a, b, c"), "a b c");
    }

    #[test]
    fn maps_back_to_original_offsets() {
        let src = "I want to k.i.l.l";
        let n = normalize(src);
        let at = n.text.find("kill").unwrap();
        assert_eq!(n.starts[at] as usize, src.find('k').unwrap());
        assert_eq!(n.ends[at + 3] as usize, src.len());
    }
}
