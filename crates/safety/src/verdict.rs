//! What a check returns: the action, why, where, and the rewritten text.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// What happens to the text. Ordered by severity: `Allowed < Sanitized < Redacted <
/// Blocked < Escalated`; when several filters fire, the most severe action wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do; the text goes through unchanged.
    Allowed,
    /// Active content was removed; the rewritten text goes through.
    Sanitized,
    /// Personal data was replaced by placeholders; the rewritten text goes through.
    Redacted,
    /// The text is withheld.
    Blocked,
    /// The text is withheld and the event is flagged for the tenant's designated staff
    /// (self-harm).
    Escalated,
}

impl Action {
    /// Whether the (possibly rewritten) text may go on to the model or the reader.
    pub fn passes(self) -> bool {
        matches!(self, Action::Allowed | Action::Sanitized | Action::Redacted)
    }

    /// The lower-case name used in JSON and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allowed => "allowed",
            Action::Sanitized => "sanitized",
            Action::Redacted => "redacted",
            Action::Blocked => "blocked",
            Action::Escalated => "escalated",
        }
    }
}

/// Which filter a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Prompt injection (input only).
    Injection,
    /// Active content: script, handlers, dangerous URLs, exfiltrating images (output only).
    Xss,
    /// Personal data.
    Pii,
    /// The content classifier (violence, self-harm, drugs, ...).
    Inappropriate,
}

impl Category {
    /// The lower-case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Injection => "injection",
            Category::Xss => "xss",
            Category::Pii => "pii",
            Category::Inappropriate => "inappropriate",
        }
    }
}

/// One matched region of the original text (byte offsets, `start..end`) and the rule that
/// matched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// Stable rule id, e.g. `pii.phone`, `xss.event_handler`, `injection.override`,
    /// `content.self_harm`.
    pub rule: Cow<'static, str>,
    pub category: Category,
    /// E.g. `phone`, `script`, `override`, `violence`.
    pub subcategory: Cow<'static, str>,
    /// What this finding alone asks for (input PII is `allowed`: recorded, not blocked).
    pub action: Action,
}

/// Per-category scores in 0..=1, in the shape of OpenAI's moderation `category_scores`.
/// Our categories map onto theirs: weapons and violence to `violence`, bullying to
/// `harassment`, explicit to `sexual`, drugs and alcohol to `illicit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryScores {
    pub harassment: f32,
    #[serde(rename = "harassment/threatening")]
    pub harassment_threatening: f32,
    pub hate: f32,
    #[serde(rename = "hate/threatening")]
    pub hate_threatening: f32,
    pub illicit: f32,
    #[serde(rename = "illicit/violent")]
    pub illicit_violent: f32,
    #[serde(rename = "self-harm")]
    pub self_harm: f32,
    #[serde(rename = "self-harm/intent")]
    pub self_harm_intent: f32,
    #[serde(rename = "self-harm/instructions")]
    pub self_harm_instructions: f32,
    pub sexual: f32,
    #[serde(rename = "sexual/minors")]
    pub sexual_minors: f32,
    pub violence: f32,
    #[serde(rename = "violence/graphic")]
    pub violence_graphic: f32,
}

/// The outcome of screening one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Whether the text (or its rewrite) may go on: `action` is allowed, sanitized or
    /// redacted.
    pub passed: bool,
    pub action: Action,
    /// The category behind `action`; `None` when allowed.
    pub category: Option<Category>,
    /// E.g. `self_harm`, `phone`, `script`, `override`; `None` when allowed.
    pub subcategory: Option<String>,
    /// How sure we are of `action`, in 0..=1.
    pub confidence: f32,
    /// One human-readable sentence for operators ("why was this blocked?").
    pub detail: String,
    pub category_scores: CategoryScores,
    /// Every finding, in text order, including recorded-only ones (input PII).
    pub spans: Vec<Span>,
    /// The rewritten text when `action` is sanitized or redacted; `None` otherwise.
    pub text: Option<String>,
}
