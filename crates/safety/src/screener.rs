//! Screening as a left-to-right pass over units (see `segment`): the whole-text check and
//! the stream screener are the same code, fed in one piece or in chunks.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::active;
use crate::classifier::{Classifier, Hit};
use crate::injection::{base64_payloads, InjectionHit};
use crate::lexicon::Topic;
use crate::model::{Class, Pool, Words, CLASSES, POOLED};
use crate::normalize::{normalize, normalize_into, Normalized};
use crate::pii::{self, PiiKind, PiiMatch};
use crate::policy::{Direction, Level, Policy};
use crate::segment::Segmenter;
use crate::verdict::{Action, Category, CategoryScores, Span, Verdict};
use crate::Pipeline;

/// Self-harm is escalated from this score at every level.
pub const SELF_HARM_THRESHOLD: u32 = 3;
/// Normalised text carried from one unit into the next, so phrases and injection
/// patterns that straddle a cut are still seen.
const NORM_CARRY: usize = 64;
/// Original text carried for context words ("Phone:", "DOB") before a unit.
const ORIG_CARRY: usize = 64;
/// Recorded spans per lexicon phrase and in total (counts and scores are not capped).
const SPANS_PER_PHRASE: u32 = 16;
const MAX_SPANS: usize = 4096;

/// Screens a text that arrives in pieces (a streamed model answer). `push` returns the
/// text that is final and safe to release; `finish` returns the rest and the verdict,
/// which is exactly what [`Pipeline::check_output`] (or `check_input`) says of the whole
/// text, and the released pieces put together are exactly its rewritten text.
///
/// Text is held back until a cut point (see the `segment` module): normally at most 64
/// bytes plus the word being written; longer only inside an HTML tag or dangerous element,
/// a Markdown link, or a run of numbers, which must be judged whole. Once the verdict is
/// certain to block (a blocking category's score only grows), nothing more is released.
pub struct Screener<'p> {
    pipeline: &'p Pipeline,
    policy: Policy,
    direction: Direction,
    segmenter: Segmenter,
    cuts: Vec<usize>,
    pending: String,
    pending_base: usize,
    utf8_carry: Vec<u8>,
    carry: Carry,
    acc: Accumulator,
    halted: bool,
    /// Whether `push` returns text (the whole-text check does not need it).
    release: bool,
    /// The lexicon automaton's state and its position in the normalised stream.
    ac_state: aho_corasick::automaton::StateID,
    stream_pos: usize,
    /// Injection anchor families seen in the previous unit.
    prev_families: u8,
    /// The learned stage's running state (see `model`).
    learned: Learned,
    scratch: Scratch,
}

/// The learned stage's state: feature sums of the whole text so far. After each unit the
/// model scores the text so far; the verdict keeps the highest score. Units depend only
/// on the text, so this is the same for any chunking.
#[derive(Default)]
struct Learned {
    words: Words,
    total: [i32; CLASSES],
    total_n: u32,
    /// The pooled word vectors of the text so far.
    pool: Pool,
    /// Whether a protected group / a first-person word was named in the text so far.
    group: bool,
    me: bool,
    /// Whether the text opens with a question word ("why", "what", "can", ...), once
    /// its first word is seen: a question about a group is left to the hate rules.
    question: Option<bool>,
    /// Normalised bytes scored so far.
    len: usize,
}

/// The model was trained on single prompts and statements; it scores the text while it
/// is at most this long (normalised bytes) and is silent on longer documents, which are
/// out of its training distribution and left to the rules.
const PROMPT_LEN: usize = 320;

/// What the end of the stream yields.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEnd {
    /// The last releasable text (empty when the verdict withholds the text).
    pub tail: String,
    pub verdict: Verdict,
}

#[derive(Default)]
struct Carry {
    norm: String,
    norm_starts: Vec<usize>,
    norm_ends: Vec<usize>,
    orig: String,
}

impl<'p> Screener<'p> {
    pub(crate) fn new(pipeline: &'p Pipeline, direction: Direction, policy: &Policy) -> Self {
        // The normalised stream starts with a space, the left edge of the first word.
        let mut ac_state = pipeline.classifier.start();
        pipeline
            .classifier
            .feed(&mut ac_state, b" ", 0, &mut Vec::new(), &mut 0);
        Self {
            pipeline,
            policy: policy.clone(),
            direction,
            segmenter: Segmenter::default(),
            cuts: Vec::new(),
            pending: String::new(),
            pending_base: 0,
            utf8_carry: Vec::new(),
            carry: Carry::default(),
            acc: Accumulator::new(pipeline, direction, policy),
            halted: false,
            release: true,
            ac_state,
            stream_pos: 1,
            prev_families: 0,
            learned: Learned::default(),
            scratch: SPARE.with(|c| c.take()).unwrap_or_default(),
        }
    }

    /// A screener whose `push` returns nothing, for the whole-text check.
    pub(crate) fn without_release(mut self) -> Self {
        self.release = false;
        self
    }

    /// Adds a chunk; returns the text that can be released now (possibly empty).
    pub fn push(&mut self, chunk: &str) -> String {
        if chunk.is_empty() {
            return String::new();
        }
        let base = self.pending_base + self.pending.len();
        let mut cuts = std::mem::take(&mut self.cuts);
        cuts.clear();
        self.segmenter.scan(chunk, base, &mut cuts);
        let mut released = String::new();
        // Units are screened straight from `chunk` where they lie inside it; only a
        // unit that began in an earlier chunk, and the tail after the last cut, are
        // copied into `pending`.
        let mut from = 0;
        for &cut in &cuts {
            if cut <= base {
                // Decided with lookahead: the cut lies in text held from earlier.
                let rest = self.pending.split_off(cut - self.pending_base);
                let unit = std::mem::replace(&mut self.pending, rest);
                self.unit(&unit, self.pending_base, false, &mut released);
                self.pending_base = cut;
                continue;
            }
            let rel = cut - base;
            if self.pending.is_empty() {
                self.unit(&chunk[from..rel], base + from, false, &mut released);
            } else {
                self.pending.push_str(&chunk[from..rel]);
                let mut unit = std::mem::take(&mut self.pending);
                self.unit(&unit, self.pending_base, false, &mut released);
                unit.clear();
                self.pending = unit;
            }
            self.pending_base = cut;
            from = rel;
        }
        self.cuts = cuts;
        self.pending.push_str(&chunk[from..]);
        released
    }

    /// Adds raw bytes, decoding UTF-8 across chunk boundaries; invalid sequences become
    /// U+FFFD exactly as [`String::from_utf8_lossy`] would on the whole input.
    pub fn push_bytes(&mut self, chunk: &[u8]) -> String {
        let mut buf = std::mem::take(&mut self.utf8_carry);
        buf.extend_from_slice(chunk);
        let mut text = String::new();
        let mut rest: &[u8] = &buf;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    text.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    text.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            text.push('\u{FFFD}');
                            rest = &bad[n..];
                        }
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        self.utf8_carry = rest.to_vec();
        self.push(&text)
    }

    /// Ends the stream: screens what is still held back and returns it with the verdict.
    pub fn finish(mut self) -> StreamEnd {
        let mut tail = String::new();
        if !self.utf8_carry.is_empty() {
            // A truncated sequence at the very end: lossy decoding makes it U+FFFD.
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.utf8_carry)).into_owned();
            tail = self.push(&rest);
        }
        let unit = std::mem::take(&mut self.pending);
        if !unit.is_empty() || self.acc.units == 0 {
            self.unit(&unit, self.pending_base, true, &mut tail);
        }
        let verdict = self.acc.verdict(&self.policy, self.direction);
        if !verdict.passed {
            tail.clear();
        }
        StreamEnd { tail, verdict }
    }

    /// Screens one unit at absolute offset `at` and appends what may be released.
    fn unit(&mut self, unit: &str, at: usize, last: bool, released: &mut String) {
        self.acc.units += 1;
        let output = self.direction == Direction::Output;
        let classifier = &self.pipeline.classifier;
        let Scratch {
            norm,
            window,
            hits,
            inj,
            found,
            redacted,
            shifts,
            next,
        } = &mut self.scratch;

        // Keywords and injection on the normalised text, with the carried tail.
        normalize_into(unit, norm);
        window.clear();
        window.reserve(self.carry.norm.len() + norm.text.len() + 2);
        window.push(' ');
        window.push_str(&self.carry.norm);
        let new_from = window.len();
        window.push_str(&norm.text);
        if last && !window.ends_with(' ') {
            window.push(' ');
        }
        let carry = &self.carry;
        let norm_ref = &*norm;
        let start_of = |w: usize| -> usize {
            if w < new_from {
                carry.norm_starts.get(w - 1).copied().unwrap_or(at)
            } else {
                norm_ref
                    .starts
                    .get(w - new_from)
                    .map(|&s| at + s as usize)
                    .unwrap_or(at + unit.len())
            }
        };
        let end_of = |w_last: usize| -> usize {
            if w_last < new_from {
                carry.norm_ends.get(w_last - 1).copied().unwrap_or(at)
            } else {
                norm_ref
                    .ends
                    .get(w_last - new_from)
                    .map(|&e| at + e as usize)
                    .unwrap_or(at + unit.len())
            }
        };
        // The lexicon automaton continues from where the previous unit left it.
        let unit_pos = self.stream_pos;
        hits.clear();
        let mut families = 0u8;
        classifier.feed(
            &mut self.ac_state,
            norm.text.as_bytes(),
            unit_pos,
            hits,
            &mut families,
        );
        self.stream_pos += norm.text.len();
        if window.len() > new_from + norm.text.len() {
            // The framing space after the last unit.
            classifier.feed(
                &mut self.ac_state,
                b" ",
                self.stream_pos,
                hits,
                &mut families,
            );
            self.stream_pos += 1;
        }
        Classifier::drop_contained(hits);
        let carried = new_from - 1;
        let to_window = |p: usize| (p + 1 + carried).saturating_sub(unit_pos).max(1);
        for h in hits.iter() {
            let topic = Classifier::topic(h.phrase);
            if topic != Topic::Benign {
                let span = (start_of(to_window(h.start)), end_of(to_window(h.end - 1)));
                self.acc.add_phrase(h.phrase, topic, span);
            }
        }
        let model = &self.pipeline.model;
        if model.active() && self.learned.len + norm.text.len() <= PROMPT_LEN {
            let l = &mut self.learned;
            let mut sum = [0i32; CLASSES];
            let mut n = 0u32;
            let mut group = false;
            let mut me = false;
            let question = &mut l.question;
            let pool = &mut l.pool;
            l.words.feed_words(
                &norm.text,
                |b, word| {
                    model.add(b, &mut sum);
                    n += 1;
                    group |= word && model.is_group(b);
                    me |= word && model.is_self(b);
                    if word && question.is_none() {
                        *question = Some(model.is_question(b));
                    }
                },
                |k| pool.add(k),
            );
            l.len += norm.text.len();
            if n > 0 {
                let span = (at, at + unit.len());
                l.group |= group;
                l.me |= me;
                l.total_n += n;
                if !output && l.group {
                    // Hateful statements by structure, in prompts that name a group.
                    let acc = &mut self.acc;
                    crate::hate::HATE.scan(window, new_from, |rule, weight, s, e| {
                        acc.add_rule(
                            rule,
                            Topic::Hate,
                            weight,
                            (start_of(s.max(1)), end_of(e.max(2) - 1)),
                        );
                    });
                }
                let mut pooled = [0.0; POOLED];
                l.pool.features(&mut pooled);
                for (k, add) in sum.iter().enumerate() {
                    l.total[k] += add;
                    // Hate needs a target, a named group; self-harm needs the writer to
                    // speak of themself, or not to be asking a question.
                    let target = match k {
                        k if k == Class::Hate as usize => l.group && l.question != Some(true),
                        // (Third round: or a statement, not a question: young writers
                        // drop the pronoun, "wanna disappear", "can't do this anymore".)
                        k if k == Class::SelfHarm as usize => l.me || l.question == Some(false),
                        _ => true,
                    };
                    if target {
                        self.acc
                            .add_model(k, model.logit(k, l.total[k], l.total_n, &pooled), span);
                    }
                }
            }
        } else {
            self.learned.len += norm.text.len();
        }
        let anchors = families | self.prev_families;
        self.prev_families = families;
        if !output && anchors != 0 {
            inj.clear();
            self.pipeline.injection.scan(window, new_from, anchors, inj);
            for h in inj.iter() {
                self.acc.add_injection(
                    h.rule,
                    h.sub,
                    (start_of(h.start.max(1)), end_of(h.end - 1)),
                );
            }
        }
        if !output {
            for (s, e, decoded) in base64_payloads(unit) {
                let d = normalize(&decoded);
                let framed = format!(" {} ", d.text.trim_end());
                if self.pipeline.injection.matches_decoded(&framed) {
                    self.acc
                        .add_injection("injection.encoding", "encoding", (at + s, at + e));
                }
            }
        }

        // Carry the last words of normalised text into the next unit.
        let wlen = window.len();
        let mut from = wlen.saturating_sub(NORM_CARRY).max(1);
        while from < wlen && (!window.is_char_boundary(from) || window.as_bytes()[from - 1] != b' ')
        {
            from += 1;
        }
        next.norm.clear();
        next.norm_starts.clear();
        next.norm_ends.clear();
        next.orig.clear();
        next.norm.push_str(&window[from..]);
        let split = from.max(new_from).min(wlen);
        if from < new_from {
            next.norm_starts
                .extend_from_slice(&carry.norm_starts[from - 1..new_from - 1]);
            next.norm_ends
                .extend_from_slice(&carry.norm_ends[from - 1..new_from - 1]);
        }
        let have = norm.text.len().min(wlen - new_from);
        let lo = split - new_from;
        next.norm_starts.extend(
            norm.starts[lo.min(have)..have]
                .iter()
                .map(|&x| at + x as usize),
        );
        next.norm_ends.extend(
            norm.ends[lo.min(have)..have]
                .iter()
                .map(|&x| at + x as usize),
        );
        while next.norm_starts.len() < next.norm.len() {
            // The framing space added after the last unit.
            next.norm_starts.push(at + unit.len());
            next.norm_ends.push(at + unit.len());
        }

        // Personal data on the original text.
        found.clear();
        pii::find(&carry.orig, unit, &self.policy, found);
        let mut k = unit.len().saturating_sub(ORIG_CARRY);
        while !unit.is_char_boundary(k) {
            k += 1;
        }
        if unit.len() - k < ORIG_CARRY {
            let keep = ORIG_CARRY - (unit.len() - k);
            let prev = &carry.orig;
            let mut p = prev.len().saturating_sub(keep);
            while !prev.is_char_boundary(p) {
                p += 1;
            }
            next.orig.push_str(&prev[p..]);
        }
        next.orig.push_str(&unit[k..]);
        std::mem::swap(&mut self.carry, next);

        let action = if output {
            Action::Redacted
        } else {
            Action::Allowed
        };
        for m in found.iter() {
            self.acc.add_pii(m.kind, (at + m.start, at + m.end), action);
        }
        if !output {
            self.acc
                .check_halt(&self.policy, self.direction, &mut self.halted);
            if self.release && !self.halted {
                released.push_str(unit);
            }
            return;
        }

        // Redact, then sanitise the redacted text, mapping spans back to the original.
        redacted.clear();
        shifts.clear();
        let mut last_end = 0;
        for m in found.iter() {
            redacted.push_str(&unit[last_end..m.start]);
            let rs = redacted.len();
            redacted.push_str(m.kind.placeholder());
            shifts.push((m.start, m.end, rs, redacted.len()));
            last_end = m.end;
        }
        redacted.push_str(&unit[last_end..]);
        let to_orig = |x: usize, is_end: bool| -> usize {
            let mut delta: isize = 0;
            for &(os, oe, rs, re) in shifts.iter() {
                if x < rs {
                    break;
                }
                if x < re || (is_end && x == re) {
                    return if is_end { oe } else { os };
                }
                delta = oe as isize - re as isize;
            }
            (x as isize + delta) as usize
        };
        let mark = self.acc.rewritten.len();
        let edits = if redacted.contains('<') || redacted.contains("](") {
            active::scan(redacted)
        } else {
            Vec::new()
        };
        let mut last_end = 0;
        for e in &edits {
            self.acc.rewritten.push_str(&redacted[last_end..e.start]);
            self.acc.rewritten.push_str(&e.replacement);
            last_end = e.end;
            self.acc.add_xss(
                e.rule,
                e.sub,
                (at + to_orig(e.start, false), at + to_orig(e.end, true)),
            );
        }
        self.acc.rewritten.push_str(&redacted[last_end..]);
        // Whatever could still run after the islands (legacy-parser tricks, bare or
        // encoded script URLs in text and Markdown) is made inert.
        if let Some(safe) = active::residual(&self.acc.rewritten[mark..]) {
            self.acc.rewritten.truncate(mark);
            self.acc.rewritten.push_str(&safe);
            self.acc
                .add_xss("xss.residual", "residual", (at, at + unit.len()));
        }
        self.acc
            .check_halt(&self.policy, self.direction, &mut self.halted);
        if self.release && !self.halted {
            released.push_str(&self.acc.rewritten[mark..]);
        }
    }
}

/// Largest normalised-text capacity whose buffers are kept for the thread's next
/// screener (about 9 bytes of buffers per byte of unit, so at most ~20 MB a thread).
const SPARE_MAX: usize = 2 << 20;

thread_local! {
    /// The last finished screener's buffers: the next check on this thread reuses them
    /// instead of allocating (and, for long units, faulting in) fresh memory.
    static SPARE: std::cell::Cell<Option<Scratch>> = const { std::cell::Cell::new(None) };
}

impl Drop for Screener<'_> {
    fn drop(&mut self) {
        if self.scratch.norm.text.capacity() <= SPARE_MAX
            && self.scratch.window.capacity() <= SPARE_MAX
        {
            let scratch = std::mem::take(&mut self.scratch);
            SPARE.with(|c| c.set(Some(scratch)));
        }
    }
}

/// Buffers reused from unit to unit.
#[derive(Default)]
struct Scratch {
    norm: Normalized,
    window: String,
    hits: Vec<Hit>,
    inj: Vec<InjectionHit>,
    found: Vec<PiiMatch>,
    redacted: String,
    shifts: Vec<(usize, usize, usize, usize)>,
    next: Carry,
}

/// Everything found so far.
struct Accumulator {
    units: usize,
    spans: Vec<Span>,
    phrases: HashSet<u16>,
    phrase_spans: std::collections::HashMap<u16, u32>,
    scores: [u32; 9],
    matched: [Vec<&'static str>; 9],
    injection: Option<(&'static str, &'static str)>,
    injections: usize,
    xss: Option<&'static str>,
    xss_count: usize,
    pii: Vec<PiiKind>,
    rewritten: String,
    /// The learned stage: highest logit per class, where it was reached, and the
    /// threshold that applies to this direction and level.
    model_best: [f32; CLASSES],
    model_span: [(usize, usize); CLASSES],
    model_threshold: [f32; CLASSES],
    /// The lower threshold that applies when the rules found some evidence too.
    model_support: [f32; CLASSES],
    /// Structural rules already counted.
    rules: Vec<&'static str>,
}

impl Accumulator {
    fn new(pipeline: &Pipeline, direction: Direction, policy: &Policy) -> Self {
        let level = match policy.effective_level(direction) {
            Level::Strict => 0,
            Level::Moderate => 1,
            Level::Standard => 2,
        };
        // Self-harm is judged at every level and both ways. Hazard and hate are judged on
        // prompts and only at `strict` (K-5): at `moderate` and `standard` the keyword
        // thresholds already let older students ask about, say, weapons or drugs, and a
        // model verdict would override that graded choice.
        let applies =
            |c: Class| c == Class::SelfHarm || (direction == Direction::Input && level == 0);
        let model_threshold = Class::ALL.map(|c| {
            if applies(c) {
                pipeline.model.threshold(c as usize, level)
            } else {
                f32::INFINITY
            }
        });
        let model_support = Class::ALL.map(|c| {
            if applies(c) {
                pipeline.model.threshold(c as usize, 3)
            } else {
                f32::INFINITY
            }
        });
        Self {
            units: 0,
            spans: Vec::new(),
            phrases: HashSet::new(),
            phrase_spans: std::collections::HashMap::new(),
            scores: [0; 9],
            matched: Default::default(),
            injection: None,
            injections: 0,
            xss: None,
            xss_count: 0,
            pii: Vec::new(),
            rewritten: String::new(),
            model_best: [f32::NEG_INFINITY; CLASSES],
            model_span: [(0, 0); CLASSES],
            model_threshold,
            model_support,
            rules: Vec::new(),
        }
    }

    fn add_model(&mut self, k: usize, logit: f32, span: (usize, usize)) {
        if logit > self.model_best[k] {
            self.model_best[k] = logit;
            self.model_span[k] = span;
        }
    }

    /// Whether the model's verdict for a class stands: over its level's threshold on its
    /// own, or over the lower supported threshold when the rules found the same kind of
    /// harm below their own threshold.
    fn model_over(&self, c: Class) -> bool {
        let best = self.model_best[c as usize];
        if best >= self.model_threshold[c as usize] {
            return true;
        }
        let support = |t: &[Topic]| t.iter().map(|t| self.scores[t.index()]).sum::<u32>() > 0;
        best >= self.model_support[c as usize]
            && match c {
                Class::SelfHarm => support(&[Topic::SelfHarm]),
                Class::Hazard => support(&[
                    Topic::Violence,
                    Topic::Weapons,
                    Topic::DrugsAlcohol,
                    Topic::Explicit,
                    Topic::Crime,
                ]),
                Class::Hate => support(&[Topic::Hate, Topic::Bullying, Topic::Violence]),
            }
    }

    /// The model's probability for a class, for `category_scores`.
    fn model_prob(&self, c: Class) -> f32 {
        let x = self.model_best[c as usize];
        if x == f32::NEG_INFINITY {
            0.0
        } else {
            1.0 / (1.0 + (-x).exp())
        }
    }

    fn push_span(&mut self, span: Span) {
        if self.spans.len() < MAX_SPANS {
            self.spans.push(span);
        }
    }

    /// A structural rule (not a lexicon phrase) adding to a topic's score, once per rule.
    fn add_rule(
        &mut self,
        rule: &'static str,
        topic: Topic,
        weight: u32,
        (start, end): (usize, usize),
    ) {
        let t = topic.index();
        if self.rules.contains(&rule) {
            return;
        }
        self.rules.push(rule);
        self.scores[t] += weight;
        if self.matched[t].len() < 5 {
            self.matched[t].push(rule);
        }
        self.push_span(Span {
            start,
            end,
            rule: Cow::Borrowed(rule),
            category: Category::Inappropriate,
            subcategory: Cow::Borrowed(topic.as_str()),
            action: Action::Blocked,
        });
    }

    fn add_phrase(&mut self, phrase: u16, topic: Topic, (start, end): (usize, usize)) {
        let t = topic.index();
        if self.phrases.insert(phrase) {
            self.scores[t] += Classifier::weight(phrase);
            if self.matched[t].len() < 5 {
                self.matched[t].push(Classifier::text(phrase));
            }
        }
        let n = self.phrase_spans.entry(phrase).or_insert(0);
        *n += 1;
        if *n <= SPANS_PER_PHRASE {
            let action = if topic == Topic::SelfHarm {
                Action::Escalated
            } else {
                Action::Blocked
            };
            self.push_span(Span {
                start,
                end,
                rule: Cow::Borrowed(topic.rule()),
                category: Category::Inappropriate,
                subcategory: Cow::Borrowed(topic.as_str()),
                action,
            });
        }
    }

    fn add_injection(
        &mut self,
        rule: &'static str,
        sub: &'static str,
        (start, end): (usize, usize),
    ) {
        self.injections += 1;
        self.injection.get_or_insert((rule, sub));
        self.push_span(Span {
            start,
            end,
            rule: Cow::Borrowed(rule),
            category: Category::Injection,
            subcategory: Cow::Borrowed(sub),
            action: Action::Blocked,
        });
    }

    fn add_pii(&mut self, kind: PiiKind, (start, end): (usize, usize), action: Action) {
        if !self.pii.contains(&kind) {
            self.pii.push(kind);
        }
        self.push_span(Span {
            start,
            end,
            rule: Cow::Borrowed(kind.rule()),
            category: Category::Pii,
            subcategory: Cow::Borrowed(kind.as_str()),
            action,
        });
    }

    fn add_xss(&mut self, rule: &'static str, sub: &'static str, (start, end): (usize, usize)) {
        self.xss_count += 1;
        self.xss.get_or_insert(sub);
        self.push_span(Span {
            start,
            end,
            rule: Cow::Borrowed(rule),
            category: Category::Xss,
            subcategory: Cow::Borrowed(sub),
            action: Action::Sanitized,
        });
    }

    /// Topics at or over the level's threshold, most over first.
    fn blocking_topics(&self, level: Level) -> Vec<Topic> {
        let threshold = level.threshold();
        let mut over: Vec<Topic> = Topic::SCORED
            .iter()
            .copied()
            .filter(|&t| t != Topic::SelfHarm && self.scores[t.index()] >= threshold)
            .collect();
        over.sort_by_key(|t| std::cmp::Reverse(self.scores[t.index()]));
        over
    }

    fn action(&self, policy: &Policy, direction: Direction) -> Action {
        let level = policy.effective_level(direction);
        if self.scores[Topic::SelfHarm.index()] >= SELF_HARM_THRESHOLD
            || self.model_over(Class::SelfHarm)
        {
            Action::Escalated
        } else if self.injection.is_some()
            || !self.blocking_topics(level).is_empty()
            || self.model_over(Class::Hazard)
            || self.model_over(Class::Hate)
        {
            Action::Blocked
        } else if direction == Direction::Output && !self.pii.is_empty() {
            Action::Redacted
        } else if direction == Direction::Output && self.xss.is_some() {
            Action::Sanitized
        } else {
            Action::Allowed
        }
    }

    fn check_halt(&self, policy: &Policy, direction: Direction, halted: &mut bool) {
        if !self.action(policy, direction).passes() {
            *halted = true;
        }
    }

    fn scores(&self, level: Level) -> CategoryScores {
        let s = |t: Topic| {
            let raw = self.scores[t.index()] as f32;
            let scale = if t == Topic::SelfHarm {
                SELF_HARM_THRESHOLD as f32 * 2.0
            } else {
                level.threshold() as f32 * 2.0
            };
            (raw / scale).min(1.0)
        };
        let violence = s(Topic::Violence).max(s(Topic::Weapons));
        let self_harm = s(Topic::SelfHarm).max(self.model_prob(Class::SelfHarm));
        let hate = s(Topic::Hate).max(self.model_prob(Class::Hate));
        CategoryScores {
            harassment: s(Topic::Bullying),
            harassment_threatening: s(Topic::Bullying).min(s(Topic::Violence)),
            hate,
            hate_threatening: hate.min(s(Topic::Violence)),
            illicit: s(Topic::DrugsAlcohol)
                .max(s(Topic::Weapons))
                .max(s(Topic::Crime))
                .max(self.model_prob(Class::Hazard)),
            illicit_violent: s(Topic::Weapons),
            self_harm,
            self_harm_intent: self_harm,
            self_harm_instructions: 0.0,
            sexual: s(Topic::Explicit),
            sexual_minors: 0.0,
            violence,
            violence_graphic: s(Topic::Violence),
        }
    }

    fn verdict(&mut self, policy: &Policy, direction: Direction) -> Verdict {
        let level = policy.effective_level(direction);
        let action = self.action(policy, direction);
        let threshold = level.threshold();
        let quoted = |t: Topic| {
            self.matched[t.index()]
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (category, sub, confidence, detail): (Option<Category>, Option<String>, f32, String) =
            match action {
                Action::Escalated => {
                    let score = self.scores[Topic::SelfHarm.index()];
                    if score >= SELF_HARM_THRESHOLD {
                        (
                            Some(Category::Inappropriate),
                            Some("self_harm".into()),
                            (0.6 + 0.05 * score as f32).min(0.99),
                            format!(
                                "self_harm score {score} >= {SELF_HARM_THRESHOLD} (escalated at every level); matched {}",
                                quoted(Topic::SelfHarm)
                            ),
                        )
                    } else {
                        let p = self.model_prob(Class::SelfHarm);
                        (
                            Some(Category::Inappropriate),
                            Some("self_harm".into()),
                            p.clamp(0.5, 0.99),
                            format!(
                                "self_harm model probability {p:.2} over its threshold (escalated at every level)"
                            ),
                        )
                    }
                }
                Action::Blocked => match self.injection {
                    Some((rule, sub)) => (
                        Some(Category::Injection),
                        Some(sub.into()),
                        0.9,
                        format!("prompt injection ({rule}), {} match(es)", self.injections),
                    ),
                    None if self.blocking_topics(level).is_empty() => {
                        let class = if self.model_over(Class::Hate)
                            && self.model_best[Class::Hate as usize]
                                - self.model_threshold[Class::Hate as usize]
                                >= self.model_best[Class::Hazard as usize]
                                    - self.model_threshold[Class::Hazard as usize]
                        {
                            Class::Hate
                        } else {
                            Class::Hazard
                        };
                        let p = self.model_prob(class);
                        (
                            Some(Category::Inappropriate),
                            Some(class.as_str().into()),
                            p.clamp(0.5, 0.99),
                            format!(
                                "{} model probability {p:.2} over its {} threshold",
                                class.as_str(),
                                level.as_str()
                            ),
                        )
                    }
                    None => {
                        let topic = self.blocking_topics(level)[0];
                        let score = self.scores[topic.index()];
                        let over = (score - threshold) as f32 / threshold as f32;
                        (
                            Some(Category::Inappropriate),
                            Some(topic.as_str().into()),
                            (0.6 + 0.4 * over).min(0.99),
                            format!(
                                "{} score {score} >= {threshold} ({}); matched {}",
                                topic.as_str(),
                                level.as_str(),
                                quoted(topic)
                            ),
                        )
                    }
                },
                Action::Redacted => (
                    Some(Category::Pii),
                    Some(self.pii[0].as_str().into()),
                    0.95,
                    format!(
                        "redacted personal data: {}",
                        self.pii
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                Action::Sanitized => (
                    Some(Category::Xss),
                    self.xss.map(Into::into),
                    0.95,
                    format!("removed active content ({} item(s))", self.xss_count),
                ),
                Action::Allowed => {
                    let ratio = Topic::SCORED
                        .iter()
                        .map(|&t| {
                            let thr = if t == Topic::SelfHarm {
                                SELF_HARM_THRESHOLD
                            } else {
                                threshold
                            };
                            self.scores[t.index()] as f32 / thr as f32
                        })
                        .fold(0.0f32, f32::max);
                    let mut detail = "no findings".to_string();
                    if !self.pii.is_empty() {
                        detail = format!(
                            "personal data recorded, not blocked (input): {}",
                            self.pii
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    } else if ratio > 0.0 {
                        detail = format!("below the {} threshold", level.as_str());
                    }
                    (None, None, (1.0 - 0.5 * ratio).clamp(0.5, 1.0), detail)
                }
            };
        for c in Class::ALL {
            if self.model_over(c) {
                let (start, end) = self.model_span[c as usize];
                let action = if c == Class::SelfHarm {
                    Action::Escalated
                } else {
                    Action::Blocked
                };
                self.push_span(Span {
                    start,
                    end,
                    rule: Cow::Borrowed(c.rule()),
                    category: Category::Inappropriate,
                    subcategory: Cow::Borrowed(c.as_str()),
                    action,
                });
            }
        }
        let mut spans = std::mem::take(&mut self.spans);
        spans.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(a.end.cmp(&b.end))
                .then(a.rule.cmp(&b.rule))
        });
        let text = matches!(action, Action::Sanitized | Action::Redacted)
            .then(|| std::mem::take(&mut self.rewritten));
        Verdict {
            passed: action.passes(),
            action,
            category,
            subcategory: sub,
            confidence,
            detail,
            category_scores: self.scores(level),
            spans,
            text,
        }
    }
}
