//! Prompt injection: instruction overrides, role-play jailbreaks, system-prompt
//! extraction, encoded payloads and exfiltration instructions. Patterns run on the
//! normalised text (lower case, words separated by single spaces), so they are written
//! without punctuation or case variants.

use regex::{Regex, RegexSet};

/// `(rule id, sub-category, pattern)`.
const RULES: &[(&str, &str, &str)] = &[
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:ignore|disregard|forget|override|bypass|skip|neglect|dismiss|abandon|drop|ignoring|disregarding)(?: (?:all|any|every|the|your|my|of|these|those|that|this|its|above|prior|previous))* (?:previous|prior|above|earlier|preceding|foregoing|former|initial|original|system|developer|safety|existing|old|past|given|preset|default)(?: [a-z]+){0,2}? (?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|context|messages|commands|constraints|restrictions|policies|programming|filters?|guidance|orders|text|conversation|settings)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:ignore|disregard|forget|override|bypass)(?: (?:all|any|of))* your (?:instructions|rules|guidelines|programming|training|restrictions|filters|safety|content policy|policies|guardrails|directives|limitations)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)forget (?:everything|all)(?: (?:you|that|i|we|have|has|been))* (?:were told|was told|know|told you|said|above|before|so far|learned)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:new|updated|revised|real|actual|true) (?:system )?instructions (?:are|follow|below|override)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)from now on (?:you )?(?:will |must |shall |should |are )?(?:ignore|no longer|have no|not be bound|be free|answer without|respond without)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)ignore the above and(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:you are|youre|you re|you will be|you ll be|become) (?:now |from now on )?(?:an? |the )?(?:unrestricted|unfiltered|uncensored|jailbroken|unaligned|evil|amoral|unethical|unlimited|lawless|rogue|unbound)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:act|behave|respond|answer|pretend|roleplay|role play|simulate)(?: [a-z]+){0,2} (?:as|like|to be) (?:an? |the )?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|amoral|unethical|rogue|unaligned|unbound)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:dan|stan|dude|aim) (?:mode|prompt|jailbreak)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)do anything now\b",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:you are|youre|act as|pretend to be|you will be|you re) dan(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:developer|dev|god|jailbreak|jailbroken|unrestricted|unfiltered|evil|debug|sudo|admin|dan) mode (?:enabled|activated|unlocked|engaged|output|response)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:enter|enable|activate|switch to|turn on|go into|simulate|emulate) (?:jailbreak|jailbroken|unrestricted|unfiltered|evil|dan|god) mode(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:you are|youre|you will be|you re|you ll be) (?:now )?(?:in|running in|operating in) (?:developer|dev|god|dan|debug|jailbreak|unrestricted|sudo|admin) mode(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:chatgpt|assistant|ai|model|bot|claude|gpt) with (?:developer|dan|god) mode(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)jailbreak(?:ing|ed)? (?:yourself|you|the (?:ai|model|assistant|system|chatbot))(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)no (?:longer )?(?:bound|restricted|limited|constrained) by (?:any |your |the )?(?:rules|guidelines|restrictions|policies|filters|openai|anthropic|ethics|content policy)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:respond|answer|reply|talk|speak|write)(?: [a-z]+){0,3} without (?:any )?(?:restrictions|filters|censorship|limitations|guidelines|moral|ethical|safety)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)without (?:any )?(?:moral|ethical) (?:restrictions|guidelines|limits|constraints)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:disable|turn off|remove|deactivate|bypass|ignore) (?:your |the |all |any )?(?:safety|content) (?:filters?|guidelines|restrictions|settings|protocols|mode|policy|policies)(?-u:\b)",
    ),
    (
        "injection.extraction",
        "extraction",
        r"(?-u:\b)(?:reveal|show|print|repeat|display|output|tell me|give me|what is|what are|whats|what were|leak|dump|recite|copy|paste|write out|list|share|spell out|translate)(?: [a-z]+){0,3} (?:your|the) (?:system prompt|system message|initial prompt|hidden prompt|original prompt|secret prompt|initial instructions|hidden instructions|original instructions|secret instructions|system instructions|developer instructions|developer message|pre prompt|preprompt|instructions above|prompt above|text above)(?-u:\b)",
    ),
    (
        "injection.extraction",
        "extraction",
        r"(?-u:\b)repeat (?:the )?(?:words|text|everything|all)(?: [a-z]+)? (?:above|before this)(?-u:\b)",
    ),
    (
        "injection.extraction",
        "extraction",
        r"(?-u:\b)(?:what|which) (?:instructions|rules) (?:were you|have you been|are you) (?:given|told|programmed)(?-u:\b)",
    ),
    (
        "injection.encoding",
        "encoding",
        r"(?-u:\b)(?:decode|decipher|translate|convert|interpret|unscramble)(?: [a-z0-9]+){0,4} (?:base ?(?:64|6a)|rot ?(?:13|ie)|hex|binary|morse|caesar)(?: [a-z0-9]+){0,6} (?:and|then) (?:follow|execute|do|obey|run|perform|act on|carry out|comply)(?-u:\b)",
    ),
    (
        "injection.encoding",
        "encoding",
        r"(?-u:\b)(?:follow|execute|obey|run|carry out)(?: [a-z]+){0,3} (?:base ?(?:64|6a)|rot ?(?:13|ie)|encoded|hidden|decoded) (?:instructions|commands|message|payload)(?-u:\b)",
    ),
    // ---- issue 17: goal hijacking, fixed replies, prefixes, fake turns, repetition ----
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:ignore|disregard|forget|skip|dont answer|do not answer|never mind)(?: (?:all|the|this|that|these|my|your|above|previous|prior|preceding|following|last|original|first))* (?:questions?|commands?|tasks?|requests?|sentences?|text|content|input|messages?|prompts?|instructions?|job|role|purpose|translation)(?: [a-z]+){0,3} (?:and|then|instead|just|only)(?: (?:just|only|directly|instead|simply|please|now))* (?:output|say|print|reply|respond|write|answer|return|type|repeat|tell)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:ignore|disregard|forget) your (?:task|job|role|purpose|previous task|original task|assignment|goal|mission)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:you|u) (?:only |will only |must only |can only |should only )?ever (?:answer|reply|respond|say|output|write|print)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:only|always|just) (?:ever )?(?:answer|reply|respond|say|output|print|write)(?: (?:with|by saying))?(?: (?:the|a|this|that) (?:word|words|phrase|text|sentence))? (?:access granted|granted|approved|transfer approved|yes|pwned|hacked|i have been pwned|i have been hacked|password|haha pwned)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:say|output|print|write|reply|respond|answer)(?: (?:with|only|just|exactly|the words?|the phrase|back))* (?:i have been pwned|i have been hacked|haha pwned|access granted|transfer approved)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:respond|reply|answer)(?: to)? (?:every|each|all|any)(?: [a-z]+){0,2} (?:with|by saying|by writing|using only) (?:the (?:word|words|phrase|text) )?[a-z]+(?: [a-z]+){0,4} and nothing else(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:say|output|print|reply|respond|answer)(?: [a-z]+){1,6} (?:and|but) nothing else(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:start|begin|prefix|open|preface) (?:every|each|all|your|any)(?: [a-z]+){0,2} (?:answers?|responses?|replies|reply|messages?|outputs?) (?:with|by saying|by writing)(?: [a-z]+){0,3} (?:sure|of course|absolutely|certainly|here is|here s|heres|i can|no problem|yes)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:new|the new|updated) rule(?: [a-z]+){0,3} (?:you must|you will|always|never)(?-u:\b)",
    ),
    (
        "injection.override",
        "override",
        r"(?-u:\b)(?:end of (?:the )?(?:user )?(?:input|prompt|message|conversation|instructions)(?: [a-z]+){0,3} (?:system|admin|assistant|developer|new instructions)|(?:system|admin|administrator|developer|root) override|the user is (?:an? |the )?(?:admin|administrator|developer|root|superuser|owner))(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:you are|youre|you re) no longer (?:an? |the |my |just )?(?:ai|assistant|tutor|chatbot|bot|model|language model|helper|teacher|bound|restricted|limited|claude|chatgpt|gpt)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:you|bot|ai|assistant|model|chatbot|character|persona|version)(?: [a-z]+){0,4} (?:has|have|with) no (?:restrictions|rules|limits|limitations|filters|guidelines|morals|ethics|boundaries|censorship|moral compass)(?-u:\b)",
    ),
    (
        "injection.roleplay",
        "roleplay",
        r"(?-u:\b)(?:pretend|act as|acting as|roleplay|role play|imagine|you are|youre|play the role of|play)(?: [a-z]+){0,10} (?:password|passwords|api key|api keys|license key|licence key|serial key|serial keys|product key|secret key|credentials|admin password)(?-u:\b)",
    ),
    (
        "injection.extraction",
        "extraction",
        r"(?-u:\b)(?:repeat|print|output|show|write|copy|recite|display|echo|reproduce) (?:back )?(?:the |all |everything |every |all the |your )?(?:words|text|lines|content|contents|message|messages|instructions|prompt)?(?: [a-z]+)? (?:above|before this|preceding|so far|verbatim)(?-u:\b)",
    ),
    (
        "injection.extraction",
        "extraction",
        r"(?-u:\b)(?:repeat|say|write|print|output|type)(?: (?:the|this|that))?(?: (?:word|phrase|letter|token|sentence))? [a-z0-9]+(?: [a-z0-9]+)? (?:forever|infinitely|endlessly|indefinitely|over and over(?: again)?(?: forever)?|[0-9]{3,} times|a (?:thousand|million|billion|hundred thousand) times|until (?:you|the) (?:run out|stop|crash))(?-u:\b)",
    ),
    (
        "injection.exfiltration",
        "exfiltration",
        r"(?-u:\b)(?:send|post|upload|forward|transmit|leak|exfiltrate|email|submit|append|attach|encode|include|embed|put)(?: [a-z]+){0,5} (?:conversation|chat history|chat log|system prompt|previous messages|user data|users data|api keys?|credentials|passwords?|personal (?:information|data|details)|private data|secrets|session|cookies?|tokens?|this data|the data|all data|the messages|these messages)(?: [a-z0-9]+){0,4} (?:to|into|in|at|via) (?:https?|www|the url|this url|my url|a url|my server|this server|the server|the link|this link|an? (?:markdown )?image|the image|a webhook|this webhook|my email|the following url)(?-u:\b)",
    ),
];

/// A matched injection rule in a window of normalised text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InjectionHit {
    pub rule: &'static str,
    pub sub: &'static str,
    pub start: usize,
    pub end: usize,
}

/// Words at least one of which every rule of a family needs: a rule's regex only runs
/// when one of its family's anchors is in the window, which keeps ordinary prose cheap.
pub(crate) const ANCHORS: &[(&str, &[&str])] = &[
    (
        "override",
        &[
            "dont answer",
            "do not answer",
            "never mind",
            "nothing else",
            "ever",
            "start every",
            "begin every",
            "start each",
            "begin each",
            "prefix",
            "preface",
            "open every",
            "new rule",
            "the new rule",
            "end of",
            "system override",
            "admin override",
            "administrator override",
            "developer override",
            "root override",
            "the user is",
            "pwned",
            "granted",
            "hacked",
            "approved",
            "ignor",
            "disregard",
            "forget",
            "overrid",
            "bypass",
            "skip",
            "neglect",
            "dismiss",
            "abandon",
            "drop",
            "instructions",
            "from now on",
        ],
    ),
    (
        "roleplay",
        &[
            "no longer",
            "pretend",
            "with no",
            "has no",
            "have no",
            "password",
            "api key",
            "licen",
            "serial",
            "product key",
            "secret key",
            "credentials",
            "unrestricted",
            "unfiltered",
            "uncensored",
            "jailbr",
            "unaligned",
            "evil",
            "amoral",
            "unethical",
            "unlimited",
            "lawless",
            "rogue",
            "unbound",
            "dan",
            "stan",
            "dude",
            "aim",
            "anything now",
            "mode",
            "bound by",
            "restricted by",
            "limited by",
            "constrained by",
            "without",
            "disable",
            "turn off",
            "remove",
            "deactivate",
            "bypass",
            "ignore",
        ],
    ),
    (
        "extraction",
        &[
            "above",
            "verbatim",
            "preceding",
            "so far",
            "before this",
            "forever",
            "infinitely",
            "endlessly",
            "indefinitely",
            "over and over",
            "times",
            "until you run",
            "until the",
            "prompt",
            "system",
            "instructions",
            "repeat",
            "rules",
            "developer message",
        ],
    ),
    (
        "encoding",
        &[
            // After the leetspeak step "base64" reads "base6a" and "rot13" "rotie".
            "base6", "base 6", "rotie", "rot ie", "rot 1", "hex", "binary", "morse", "caesar",
            "encoded", "hidden", "decoded",
        ],
    ),
    (
        "exfiltration",
        &[
            "conversation",
            "chat",
            "prompt",
            "messages",
            "user",
            "api key",
            "credential",
            "password",
            "personal",
            "private",
            "secret",
            "session",
            "cookie",
            "token",
            "data",
        ],
    ),
];

pub(crate) struct Injection {
    set: RegexSet,
    each: Vec<Regex>,
    /// Rule index to family index in `ANCHORS`.
    rule_family: Vec<u8>,
    /// Per family, all its rules as one alternation: one pass over the window tells
    /// whether any of them can match, so the rules run one by one only when one does.
    family_any: Vec<Option<Regex>>,
}

impl Injection {
    pub(crate) fn new() -> Self {
        let set = RegexSet::new(RULES.iter().map(|r| r.2)).expect("injection rules");
        let each = RULES
            .iter()
            .map(|r| Regex::new(r.2).expect("injection rule"))
            .collect();
        let rule_family = RULES
            .iter()
            .map(|r| {
                ANCHORS
                    .iter()
                    .position(|(name, _)| *name == r.1)
                    .expect("every rule has a family") as u8
            })
            .collect();
        let family_any = (0..ANCHORS.len())
            .map(|f| {
                let alts: Vec<String> = RULES
                    .iter()
                    .zip(&rule_family)
                    .filter(|(_, &rf)| rf as usize == f)
                    .map(|(r, _)| format!("(?:{})", r.2))
                    .collect();
                (!alts.is_empty()).then(|| Regex::new(&alts.join("|")).expect("injection family"))
            })
            .collect();
        Self {
            set,
            each,
            rule_family,
            family_any,
        }
    }

    /// Rules of the anchor `families` (a bit set over `ANCHORS`) matching in `window`
    /// and ending at or after `new_from`.
    pub(crate) fn scan(
        &self,
        window: &str,
        new_from: usize,
        families: u8,
        out: &mut Vec<InjectionHit>,
    ) {
        // Families with an anchor whose rules match somewhere in the window.
        let mut live = 0u8;
        for (f, any) in self.family_any.iter().enumerate() {
            if families & (1 << f) != 0 && any.as_ref().is_some_and(|r| r.is_match(window)) {
                live |= 1 << f;
            }
        }
        for (i, rule) in RULES.iter().enumerate() {
            if live & (1 << self.rule_family[i]) == 0 {
                continue;
            }
            for m in self.each[i].find_iter(window) {
                if m.end() > new_from {
                    out.push(InjectionHit {
                        rule: rule.0,
                        sub: rule.1,
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
        // "rot13" reads "rotie" after the leetspeak step.
        if window.contains("rot")
            && (window.contains("rotie") || window.contains("rot 13") || window.contains("rot ie"))
        {
            let rotated: String = window.chars().map(rot13).collect();
            for i in self.set.matches(&rotated).iter() {
                if let Some(m) = self.each[i]
                    .find_iter(&rotated)
                    .find(|m| m.end() > new_from)
                {
                    out.push(InjectionHit {
                        rule: "injection.encoding",
                        sub: "encoding",
                        start: m.start(),
                        end: m.end(),
                    });
                }
            }
        }
    }

    /// Whether decoded text (a base64 payload) carries an instruction.
    pub(crate) fn matches_decoded(&self, normalised: &str) -> bool {
        self.set.is_match(normalised)
    }
}

fn rot13(c: char) -> char {
    match c {
        'a'..='m' => ((c as u8) + 13) as char,
        'n'..='z' => ((c as u8) - 13) as char,
        _ => c,
    }
}

/// Base64 tokens of 16+ characters in `text` that decode to mostly printable text:
/// `(start, end, decoded)`.
pub(crate) fn base64_payloads(text: &str) -> Vec<(usize, usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !B64[b[i] as usize] {
            i += 1;
            continue;
        }
        let s = i;
        while i < b.len() && B64[b[i] as usize] {
            i += 1;
        }
        if i - s < 16 || i - s > 64 * 1024 {
            continue;
        }
        let tok = &text[s..i];
        if let Some(decoded) = decode_base64(tok) {
            let printable = decoded
                .chars()
                .filter(|c| !c.is_control() || c.is_whitespace())
                .count();
            if printable * 10 >= decoded.chars().count() * 9 && decoded.contains(' ') {
                out.push((s, i, decoded));
            }
        }
    }
    out
}

/// The bytes of a base64 (standard or URL-safe) token.
static B64: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_');
        c += 1;
    }
    t
};

fn decode_base64(tok: &str) -> Option<String> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = Vec::with_capacity(tok.len() * 3 / 4);
    for c in tok.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).ok()
}
