//! Active content in answers: HTML that could run (script, handlers, `javascript:` URLs,
//! frames, forms, SVG) and Markdown that could leak data (remote images with a query
//! string, `javascript:` links). Dangerous HTML is rewritten by ammonia's allow-list
//! sanitiser, island by island, so the rest of the answer, prose and math included, is
//! never touched.

use std::sync::LazyLock;

use crate::html::{Lexer, Name, Tag};

/// One rewrite of the scanned text.
#[derive(Debug, Clone)]
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    pub replacement: String,
    pub rule: &'static str,
    pub sub: &'static str,
}

/// Elements that are dangerous with everything inside them.
const CONTAINERS: &[&str] = &[
    "script",
    "style",
    "iframe",
    "xmp",
    "noembed",
    "noframes",
    "noscript",
    "textarea",
    "plaintext",
    "svg",
    "math",
    "form",
    "object",
    "applet",
    "frameset",
    "select",
    "button",
    "template",
];

/// Elements that are dangerous on their own and have no content.
const VOIDS: &[&str] = &[
    "embed", "input", "link", "meta", "base", "frame", "keygen", "isindex", "param", "portal",
];

/// Elements whose container status only applies when they are not self-closed (`<svg/>`).
const FOREIGN: &[&str] = &["svg", "math"];

fn rule_for(name: &str) -> (&'static str, &'static str) {
    match name {
        "script" | "noscript" => ("xss.script", "script"),
        "style" => ("xss.css", "css"),
        "iframe" | "frame" | "frameset" | "object" | "applet" | "embed" | "portal" | "param" => {
            ("xss.frame", "frame")
        }
        "svg" | "math" => ("xss.svg", "svg"),
        "form" | "input" | "button" | "select" | "textarea" | "keygen" | "isindex" => {
            ("xss.form", "form")
        }
        "meta" | "link" | "base" => ("xss.meta", "meta"),
        _ => ("xss.raw_text", "raw_text"),
    }
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(ammonia::Builder::default);

fn sanitize(fragment: &str) -> String {
    SANITIZER.clean(fragment).to_string()
}

/// Finds active content in `text` and returns the rewrites, sorted and disjoint.
pub(crate) fn scan(text: &str) -> Vec<Edit> {
    let mut md = Vec::new();
    if text.contains("](") {
        scan_markdown(text, &mut md);
    }
    let mut html = Vec::new();
    if text.contains('<') {
        scan_html(text, &mut html);
    }
    // A Markdown construct replaced whole wins over the HTML inside it; an HTML island
    // that reaches outside a Markdown construct wins over it.
    md.retain(|m| {
        !html
            .iter()
            .any(|h| h.start < m.end && m.start < h.end && (h.start < m.start || h.end > m.end))
    });
    html.retain(|h| !md.iter().any(|m| m.start <= h.start && h.end <= m.end));
    let mut edits = md;
    edits.extend(html);
    edits.sort_by_key(|e| e.start);
    edits
}

fn scan_html(text: &str, edits: &mut Vec<Edit>) {
    let bytes = text.as_bytes();
    let mut lexer = Lexer::default();
    let mut container: Option<(Name, u32, usize)> = None;
    let mut pos = 0;
    while pos < bytes.len() {
        if lexer.in_data() || lexer.waiting_in_raw_text() {
            // Nothing happens in text (or raw text) until the next `<`.
            match bytes[pos..].iter().position(|&b| b == b'<') {
                Some(k) => pos += k,
                None => break,
            }
        }
        let step = lexer.step(bytes[pos], pos);
        pos += 1;
        let Some(tag) = step else {
            continue;
        };
        let name = tag.name.as_str();
        if let Some((open, depth, start)) = container.as_mut() {
            if tag.name == *open {
                if tag.is_end {
                    *depth -= 1;
                    if *depth == 0 {
                        let (rule, sub) = rule_for(open.as_str());
                        let island = &text[*start..tag.end];
                        edits.push(Edit {
                            start: *start,
                            end: tag.end,
                            replacement: sanitize(island),
                            rule,
                            sub,
                        });
                        container = None;
                    }
                } else if !(tag.self_closing && FOREIGN.contains(&name)) {
                    *depth += 1;
                }
            }
            continue;
        }
        if tag.is_end {
            continue;
        }
        if CONTAINERS.contains(&name) {
            if tag.self_closing && FOREIGN.contains(&name) {
                let (rule, sub) = rule_for(name);
                edits.push(Edit {
                    start: tag.start,
                    end: tag.end,
                    replacement: String::new(),
                    rule,
                    sub,
                });
            } else {
                container = Some((tag.name, 1, tag.start));
            }
        } else if VOIDS.contains(&name) {
            let (rule, sub) = rule_for(name);
            edits.push(Edit {
                start: tag.start,
                end: tag.end,
                replacement: String::new(),
                rule,
                sub,
            });
        } else if let Some((rule, sub)) = dangerous_tag(&text[tag.start..tag.end], &tag) {
            edits.push(Edit {
                start: tag.start,
                end: tag.end,
                replacement: sanitize_start_tag(text, &tag),
                rule,
                sub,
            });
        }
    }
    let len = text.len();
    if let Some((open, _, start)) = container {
        // Unclosed to the end: nothing after it can be trusted.
        let (rule, sub) = rule_for(open.as_str());
        let island = &text[start..];
        let replacement = if island.len() <= 64 * 1024 {
            sanitize(island)
        } else {
            String::new()
        };
        edits.push(Edit {
            start,
            end: len,
            replacement,
            rule,
            sub,
        });
    } else if let Some(start) = lexer.open_since() {
        // A tag still open at the end: drop it if it is dangerous so far.
        let name = lexer.open_name();
        let partial = &text[start..];
        let tag = Tag {
            start,
            end: len,
            name,
            is_end: false,
            self_closing: false,
        };
        let bad_name = CONTAINERS.contains(&name.as_str()) || VOIDS.contains(&name.as_str());
        if bad_name || dangerous_tag(partial, &tag).is_some() {
            let (rule, sub) = if bad_name {
                rule_for(name.as_str())
            } else {
                ("xss.unclosed_tag", "unclosed_tag")
            };
            edits.push(Edit {
                start,
                end: len,
                replacement: String::new(),
                rule,
                sub,
            });
        }
    }
}

/// Sanitises a lone start tag and drops the end tag the sanitiser adds to balance it.
fn sanitize_start_tag(text: &str, tag: &Tag) -> String {
    let mut out = sanitize(&text[tag.start..tag.end]);
    let close = format!("</{}>", tag.name.as_str());
    if out.ends_with(&close) {
        out.truncate(out.len() - close.len());
    }
    out
}

/// Why a start tag is dangerous, if it is: an event handler, a script URL, an
/// exfiltrating style, a `srcdoc`.
fn dangerous_tag(tag_text: &str, tag: &Tag) -> Option<(&'static str, &'static str)> {
    let name = tag.name.as_str();
    if name.contains(':') {
        // `<javascript:alert(1)>` is a Markdown autolink.
        let scheme = strip_ws_lower(&name.replace("&colon;", ":"));
        if is_script_url(&scheme) {
            return Some(("xss.js_url", "js_url"));
        }
    }
    let mut found = None;
    for_each_attribute(tag_text, |attr, value| {
        found = dangerous_attribute(attr, value);
        found.is_some()
    });
    found
}

fn dangerous_attribute(attr: &str, value: &str) -> Option<(&'static str, &'static str)> {
    {
        let attr = attr.to_ascii_lowercase();
        let value = decode_entities(value);
        if attr.len() > 2 && attr.starts_with("on") {
            return Some(("xss.event_handler", "event_handler"));
        }
        match attr.as_str() {
            "srcdoc" => return Some(("xss.frame", "frame")),
            "style" => {
                let css = strip_ws_lower(&decode_css_escapes(&value));
                if [
                    "url(",
                    "expression(",
                    "javascript:",
                    "@import",
                    "behavior:",
                    "-moz-binding",
                    "image-set(",
                ]
                .iter()
                .any(|p| css.contains(p))
                {
                    return Some(("xss.css_url", "css_url"));
                }
            }
            "href" | "src" | "action" | "formaction" | "data" | "xlink:href" | "background"
            | "poster" | "codebase" | "cite" | "dynsrc" | "lowsrc" | "srcset" | "ping"
            | "manifest" | "icon" | "longdesc" | "usemap" | "archive" | "classid" | "values"
            | "from" | "to" | "by" => {
                let url = strip_ws_lower(&value);
                if is_script_url(&url) {
                    return Some(("xss.js_url", "js_url"));
                }
                if url.starts_with("data:") && !is_data_image(&url) {
                    return Some(("xss.data_html", "data_html"));
                }
            }
            _ => {}
        }
    }
    None
}

fn is_script_url(url: &str) -> bool {
    ["javascript:", "vbscript:", "livescript:", "mocha:"]
        .iter()
        .any(|s| url.starts_with(s))
        || (url.starts_with("data:")
            && (url.contains("text/html") || url.contains("script") || url.contains("svg")))
}

fn is_data_image(url: &str) -> bool {
    [
        "data:image/png",
        "data:image/gif",
        "data:image/jpeg",
        "data:image/jpg",
        "data:image/webp",
    ]
    .iter()
    .any(|p| url.starts_with(p))
}

/// Calls `f` with each attribute name and raw value of a tag (`<name a=1 b="2" c>`)
/// until it returns true.
fn for_each_attribute(tag_text: &str, mut f: impl FnMut(&str, &str) -> bool) {
    let b = tag_text.as_bytes();
    // Skip `<` and the name.
    let mut i = 1;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() || b[i] == b'>' {
            break;
        }
        let ns = i;
        // An attribute name may start with `=` (HTML5), then runs to a separator.
        i += 1;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let name = &tag_text[ns..i];
        let mut j = i;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut value = "";
        if j < b.len() && b[j] == b'=' {
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                let q = b[j];
                let vs = j + 1;
                let mut k = vs;
                while k < b.len() && b[k] != q {
                    k += 1;
                }
                value = &tag_text[vs..k];
                j = (k + 1).min(b.len());
            } else {
                let vs = j;
                while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                    j += 1;
                }
                value = &tag_text[vs..j];
            }
            i = j;
        }
        if f(name, value) {
            return;
        }
    }
}

/// Decodes the character references that matter for URLs and CSS (numeric ones, with or
/// without `;`, and the named ones for punctuation and whitespace).
pub(crate) fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'&' {
            if let Some((c, used)) = entity_at(&s[i..]) {
                out.push(c);
                i += used;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn entity_at(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.len() > 2 && b[1] == b'#' {
        let (hex, mut i) = if b.len() > 3 && (b[2] == b'x' || b[2] == b'X') {
            (true, 3)
        } else {
            (false, 2)
        };
        let ds = i;
        while i < b.len()
            && i - ds < 8
            && (if hex {
                b[i].is_ascii_hexdigit()
            } else {
                b[i].is_ascii_digit()
            })
        {
            i += 1;
        }
        if i == ds {
            return None;
        }
        let v = u32::from_str_radix(&s[ds..i], if hex { 16 } else { 10 }).ok()?;
        if i < b.len() && b[i] == b';' {
            i += 1;
        }
        return Some((char::from_u32(v).unwrap_or('\u{fffd}'), i));
    }
    const NAMED: &[(&str, char)] = &[
        ("&colon;", ':'),
        ("&tab;", '\t'),
        ("&newline;", '\n'),
        ("&lpar;", '('),
        ("&rpar;", ')'),
        ("&sol;", '/'),
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
        ("&period;", '.'),
        ("&comma;", ','),
        ("&semi;", ';'),
        ("&equals;", '='),
        ("&bsol;", '\\'),
        ("&nbsp;", ' '),
    ];
    let head: String = s.chars().take(10).collect::<String>().to_ascii_lowercase();
    NAMED
        .iter()
        .find(|(n, _)| head.starts_with(n))
        .map(|(n, c)| (*c, n.len()))
}

/// CSS escapes: `\75 rl(` is `url(`.
fn decode_css_escapes(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let mut j = i + 1;
            while j < b.len() && j - i <= 6 && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            if j > i + 1 {
                if let Some(c) = u32::from_str_radix(&s[i + 1..j], 16)
                    .ok()
                    .and_then(char::from_u32)
                {
                    out.push(c);
                }
                if j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                i = j;
                continue;
            }
            i += 1;
            continue;
        }
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Lower-cases and removes whitespace and control characters, as URL parsers do.
fn strip_ws_lower(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Tags that run or load active content whatever their attributes.
const RESIDUAL_TAGS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
    "form", "svg", "math", "style", "portal",
];

/// The last line of defence, run on an answer's text after the islands were rewritten:
/// whatever an HTML or Markdown renderer could still run is made inert.
///
/// * A raw `<` that starts a tag-like run (`<name ...` up to the next `>`) whose name is
///   a script/frame/object/meta/form/svg element or which holds an `on*=` attribute is
///   escaped as `&lt;`; legacy-parser tricks (`<b <script>`, `<script<{`, handlers
///   hidden after a comment or a `<![`) reach this point.
/// * A `javascript:`, `vbscript:`, `livescript:` or `data:text/html` scheme is replaced
///   by `blocked:` wherever it would be read as a URL: letters and colon found after
///   decoding character references (`&#x61;`, `&colon;`) and percent escapes (`%3A`) and
///   dropping whitespace and control characters inside the scheme, with something other
///   than whitespace right after the colon, or anywhere inside a tag. A bare
///   `javascript:alert(1)` line, a Markdown reference definition, a scheme behind a
///   control character are all covered; "JavaScript: a language for the web" is prose
///   and stays.
///
/// Returns the rewritten text when anything changed.
pub(crate) fn residual(text: &str) -> Option<String> {
    let b = text.as_bytes();
    // Ranges to replace: (start, end, replacement), and the tag-like regions seen.
    let mut edits: Vec<(usize, usize, &'static str)> = Vec::new();
    let mut tags: Vec<(usize, usize)> = Vec::new();
    let mut candidates: Vec<usize> = Vec::new();
    // One pass over the bytes that can start something: `<`, `:`, `&`, `%`.
    let mut i = 0;
    while i < b.len() {
        // Skip ordinary bytes four at a time.
        while i + 4 <= b.len()
            && !INTEREST[b[i] as usize]
            && !INTEREST[b[i + 1] as usize]
            && !INTEREST[b[i + 2] as usize]
            && !INTEREST[b[i + 3] as usize]
        {
            i += 4;
        }
        while i < b.len() && !INTEREST[b[i] as usize] {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let c = b[i];
        i += 1;
        let i = i - 1;
        match c {
            b'<' => {
                if i + 1 >= b.len() || !b[i + 1].is_ascii_alphabetic() {
                    continue;
                }
                let name_len = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b':')
                    .count();
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map(|p| i + p + 1)
                    .unwrap_or(b.len());
                tags.push((i, end));
                let name = &text[i + 1..i + 1 + name_len];
                let region = &text[i + 1 + name_len..end];
                if RESIDUAL_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
                    || has_event_attribute(region)
                {
                    edits.push((i, i + 1, "&lt;"));
                }
            }
            b':' if colon_may_end_scheme(b, i) => candidates.push(i),
            b'&' if b[i..].starts_with(b"&#")
                || (b.len() >= i + 6 && b[i..i + 6].eq_ignore_ascii_case(b"&colon")) =>
            {
                candidates.push(i)
            }
            b'%' if i + 2 < b.len() && b[i + 1] == b'3' && b[i + 2].eq_ignore_ascii_case(&b'a') => {
                candidates.push(i)
            }
            _ => {}
        }
    }
    if !candidates.is_empty() {
        find_schemes(text, &candidates, &tags, &mut edits);
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.0);
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for (s, e, r) in edits {
        if s < at {
            continue;
        }
        out.push_str(&text[at..s]);
        out.push_str(r);
        at = e;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The bytes [`residual`] stops at.
static INTEREST: [bool; 256] = {
    let mut t = [false; 256];
    t[b'<' as usize] = true;
    t[b':' as usize] = true;
    t[b'&' as usize] = true;
    t[b'%' as usize] = true;
    t
};

/// Whether a raw `:` could end a script scheme: the letters before it (skipping
/// whitespace and control characters between them, `java\u{3}script:`) end in a scheme
/// name, or a `&` or `%` shortly before it may encode one of its letters.
fn colon_may_end_scheme(b: &[u8], i: usize) -> bool {
    const BACK: usize = 64;
    let window = &b[i.saturating_sub(BACK)..i];
    if window.contains(&b'&') || window.contains(&b'%') {
        return true;
    }
    let mut k = i;
    let mut letters = [0u8; 10];
    let mut n = 0;
    while k > 0 && n < letters.len() {
        let p = b[k - 1];
        if p.is_ascii_alphabetic() {
            letters[letters.len() - 1 - n] = p.to_ascii_lowercase();
            n += 1;
        } else if !(p.is_ascii_whitespace() || p < 0x20 || p == 0x7f) {
            // A non-ASCII character may be a decoded or invisible one: look closer.
            if p >= 0x80 {
                return true;
            }
            break;
        }
        k -= 1;
    }
    let letters = &letters[letters.len() - n..];
    SCHEMES.iter().any(|s| letters.ends_with(s.as_bytes()))
}

/// An `on...=` attribute in the text of a tag after its name: "on" and two or more
/// letters, after whitespace, `/` or a quote, then optional whitespace and `=`.
fn has_event_attribute(region: &str) -> bool {
    let b = region.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        let prev_ok = i == 0
            || matches!(
                b[i - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'"' | b'\'' | b'`'
            );
        if prev_ok && b[i].eq_ignore_ascii_case(&b'o') && b[i + 1].eq_ignore_ascii_case(&b'n') {
            let mut j = i + 2;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'_') {
                j += 1;
            }
            if j >= i + 4 {
                let mut k = j;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if k < b.len() && b[k] == b'=' {
                    return true;
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    false
}

const SCHEMES: &[&str] = &["javascript", "vbscript", "livescript", "data"];

/// Finds script schemes in `text` (see [`residual`]) and pushes their replacement. Only
/// the bytes shortly before a candidate colon are decoded.
fn find_schemes(
    text: &str,
    candidates: &[usize],
    tags: &[(usize, usize)],
    edits: &mut Vec<(usize, usize, &'static str)>,
) {
    const BACK: usize = 64;
    let b = text.as_bytes();
    for &i in candidates {
        let mut lo = i.saturating_sub(BACK);
        while !text.is_char_boundary(lo) {
            lo += 1;
        }
        let mut hi = (i + 8).min(b.len());
        while !text.is_char_boundary(hi) {
            hi += 1;
        }
        if lo < hi {
            scan_schemes(text, lo, hi, tags, edits);
        }
    }
    edits.sort_by_key(|e| e.0);
    edits.dedup_by_key(|e| e.0);
}

/// The decoding scan of [`find_schemes`] over `text[lo..hi]` (a colon found there may
/// look past `hi` for what follows it).
fn scan_schemes(
    text: &str,
    lo: usize,
    hi: usize,
    tags: &[(usize, usize)],
    edits: &mut Vec<(usize, usize, &'static str)>,
) {
    // The decoded, lower-cased letters seen so far, with the original byte where each
    // began; whitespace and control characters are skipped (URL parsers drop them).
    const KEEP: usize = 16;
    let mut ring: Vec<(char, usize)> = Vec::with_capacity(KEEP * 2);
    let b = text.as_bytes();
    let mut i = lo;
    while i < hi {
        let (c, used) = decode_at(text, i);
        let start = i;
        i += used;
        if c.is_whitespace() || c.is_control() {
            continue;
        }
        if c != ':' {
            if ring.len() == KEEP * 2 {
                ring.drain(..KEEP);
            }
            ring.push((c.to_ascii_lowercase(), start));
            continue;
        }
        // A colon: does a scheme end here?
        for scheme in SCHEMES {
            let n = scheme.len();
            if ring.len() < n {
                continue;
            }
            let tail = &ring[ring.len() - n..];
            if !tail.iter().map(|x| x.0).eq(scheme.chars()) {
                continue;
            }
            let s = tail[0].1;
            let in_tag = tags.iter().any(|&(ts, te)| ts < s && s < te);
            let (next, _) = if i < b.len() {
                decode_at(text, i)
            } else {
                (' ', 0)
            };
            let url_like = !next.is_whitespace() || in_tag;
            if !url_like {
                continue;
            }
            if *scheme == "data" {
                // Only documents: data:text/html, data:application/xhtml, data:image/svg.
                let rest: String = text[i..]
                    .chars()
                    .take(40)
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .flat_map(char::to_lowercase)
                    .collect();
                let rest = decode_entities(&rest);
                if !(rest.starts_with("text/html")
                    || rest.starts_with("application/xhtml")
                    || rest.starts_with("image/svg")
                    || rest.starts_with("text/xml"))
                {
                    continue;
                }
            }
            edits.push((s, i, "blocked:"));
            ring.clear();
            break;
        }
    }
}

/// The character at byte `i` after decoding one character reference or percent escape,
/// and how many bytes it used.
fn decode_at(text: &str, i: usize) -> (char, usize) {
    let b = text.as_bytes();
    if b[i] == b'&' {
        if let Some((c, used)) = entity_at(&text[i..]) {
            return (c, used);
        }
    }
    if b[i] == b'%'
        && i + 3 <= b.len()
        && b[i + 1].is_ascii_hexdigit()
        && b[i + 2].is_ascii_hexdigit()
    {
        let v = u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap_or(0);
        if v.is_ascii() {
            return (v as char, 3);
        }
    }
    let c = text[i..].chars().next().unwrap_or('\u{fffd}');
    (c, c.len_utf8())
}

/// Markdown `[text](url)` and `![alt](url)` on one line.
fn scan_markdown(text: &str, edits: &mut Vec<Edit>) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text[from..].find("](") {
        let close = from + rel;
        from = close + 2;
        // The matching `[` on the same line.
        let mut depth = 0i32;
        let mut open = None;
        let mut k = close;
        while k > 0 {
            k -= 1;
            match b[k] {
                b'\n' => break,
                b']' => depth += 1,
                b'[' if depth == 0 => {
                    open = Some(k);
                    break;
                }
                b'[' => depth -= 1,
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        // The matching `)` on the same line.
        let mut depth = 0i32;
        let mut end = None;
        let mut k = close + 2;
        while k < b.len() {
            match b[k] {
                b'\n' => break,
                b'(' => depth += 1,
                b')' if depth == 0 => {
                    end = Some(k + 1);
                    break;
                }
                b')' => depth -= 1,
                _ => {}
            }
            k += 1;
        }
        let Some(end) = end else { continue };
        let image = open > 0 && b[open - 1] == b'!';
        let start = if image { open - 1 } else { open };
        if edits.iter().any(|e| start < e.end && e.start < end) {
            continue;
        }
        let label = &text[open + 1..close];
        // The label is kept; if it holds markup, only its sanitised form is.
        let label = if label.contains('<') {
            sanitize(label)
        } else {
            label.to_string()
        };
        let target = text[close + 2..end - 1].trim();
        let url_part = target
            .trim_start_matches('<')
            .split([' ', '>', '"'])
            .next()
            .unwrap_or("");
        let url = strip_ws_lower(&decode_entities(url_part));
        let (rule, sub) =
            if is_script_url(&url) || (url.starts_with("data:") && !is_data_image(&url)) {
                ("xss.md_script_link", "md_script_link")
            } else if image && is_exfil_image(&url) {
                ("xss.md_image_exfil", "md_image_exfil")
            } else {
                continue;
            };
        edits.push(Edit {
            start,
            end,
            replacement: label,
            rule,
            sub,
        });
        from = end;
    }
}

/// A remote image whose URL carries data: a query string, a fragment, or a long opaque
/// path segment. The reader's browser fetches it without a click.
fn is_exfil_image(url: &str) -> bool {
    let remote = url.starts_with("http:") || url.starts_with("https:") || url.starts_with("//");
    if !remote {
        return false;
    }
    let rest = url.split_once("//").map(|x| x.1).unwrap_or(url);
    let path = rest.split_once('/').map(|x| x.1).unwrap_or("");
    path.contains('?')
        || path.contains('#')
        || path.contains('%')
        || path.contains('{')
        || path.split('/').any(|seg| seg.len() >= 40)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str) -> String {
        let mut out = String::new();
        let mut at = 0;
        for e in scan(text) {
            out.push_str(&text[at..e.start]);
            out.push_str(&e.replacement);
            at = e.end;
        }
        out.push_str(&text[at..]);
        out
    }

    #[test]
    fn removes_payloads_and_keeps_the_rest() {
        assert_eq!(apply("Hi <script>alert(1)</script> there"), "Hi  there");
        assert_eq!(
            apply("<img src=x onerror=alert(1)> ok"),
            "<img src=\"x\"> ok"
        );
        assert_eq!(
            apply("<a href=\"jav&#x61;script:alert(1)\">x</a>"),
            "<a rel=\"noopener noreferrer\">x</a>"
        );
        assert_eq!(
            apply("<a href=\"java\tscript:alert(1)\">x</a>"),
            "<a rel=\"noopener noreferrer\">x</a>"
        );
        assert_eq!(apply("![](https://x.example/?d=secret) done"), " done");
        assert_eq!(apply("[click](javascript:alert(1))"), "click");
        assert_eq!(
            apply("<div style=\"background:url(https://x/?c=1)\">a</div>"),
            "<div>a</div>"
        );
        assert_eq!(apply("<svg <svg <svg "), "");
    }

    #[test]
    fn residual_neutralises_script_urls_and_quirky_tags() {
        let r = |t: &str| residual(t).unwrap_or_else(|| t.to_string());
        assert_eq!(
            r("Here:\njavascript:alert(1)\nok"),
            "Here:\nblocked:alert(1)\nok"
        );
        assert_eq!(r("\u{1}javascript:alert(1)"), "\u{1}blocked:alert(1)");
        assert_eq!(
            r("[a][1]\n\n[1]: JaVa\tScript:alert(1)"),
            "[a][1]\n\n[1]: blocked:alert(1)"
        );
        assert_eq!(
            r("[a](jav&#x61;script&colon;alert(1))"),
            "[a](blocked:alert(1))"
        );
        assert_eq!(r("[a](javascript%3Aalert(1))"), "[a](blocked:alert(1))");
        assert_eq!(r("x data:text/html,<b>"), "x blocked:text/html,<b>");
        assert_eq!(
            r("<b <script>alert(1)</script>"),
            "<b &lt;script>alert(1)</script>"
        );
        assert_eq!(r("<x y=1 onerror=alert(1)>"), "&lt;x y=1 onerror=alert(1)>");
        for prose in [
            "JavaScript: a language for the web",
            "Note: data: is a URL scheme, see data:image/png",
            "Ratio 3:4, time 10:30, a<b, <b>bold</b>, one = 1",
            "Use <code>onClick</code> in React",
        ] {
            assert_eq!(residual(prose), None, "{prose}");
        }
    }

    #[test]
    fn leaves_prose_and_math_alone() {
        for text in [
            "one = 1, onset = 5 s, Total = $5",
            "if a < b and b > c then a < c",
            "x<y is true when 3 < 4",
            "<b>bold</b> and <i>italic</i>",
            "[the docs](https://docs.rs/regex) and ![a cat](https://example.org/cat.png)",
            "Use <code>onClick</code> in React",
        ] {
            assert!(scan(text).is_empty(), "{text}");
        }
    }
}
