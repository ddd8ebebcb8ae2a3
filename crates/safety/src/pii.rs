//! Personal data with validation: emails, phones, SSNs, payment cards, IBANs, IP
//! addresses, student ids and dates of birth.
//!
//! Numbers are found as "numeric runs" (digit groups joined by single separators, one
//! linear scan) and then judged by their shape and checksum: a card needs 13-19 digits in
//! card grouping, a card-range prefix and a valid Luhn digit; an SSN needs the 3-2-4 shape
//! and a valid area/group/serial; a phone needs a phone shape (`+` and 8-15 digits, or the
//! North-American 3-3-4 with punctuation) or a looser shape next to a phone word ("Phone:",
//! "call me on", "... office"). ISBNs, timestamps, ZIP+4 codes, decimals and invalid
//! numbers have none of these shapes, so they are left alone.
//!
//! Why no phone-number library: the maintained Rust port of libphonenumber carries the
//! full metadata and a regex per region, and it validates numbers per country rather
//! than finding them in prose; finding is what we need, in linear time over any input.

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::Regex;

use crate::policy::Policy;

/// The kinds of personal data, in the order they win an overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PiiKind {
    StudentId,
    Email,
    Iban,
    Card,
    Ssn,
    Ip,
    Dob,
    Phone,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::StudentId => "student_id",
            PiiKind::Email => "email",
            PiiKind::Iban => "iban",
            PiiKind::Card => "card",
            PiiKind::Ssn => "ssn",
            PiiKind::Ip => "ip",
            PiiKind::Dob => "dob",
            PiiKind::Phone => "phone",
        }
    }

    pub fn rule(self) -> &'static str {
        match self {
            PiiKind::StudentId => "pii.student_id",
            PiiKind::Email => "pii.email",
            PiiKind::Iban => "pii.iban",
            PiiKind::Card => "pii.card",
            PiiKind::Ssn => "pii.ssn",
            PiiKind::Ip => "pii.ip",
            PiiKind::Dob => "pii.dob",
            PiiKind::Phone => "pii.phone",
        }
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::StudentId => "[REDACTED STUDENT_ID]",
            PiiKind::Email => "[REDACTED EMAIL]",
            PiiKind::Iban => "[REDACTED IBAN]",
            PiiKind::Card => "[REDACTED CARD]",
            PiiKind::Ssn => "[REDACTED SSN]",
            PiiKind::Ip => "[REDACTED IP]",
            PiiKind::Dob => "[REDACTED DOB]",
            PiiKind::Phone => "[REDACTED PHONE]",
        }
    }
}

/// One piece of personal data, as byte offsets into the scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PiiMatch {
    pub start: usize,
    pub end: usize,
    pub kind: PiiKind,
}

/// Finds personal data in `text`. `before` is the text that precedes it (for context words
/// such as "Phone:" just before a unit boundary); matches are offsets into `text`.
pub(crate) fn find(before: &str, text: &str, policy: &Policy, out: &mut Vec<PiiMatch>) {
    let start_len = out.len();
    let bytes = text.as_bytes();
    let has_digit = bytes.iter().any(u8::is_ascii_digit);
    if bytes.contains(&b'@') {
        find_emails(text, out);
    }
    if let Some(pattern) = &policy.student_id {
        for m in pattern.regex().find_iter(text) {
            out.push(PiiMatch {
                start: m.start(),
                end: m.end(),
                kind: PiiKind::StudentId,
            });
        }
    }
    if has_digit {
        let ctx = Context { before, text };
        // The label regexes only run where their words appear (here or just before).
        let (mut ids, mut dates) = (false, false);
        'labels: for hay in [before, text] {
            // Every label word has letters.
            if !hay.bytes().any(|b| b.is_ascii_alphabetic()) {
                continue;
            }
            for m in LABELS.find_iter(hay) {
                if m.pattern().as_usize() < 5 {
                    ids = true;
                } else {
                    dates = true;
                }
                if ids && dates {
                    break 'labels;
                }
            }
        }
        if ids {
            find_student_ids(&ctx, out);
        }
        if dates {
            find_text_dates(&ctx, out);
        }
        find_numeric_runs(&ctx, out);
        find_ibans(text, out);
        if bytes.contains(&b':') {
            find_ipv6(text, out);
        }
    }
    let mut found = out.split_off(start_len);
    resolve_overlaps(&mut found);
    out.extend(found);
}

/// Keeps, among overlapping matches, the earliest, then the one whose kind ranks first,
/// then the longest.
fn resolve_overlaps(found: &mut Vec<PiiMatch>) {
    found.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(a.kind.cmp(&b.kind))
            .then(b.end.cmp(&a.end))
    });
    // A higher-priority match that starts inside a lower-priority one wins over it.
    let mut kept: Vec<PiiMatch> = Vec::with_capacity(found.len());
    for m in found.iter().copied() {
        match kept.last() {
            Some(last) if m.start < last.end => {
                if m.kind < last.kind {
                    kept.pop();
                    kept.push(m);
                }
            }
            _ => kept.push(m),
        }
    }
    *found = kept;
}

/// Words that must be near a student id (the first five) or a date of birth.
static LABELS: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build([
            "student", "sid", "s.i.d", "pupil", "learner", "birth", "born", "dob", "d.o.b", "d o b",
        ])
        .expect("label automaton")
});

struct Context<'a> {
    before: &'a str,
    text: &'a str,
}

impl Context<'_> {
    /// Up to `n` bytes of lower-cased text just before `pos`.
    fn window_before(&self, pos: usize, n: usize) -> String {
        let mut s = String::new();
        let from_text = &self.text[floor_char(self.text, pos.saturating_sub(n))..pos];
        if from_text.len() < n {
            let need = n - from_text.len();
            let b = self.before;
            s.push_str(&b[floor_char(b, b.len().saturating_sub(need))..]);
        }
        s.push_str(from_text);
        s.to_lowercase()
    }

    fn window_after(&self, pos: usize, n: usize) -> String {
        let end = ceil_char(self.text, (pos + n).min(self.text.len()));
        self.text[pos..end].to_lowercase()
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Whether `window` contains one of `words` as a whole word.
fn has_word(window: &str, words: &[&str]) -> bool {
    let b = window.as_bytes();
    words.iter().any(|w| {
        window.match_indices(w).any(|(i, _)| {
            let before_ok = i == 0 || !b[i - 1].is_ascii_alphanumeric();
            let j = i + w.len();
            let after_ok = j >= b.len() || !b[j].is_ascii_alphanumeric();
            before_ok && after_ok
        })
    })
}

const PHONE_WORDS_BEFORE: &[&str] = &[
    "phone",
    "phones",
    "telephone",
    "tel",
    "mobile",
    "cell",
    "cellphone",
    "fax",
    "desk",
    "call",
    "calling",
    "ring",
    "dial",
    "reach",
    "contact",
    "whatsapp",
    "sms",
    "message",
    "messages",
    "answering",
    "registered",
    "hotline",
    "helpline",
    "landline",
    "ph",
    "mob",
    "my number",
    "his number",
    "her number",
    "their number",
    "your number",
];
const PHONE_WORDS_AFTER: &[&str] = &[
    "office", "fax", "mobile", "cell", "home", "work", "desk", "phone", "tel",
];
const SSN_WORDS: &[&str] = &[
    "ssn",
    "social security",
    "social security number",
    "ss#",
    "ss",
];
const CARD_WORDS: &[&str] = &[
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "maestro",
    "amex",
    "payment",
    "cc",
];
const DOB_WORDS: &[&str] = &[
    "dob",
    "d o b",
    "date of birth",
    "birth date",
    "birthdate",
    "birthday",
    "born",
];

// ---------------------------------------------------------------------------- emails

fn is_local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn find_emails(text: &str, out: &mut Vec<PiiMatch>) {
    let b = text.as_bytes();
    let mut last_end = 0;
    for at in memchr_iter(b'@', b) {
        if at < last_end {
            continue;
        }
        // Local part: at most 64 characters, and not a longer run cut short.
        let mut s = at;
        while s > 0 && at - s < 64 && is_local_char(b[s - 1]) {
            s -= 1;
        }
        if s > 0 && is_local_char(b[s - 1]) {
            continue;
        }
        while s < at && matches!(b[s], b'.' | b'-' | b'+') {
            s += 1;
        }
        if s == at || b[at - 1] == b'.' {
            continue;
        }
        let mut e = at + 1;
        while e < b.len() && e - at <= 253 && is_domain_char(b[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let domain = &text[at + 1..e];
        let labels: Vec<&str> = domain.split('.').collect();
        let tld = labels.last().copied().unwrap_or("");
        let valid = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-'))
            && (2..=24).contains(&tld.len())
            && tld.bytes().all(|c| c.is_ascii_alphabetic());
        if valid {
            out.push(PiiMatch {
                start: s,
                end: e,
                kind: PiiKind::Email,
            });
            last_end = e;
        }
    }
}

fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |(_, &c)| c == needle)
        .map(|(i, _)| i)
}

// ---------------------------------------------------------------------- student ids

static STUDENT_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:student[ \t]*(?:id|identification|number|no\.?|num|#)|s\.?i\.?d\.?|pupil[ \t]*(?:id|number|no\.?)|learner[ \t]*(?:id|number))[ \t]*(?:#|:|=|-|is)?[ \t]*(?:#|:)?[ \t]*([a-z]{0,3}-?[0-9][0-9-]{3,14}[0-9])\b",
    )
    .expect("student id regex")
});

fn find_student_ids(ctx: &Context<'_>, out: &mut Vec<PiiMatch>) {
    // The label may sit just before the unit: scan the two together.
    let tail = &ctx.before[floor_char(ctx.before, ctx.before.len().saturating_sub(40))..];
    let joined = format!("{tail}{}", ctx.text);
    for caps in STUDENT_ID.captures_iter(&joined) {
        let id = caps.get(1).expect("group 1");
        if id.start() >= tail.len() {
            out.push(PiiMatch {
                start: id.start() - tail.len(),
                end: id.end() - tail.len(),
                kind: PiiKind::StudentId,
            });
        }
    }
}

// --------------------------------------------------------------- dates of birth (text)

static TEXT_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?[ \t]+[0-9]{1,2}(?:st|nd|rd|th)?,?[ \t]+([0-9]{4})|[0-9]{1,2}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?[ \t]+([0-9]{4}))\b",
    )
    .expect("date regex")
});

fn find_text_dates(ctx: &Context<'_>, out: &mut Vec<PiiMatch>) {
    for caps in TEXT_DATE.captures_iter(ctx.text) {
        let whole = caps.get(0).expect("group 0");
        let year = caps
            .get(1)
            .or_else(|| caps.get(2))
            .map(|m| m.as_str())
            .unwrap_or("0");
        let recent = year.parse::<u32>().is_ok_and(|y| y >= 1930);
        if recent && has_word(&ctx.window_before(whole.start(), 40), DOB_WORDS) {
            out.push(PiiMatch {
                start: whole.start(),
                end: whole.end(),
                kind: PiiKind::Dob,
            });
        }
    }
}

// --------------------------------------------------------------------- numeric runs

/// A digit group inside a run and the separator text before it.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
    sep_start: usize,
}

fn is_sep(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/')
}

fn find_numeric_runs(ctx: &Context<'_>, out: &mut Vec<PiiMatch>) {
    let b = ctx.text.as_bytes();
    let mut i = 0;
    let mut groups: Vec<Group> = Vec::new();
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
            // Digits glued to a word (an id, a hex string, "x459"): skip the word.
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            continue;
        }
        let mut start = i;
        if start > 0 && b[start - 1] == b'(' {
            start -= 1;
        }
        if start > 0 && b[start - 1] == b'+' {
            start -= 1;
        }
        groups.clear();
        let mut first = true;
        let mut j = i;
        let mut sep_start = i;
        loop {
            let g = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            groups.push(Group {
                start: g,
                end: j,
                sep_start,
            });
            if groups.len() >= 64 {
                // Long runs are judged as they grow: a window spans at most 8 groups.
                let lead = if first { start } else { groups[0].start };
                let done = judge_run(ctx, lead, &groups, false, first, false, out);
                groups.drain(..done);
                first &= done == 0;
            }
            let mut k = j;
            while k < b.len() && k - j < 3 && is_sep(b[k]) {
                k += 1;
            }
            if k > j && k < b.len() && b[k].is_ascii_digit() {
                sep_start = j;
                j = k;
            } else {
                break;
            }
        }
        let ext = extension(b, j);
        let glued = ext.is_none() && j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_');
        let time_like = j + 1 < b.len() && b[j] == b':' && b[j + 1].is_ascii_digit();
        let decimal = j + 1 < b.len() && b[j] == b',' && b[j + 1].is_ascii_digit();
        if !time_like && !decimal {
            let before = out.len();
            let lead = if first { start } else { groups[0].start };
            judge_run(ctx, lead, &groups, glued, first, true, out);
            let grew = out.len() > before;
            if let (Some(ext_end), Some(last)) = (ext, out.last_mut()) {
                if grew && last.end == j && last.kind == PiiKind::Phone {
                    last.end = ext_end;
                    j = ext_end;
                }
            }
        }
        i = j;
        // Skip the rest of a glued word.
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
    }
}

/// Tries windows of consecutive groups, leftmost first and longest first.
/// A phone extension right after a run: `x459`, ` x 459`, ` ext. 459`; returns its end.
fn extension(b: &[u8], j: usize) -> Option<usize> {
    let mut k = j;
    if k < b.len() && b[k] == b' ' {
        k += 1;
    }
    let rest = &b[k.min(b.len())..];
    let lower = |n: usize| rest.get(..n).map(|s| s.to_ascii_lowercase());
    let skip = if lower(4).as_deref() == Some(b"ext.") {
        4
    } else if lower(3).as_deref() == Some(b"ext") {
        3
    } else if lower(1).as_deref() == Some(b"x") {
        1
    } else {
        return None;
    };
    k += skip;
    if k < b.len() && b[k] == b' ' {
        k += 1;
    }
    let ds = k;
    while k < b.len() && k - ds < 6 && b[k].is_ascii_digit() {
        k += 1;
    }
    let bounded = k == b.len() || !(b[k].is_ascii_alphanumeric() || b[k] == b'_');
    (k > ds && bounded).then_some(k)
}

/// Judges windows of `groups` (part of a run that began at `run_start` when `first`);
/// when the run is not `complete`, stops before windows that could reach past the groups
/// seen so far. Returns how many leading groups are done with.
fn judge_run(
    ctx: &Context<'_>,
    run_start: usize,
    groups: &[Group],
    glued: bool,
    first: bool,
    complete: bool,
    out: &mut Vec<PiiMatch>,
) -> usize {
    const MAX_GROUPS: usize = 8;
    let text = ctx.text.as_bytes();
    let size = |g: &Group| g.end - g.start;
    // Digits before each group, and whether a group is a lone digit after a space (no
    // entity has one inside it: runs like "1 2 3 4" are skipped without a closer look).
    let mut before = Vec::with_capacity(groups.len() + 1);
    before.push(0usize);
    for g in groups {
        before.push(before[before.len() - 1] + size(g));
    }
    let mut lone: Vec<bool> = groups
        .iter()
        .map(|g| size(g) == 1 && text[g.sep_start..g.start] == *b" ")
        .collect();
    if first && text[run_start] == b'+' && lone.len() > 1 {
        // "+33 1 42 68 53 00": a one-digit area code after the country code.
        lone[1] = false;
    }
    let mut next_lone = vec![groups.len(); groups.len() + 1];
    for i in (0..groups.len()).rev() {
        next_lone[i] = if lone[i] { i } else { next_lone[i + 1] };
    }
    let mut a = 0;
    while a < groups.len() {
        if !complete && a + MAX_GROUPS > groups.len() {
            break;
        }
        let mut found = None;
        let max_b = (a + MAX_GROUPS).min(groups.len()).min(next_lone[a + 1]);
        for e in (a + 1..=max_b).rev() {
            // No entity has fewer than 4 or more than 19 digits.
            let total = before[e] - before[a];
            if !(4..=19).contains(&total) {
                continue;
            }
            // A window that ends where the run ends inherits the run's right edge.
            let glued_right = glued && e == groups.len();
            if glued_right {
                continue;
            }
            let start = if a == 0 && first {
                run_start
            } else {
                groups[a].start
            };
            if let Some(m) = judge(ctx, start, &groups[a..e]) {
                found = Some((m, e));
                break;
            }
        }
        match found {
            Some((m, e)) => {
                out.push(m);
                a = e;
            }
            None => a += 1,
        }
    }
    a
}

fn digits_of(text: &[u8], groups: &[Group]) -> Vec<u8> {
    let mut d = Vec::with_capacity(20);
    for g in groups {
        d.extend(text[g.start..g.end].iter().map(|c| c - b'0'));
    }
    d
}

fn judge(ctx: &Context<'_>, start: usize, groups: &[Group]) -> Option<PiiMatch> {
    let text = ctx.text.as_bytes();
    let total: usize = groups.iter().map(|g| g.end - g.start).sum();
    if total < 4 {
        return None;
    }
    let end = groups[groups.len() - 1].end;
    let lead = &text[start..groups[0].start];
    let plus = lead.contains(&b'+');
    let seps: Vec<&[u8]> = groups[1..]
        .iter()
        .map(|g| &text[g.sep_start..g.start])
        .collect();
    let sizes: Vec<usize> = groups.iter().map(|g| g.end - g.start).collect();
    let all_seps = |s: &[u8]| seps.iter().all(|x| *x == s);
    let any_sep_has = |c: u8| seps.iter().any(|x| x.contains(&c)) || lead.contains(&c);
    let digits = digits_of(text, groups);
    let m = |kind| Some(PiiMatch { start, end, kind });
    let plain_start = groups[0].start;
    let mk = |kind| {
        Some(PiiMatch {
            start: plain_start,
            end,
            kind,
        })
    };

    // IPv4: four dotted groups of 0-255 without leading zeros.
    if sizes.len() == 4 && all_seps(b".") && !plus && lead.is_empty() {
        let ok = groups.iter().all(|g| {
            let s = &ctx.text[g.start..g.end];
            s.len() <= 3
                && (s == "0" || !s.starts_with('0'))
                && s.parse::<u16>().is_ok_and(|v| v <= 255)
        });
        let versioned = {
            let w = ctx.window_before(start, 9);
            w.ends_with('v') || has_word(&w, &["version", "ver", "v"])
        };
        if ok && !versioned {
            return mk(PiiKind::Ip);
        }
        return None;
    }

    // Dates: day/month/year in any order of the usual three.
    if sizes.len() == 3 && !plus && (all_seps(b"/") || all_seps(b"-") || all_seps(b".")) {
        if let Some(year) = date_year(&ctx.text[plain_start..end], &sizes) {
            let dob = !(100..1930).contains(&year)
                && has_word(&ctx.window_before(plain_start, 40), DOB_WORDS);
            return if dob { mk(PiiKind::Dob) } else { None };
        }
    }
    if any_sep_has(b'/') {
        return None;
    }

    // SSN: 3-2-4 with dashes (or spaces / nine digits next to "SSN").
    if !plus && lead.is_empty() {
        let ssn_ctx = || has_word(&ctx.window_before(plain_start, 30), SSN_WORDS);
        let shaped = sizes == [3, 2, 4] && (all_seps(b"-") || (all_seps(b" ") && ssn_ctx()));
        let bare = sizes == [9] && ssn_ctx();
        if shaped || bare {
            return if valid_ssn(&digits) {
                mk(PiiKind::Ssn)
            } else {
                None
            };
        }
    }

    // Payment cards.
    if !plus && lead.is_empty() && (12..=19).contains(&total) && (all_seps(b" ") || all_seps(b"-"))
    {
        let grouped = sizes.len() == 1
            || (sizes[..sizes.len() - 1].iter().all(|&s| s == 4) && sizes[sizes.len() - 1] <= 4)
            || sizes == [4, 6, 5]
            || sizes == [4, 6, 4];
        if grouped && luhn(&digits) {
            let range = card_range(&digits);
            let maestro12 = total == 12
                && (digits[..2] == [5, 0]
                    || (5..=6).contains(&digits[0]) && digits[1] >= 6
                    || digits[0] == 6)
                && has_word(&ctx.window_before(plain_start, 40), CARD_WORDS);
            if (total >= 13 && range) || maestro12 {
                return mk(PiiKind::Card);
            }
        }
        if total >= 13 && grouped && sizes.len() > 1 {
            // Card-shaped but not a valid card: never call it a phone either.
            return None;
        }
    }

    // Phones.
    let phone_seps = seps.iter().all(|s| {
        s.iter()
            .all(|c| matches!(c, b' ' | b'-' | b'.' | b'(' | b')'))
    });
    if !phone_seps {
        return None;
    }
    if plus && (8..=15).contains(&total) {
        return m(PiiKind::Phone);
    }
    if nanp(text, lead, groups, &sizes, &seps) {
        return m(PiiKind::Phone);
    }
    let zip4 = sizes == [5, 4] && all_seps(b"-");
    let trunk_ok = groups.iter().enumerate().all(|(i, g)| {
        let size = g.end - g.start;
        size >= 2
            || (size == 1 && i == 0 && text[start..g.start].contains(&b'('))
            || (size == 1 && text[g.start..].starts_with(b"0)"))
    });
    let weak = (7..=13).contains(&total) && !zip4 && trunk_ok && sizes[0] <= 5
        || (sizes.len() == 1 && (7..=12).contains(&total));
    if weak {
        let before = ctx.window_before(start, 40);
        let after = ctx.window_after(end, 12);
        if has_word(&before, PHONE_WORDS_BEFORE) || has_word(&after, PHONE_WORDS_AFTER) {
            return m(PiiKind::Phone);
        }
    }
    None
}

/// North-American numbers: optional `1`/`001`, then 3-3-4 with an area code 2-9xx, written
/// with dashes, dots or parentheses (spaces alone need a phone word nearby).
fn nanp(text: &[u8], lead: &[u8], groups: &[Group], sizes: &[usize], seps: &[&[u8]]) -> bool {
    let skip = match sizes {
        [3, 3, 4] => 0,
        [1, 3, 3, 4] if &text[groups[0].start..groups[0].end] == b"1" => 1,
        [3, 3, 3, 4] if &text[groups[0].start..groups[0].end] == b"001" => 1,
        _ => return false,
    };
    let area = text[groups[skip].start];
    if !(b'2'..=b'9').contains(&area) {
        return false;
    }
    let used: Vec<&[u8]> = seps[skip..].to_vec();
    let punct = used
        .iter()
        .any(|s| s.iter().any(|c| matches!(c, b'-' | b'.' | b'(' | b')')))
        || lead.contains(&b'(');
    // Consistent punctuation: not "555.123-4567"-style mixtures of dots and dashes.
    let dots = used.iter().filter(|s| s.contains(&b'.')).count();
    punct && (dots == 0 || dots == used.len())
}

fn date_year(s: &str, sizes: &[usize]) -> Option<u32> {
    let parts: Vec<u32> = s
        .split(['/', '-', '.'])
        .filter_map(|p| p.parse().ok())
        .collect();
    if parts.len() != 3 {
        return None;
    }
    let (y, a, b) = match sizes {
        [4, 1..=2, 1..=2] => (parts[0], parts[1], parts[2]),
        [1..=2, 1..=2, 4] | [1..=2, 1..=2, 2] => (parts[2], parts[0], parts[1]),
        _ => return None,
    };
    let day_month = |d: u32, m: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
    (day_month(a, b) || day_month(b, a)).then_some(y)
}

fn valid_ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = d[0] as u32 * 100 + d[1] as u32 * 10 + d[2] as u32;
    let group = d[3] as u32 * 10 + d[4] as u32;
    let serial: u32 = d[5..].iter().fold(0, |acc, &x| acc * 10 + x as u32);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = x as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer ranges of the major networks (Visa, Mastercard, Amex, Discover, Diners, JCB,
/// UnionPay, Maestro). ISBN-13s start with 978/979 and are excluded here.
fn card_range(d: &[u8]) -> bool {
    let n = |k: usize| d[..k].iter().fold(0u32, |acc, &x| acc * 10 + x as u32);
    match d[0] {
        1 => n(4) == 1800,
        2 => {
            n(4) == 2131
                || (2221..=2720).contains(&n(4))
                || n(2) == 20
                || n(2) == 21
                || n(2) == 22
                || n(2) == 23
        }
        3 => matches!(n(2), 30 | 34 | 35 | 36 | 37 | 38 | 39),
        4 => true,
        5 => (50..=59).contains(&n(2)),
        6 => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------- IBANs

fn find_ibans(text: &str, out: &mut Vec<PiiMatch>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 4 <= b.len() {
        let starts = b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        // Collect alphanumerics, allowing single spaces between groups, up to 34.
        let mut chars: Vec<(u8, usize)> = Vec::with_capacity(34);
        let mut j = i;
        while j < b.len() && chars.len() < 34 {
            if b[j].is_ascii_alphanumeric() {
                chars.push((b[j].to_ascii_uppercase(), j + 1));
                j += 1;
            } else if b[j] == b' ' && j + 1 < b.len() && b[j + 1].is_ascii_alphanumeric() {
                j += 1;
            } else {
                break;
            }
        }
        // Longest prefix (ending on a group boundary) that passes mod-97.
        let mut best = None;
        for len in (15..=chars.len()).rev() {
            let end = chars[len - 1].1;
            let at_boundary = end == b.len() || !b[end].is_ascii_alphanumeric();
            if at_boundary && iban_ok(&chars[..len]) {
                best = Some(end);
                break;
            }
        }
        match best {
            Some(end) => {
                out.push(PiiMatch {
                    start: i,
                    end,
                    kind: PiiKind::Iban,
                });
                i = end;
            }
            None => i += 1,
        }
    }
}

fn iban_ok(chars: &[(u8, usize)]) -> bool {
    let bban = &chars[4..];
    let digits = bban.iter().filter(|(c, _)| c.is_ascii_digit()).count();
    if digits * 10 < bban.len() * 6 {
        return false;
    }
    let mut rem: u32 = 0;
    for &(c, _) in chars[4..].iter().chain(chars[..4].iter()) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + (c - b'0') as u32) % 97;
        } else {
            rem = (rem * 100 + (c - b'A' + 10) as u32) % 97;
        }
    }
    rem == 1
}

// ----------------------------------------------------------------------------- IPv6

fn find_ipv6(text: &str, out: &mut Vec<PiiMatch>) {
    let b = text.as_bytes();
    let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut i = 0;
    while i < b.len() {
        if !is_v6(b[i]) || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_v6(b[j]) {
            j += 1;
        }
        let glued = j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_');
        let mut e = j;
        while e > i && matches!(b[e - 1], b'.' | b':') && !text[i..e].ends_with("::") {
            e -= 1;
        }
        let cand = &text[i..e];
        let colons = cand.bytes().filter(|&c| c == b':').count();
        if !glued && cand.len() <= 45 && colons >= 2 && (colons >= 7 || cand.contains("::")) {
            let groups = cand.split(':').filter(|g| !g.is_empty()).count();
            if groups >= 3 && cand.parse::<Ipv6Addr>().is_ok() {
                out.push(PiiMatch {
                    start: i,
                    end: e,
                    kind: PiiKind::Ip,
                });
            }
        }
        i = j.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, PiiKind)> {
        let mut out = Vec::new();
        find("", text, &Policy::default(), &mut out);
        out.iter()
            .map(|m| (&text[m.start..m.end], m.kind))
            .collect()
    }

    #[test]
    fn finds_valid_personal_data() {
        assert_eq!(
            kinds("Call me at (555) 123-4567"),
            [("(555) 123-4567", PiiKind::Phone)]
        );
        assert_eq!(
            kinds("mail jo.doe+x@school.example.org."),
            [("jo.doe+x@school.example.org", PiiKind::Email)]
        );
        assert_eq!(kinds("SSN 123-45-6789"), [("123-45-6789", PiiKind::Ssn)]);
        assert_eq!(
            kinds("card 4111 1111 1111 1111"),
            [("4111 1111 1111 1111", PiiKind::Card)]
        );
        assert_eq!(
            kinds("IBAN GB82 WEST 1234 5698 7654 32 ok"),
            [("GB82 WEST 1234 5698 7654 32", PiiKind::Iban)]
        );
        assert_eq!(
            kinds("from 192.168.1.20 today"),
            [("192.168.1.20", PiiKind::Ip)]
        );
        assert_eq!(
            kinds("host 2001:db8::8a2e:370:7334"),
            [("2001:db8::8a2e:370:7334", PiiKind::Ip)]
        );
        assert_eq!(
            kinds("Student ID: 4417823"),
            [("4417823", PiiKind::StudentId)]
        );
        assert_eq!(kinds("DOB: 03/14/2012"), [("03/14/2012", PiiKind::Dob)]);
        assert_eq!(
            kinds("born on March 3, 2011"),
            [("March 3, 2011", PiiKind::Dob)]
        );
        assert_eq!(
            kinds("Phone:\n0490 75 40 81"),
            [("0490 75 40 81", PiiKind::Phone)]
        );
        assert_eq!(
            kinds("+41 (0)96 471 07 95"),
            [("+41 (0)96 471 07 95", PiiKind::Phone)]
        );
        assert_eq!(
            kinds("Fax: 345-899-3560x4587"),
            [("345-899-3560x4587", PiiKind::Phone)]
        );
        assert_eq!(
            kinds("+1-604-696-5272 ext. 565."),
            [("+1-604-696-5272 ext. 565", PiiKind::Phone)]
        );
    }

    #[test]
    fn judges_long_runs_piece_by_piece() {
        for n in [10, 63, 64, 65, 200] {
            let text = format!("{}555-123-4567 and 4111 1111 1111 1111", "12 ".repeat(n));
            let expected = [
                ("555-123-4567", PiiKind::Phone),
                ("4111 1111 1111 1111", PiiKind::Card),
            ];
            assert_eq!(kinds(&text), expected, "{n}");
            let text = format!("{}4111 1111 1111 1111", "7 ".repeat(n));
            assert_eq!(
                kinds(&text),
                [("4111 1111 1111 1111", PiiKind::Card)],
                "{n}"
            );
        }
    }

    #[test]
    fn ignores_look_alikes() {
        for text in [
            "ISBN 978-0-306-40615-7",
            "ISBN 9780306406157",
            "at 2023-10-15 14:30:00",
            "ZIP 12345-6789",
            "pi is 3.14159265358979323846264338327950288",
            "SSN 000-12-3456 and 666-12-3456 and 912-12-3456 and 123-00-4567",
            "card 4111 1111 1111 1112",
            "version 1.2.3.4",
            "one = 1, Total = $5",
            "the years 1914 1918 1939 1945",
            "Population 331,449,281 in 2020",
            "timestamp 1700000000",
            "call 911",
        ] {
            assert_eq!(kinds(text), [], "{text}");
        }
    }
}
