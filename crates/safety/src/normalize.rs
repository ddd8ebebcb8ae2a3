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
        if c.is_ascii() {
            self.text.push(c);
            self.starts.push(start);
            self.ends.push(end);
            return;
        }
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
    let mut out = Normalized::default();
    normalize_into(src, &mut out);
    out
}

/// Normalises `src` into `out`, reusing its buffers.
pub(crate) fn normalize_into(src: &str, out: &mut Normalized) {
    out.text.clear();
    out.starts.clear();
    out.ends.clear();
    // The normalised text is about as long as the source: one allocation instead of
    // a chain of doublings (which, for a long unit, also touches twice the memory).
    let want = src.len() + 2;
    out.text.reserve(want);
    out.starts.reserve(want);
    out.ends.reserve(want);
    SCRATCH.with(|cell| {
        let mut scratch = cell.take();
        let mut n = Normalizer {
            out: std::mem::take(out),
            tok: std::mem::take(&mut scratch.0),
            word: std::mem::take(&mut scratch.1),
            singles: std::mem::take(&mut scratch.2),
            gap: 0,
        };
        n.run(src);
        let (done, tok, word, singles) = n.finish();
        *out = done;
        cell.set((tok, word, singles));
    });
}

type Buffers = (Vec<TokChar>, Vec<TokChar>, Vec<TokChar>);

thread_local! {
    static SCRATCH: std::cell::Cell<Buffers> = const { std::cell::Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

impl Normalizer {
    fn run(&mut self, src: &str) {
        let n = self;
        let mut decomposed: Vec<char> = Vec::new();
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_digit() && n.tok.is_empty() {
                // Fast path: a number, ended by a plain separator.
                let s = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i == bytes.len() || is_plain_separator(bytes[i]) {
                    n.plain_word(bytes, s, i);
                } else {
                    for (k, &c) in bytes[s..i].iter().enumerate() {
                        let at = (s + k) as u32;
                        n.feed(c as char, at, at + 1);
                    }
                }
                continue;
            }
            if b.is_ascii_alphabetic() {
                // Fast path: a plain ASCII word, ended by a plain separator.
                let s = i;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let plain_end = i == bytes.len() || is_plain_separator(bytes[i]);
                if n.tok.is_empty() && plain_end {
                    n.plain_word(bytes, s, i);
                } else {
                    for (k, &c) in bytes[s..i].iter().enumerate() {
                        let at = (s + k) as u32;
                        n.feed(c.to_ascii_lowercase() as char, at, at + 1);
                    }
                }
                continue;
            }
            if b == b' ' && n.tok.is_empty() {
                // What `feed` does with a space between words.
                n.gap += 1;
                i += 1;
                continue;
            }
            if b.is_ascii() {
                n.feed(b.to_ascii_lowercase() as char, i as u32, i as u32 + 1);
                i += 1;
                continue;
            }
            let ch = src[i..].chars().next().unwrap_or('\u{FFFD}');
            let off = i;
            i += ch.len_utf8();
            let start = off as u32;
            let end = (off + ch.len_utf8()) as u32;
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
    }
}

struct Normalizer {
    out: Normalized,
    tok: Vec<TokChar>,
    /// Reused buffer for the finished word.
    word: Vec<TokChar>,
    /// Single-letter words seen in a row, each separated by exactly one separator.
    singles: Vec<TokChar>,
    /// Separator characters since the last word.
    gap: u32,
}

/// ASCII characters that always separate words (not letters, digits, leetspeak symbols
/// or apostrophes).
fn is_plain_separator(b: u8) -> bool {
    b.is_ascii()
        && !b.is_ascii_alphanumeric()
        && !matches!(b, b'$' | b'@' | b'!' | b'|' | b'\'' | b'`')
}

impl Normalizer {
    /// A word of ASCII letters only, or of digits only: the same result as feeding it letter by letter and
    /// ending the word, without the per-letter bookkeeping.
    fn plain_word(&mut self, bytes: &[u8], s: usize, e: usize) {
        let gap = std::mem::replace(&mut self.gap, 0);
        if e - s == 1 && bytes[s].is_ascii_alphabetic() {
            let c = bytes[s].to_ascii_lowercase() as char;
            if !self.singles.is_empty() && gap != 1 {
                self.flush_singles();
            }
            self.singles.push(TokChar {
                c,
                start: s as u32,
                end: e as u32,
                kind: Kind::Letter,
            });
            return;
        }
        if !self.singles.is_empty() {
            self.flush_singles();
        }
        if gap > 0 || !self.out.ends_with_space() {
            self.space(s as u32);
        }
        let out = &mut self.out;
        for &c in &bytes[s..e] {
            out.text.push(c.to_ascii_lowercase() as char);
        }
        out.starts.extend(s as u32..e as u32);
        out.ends.extend(s as u32 + 1..e as u32 + 1);
    }

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
        // Trailing symbols are punctuation ("hello!"), never letters, except one `$`
        // right after a letter or digit of a word with letters: a plural `s`
        // (`cut$`, `v31n$`).
        let mut trailing = 0;
        while self.tok.last().is_some_and(|t| t.kind == Kind::Symbol) {
            let n = self.tok.len();
            let after_word = |i: usize| i >= 1 && self.tok[i - 1].kind != Kind::Symbol;
            // ... or two (`cla$$`, `gla$$`: a double `s`).
            if has_letter
                && self.tok[n - 1].c == '$'
                && (after_word(n - 1) || (self.tok[n - 2].c == '$' && after_word(n - 2)))
            {
                break;
            }
            self.tok.pop();
            trailing += 1;
        }
        let mut word = std::mem::take(&mut self.word);
        word.clear();
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
            self.word = word;
            return;
        }
        if word.len() == 1 && word[0].c.is_alphabetic() {
            if !self.singles.is_empty() && gap != 1 {
                self.flush_singles();
            }
            self.singles.push(word[0]);
            self.gap = trailing;
            self.word = word;
            return;
        }
        self.flush_singles();
        if gap > 0 || !self.out.ends_with_space() {
            self.space(word[0].start);
        }
        for t in &word {
            self.out.push(t.c, t.start, t.end);
        }
        self.gap = trailing;
        self.word = word;
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

    fn finish(mut self) -> (Normalized, Vec<TokChar>, Vec<TokChar>, Vec<TokChar>) {
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
        self.tok.clear();
        self.singles.clear();
        (self.out, self.tok, self.word, self.singles)
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
        assert_eq!(norm("m4th cla$$ gla$$!"), "math class glass ");
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
