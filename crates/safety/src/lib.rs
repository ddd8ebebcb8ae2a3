//! Child-safety screening for AI prompts and answers (spec 09, "The safety library").
//!
//! [`Pipeline::check_input`] and [`Pipeline::check_output`] run every filter on a text
//! and combine the results: the most severe action wins and redactions accumulate.
//!
//! * prompt injection (input): overrides, role-play jailbreaks, system-prompt
//!   extraction, encoded payloads, exfiltration instructions - `blocked`;
//! * active content (output): dangerous HTML islands are rewritten by ammonia, Markdown
//!   images that leak data and script links are replaced by their text - `sanitized`;
//! * personal data (both): validated emails, phones, SSNs, cards, IBANs, IPs, student
//!   ids, dates of birth - recorded on input, `redacted` on output;
//! * content classifier (both): weighted whole-word phrases on normalised text, per-level
//!   thresholds, staff prompts judged at `standard` at most, self-harm `escalated` at
//!   every level.
//!
//! [`Screener`] does the same on a stream, holding back at most a unit, and ends with the
//! same verdict and the same text as the whole-text check for any split of the input.
//! The library does no I/O and keeps no state between calls; build one [`Pipeline`] (or
//! use [`Pipeline::shared`]) and reuse it.

mod active;
mod classifier;
mod hate;
mod html;
mod injection;
mod lexicon;
mod model;
mod normalize;
mod pii;
mod policy;
mod screener;
mod segment;
mod verdict;

use std::sync::OnceLock;

pub use lexicon::Topic;
#[doc(hidden)]
pub use model::learn;
pub use pii::PiiKind;
pub use policy::{Direction, InvalidPattern, Level, Policy, Role, StudentIdPattern, UnknownValue};
pub use screener::{Screener, StreamEnd, SELF_HARM_THRESHOLD};
pub use verdict::{Action, Category, CategoryScores, Span, Verdict};

/// The compiled filters. The lexicon automaton (some 8,600 phrases with the
/// structured ones, about 0.25 s to build) and the injection rules are compiled once
/// per process, on first use, and shared; a further `Pipeline` costs microseconds.
/// Checks then take no locks and allocate little.
pub struct Pipeline {
    classifier: &'static classifier::Classifier,
    injection: &'static injection::Injection,
    model: model::Model,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Pipeline {
    pub fn new() -> Self {
        Self {
            classifier: {
                static CLASSIFIER: OnceLock<classifier::Classifier> = OnceLock::new();
                CLASSIFIER.get_or_init(classifier::Classifier::new)
            },
            injection: {
                static INJECTION: OnceLock<injection::Injection> = OnceLock::new();
                INJECTION.get_or_init(injection::Injection::new)
            },
            model: model::Model::embedded(),
        }
    }

    /// A process-wide pipeline, built on first use.
    pub fn shared() -> &'static Pipeline {
        static SHARED: OnceLock<Pipeline> = OnceLock::new();
        SHARED.get_or_init(Pipeline::new)
    }

    /// Screens a prompt on its way to the model.
    pub fn check_input(&self, text: &str, policy: &Policy) -> Verdict {
        self.check(text, Direction::Input, policy)
    }

    /// Screens an answer on its way to the reader.
    pub fn check_output(&self, text: &str, policy: &Policy) -> Verdict {
        self.check(text, Direction::Output, policy)
    }

    pub fn check(&self, text: &str, direction: Direction, policy: &Policy) -> Verdict {
        // The verdict carries the rewrite, so nothing needs releasing on the way.
        let mut screener = self.screener(direction, policy).without_release();
        let _ = screener.push(text);
        screener.finish().verdict
    }

    /// A stream screener for one text.
    pub fn screener(&self, direction: Direction, policy: &Policy) -> Screener<'_> {
        Screener::new(self, direction, policy)
    }
}
