//! What "left executable" means for the XSS figures, and the public payload sets
//! (PayloadsAllTheThings, DOMPurify's fixtures, read in place from
//! `../shared/data/safety/`). Shared by `examples/eval.rs` and `tests/devdata.rs`.

#![allow(dead_code)]

fn decode_entities(s: &str) -> String {
    // Numeric and the few named references browsers accept in URLs, with or without ';'.
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'&' {
            let rest = &s[i + 1..];
            if let Some(num) = rest.strip_prefix('#') {
                let (hex, digits) = match num.strip_prefix(['x', 'X']) {
                    Some(h) => (true, h),
                    None => (false, num),
                };
                let len = digits
                    .bytes()
                    .take_while(|c| {
                        if hex {
                            c.is_ascii_hexdigit()
                        } else {
                            c.is_ascii_digit()
                        }
                    })
                    .count();
                if len > 0 {
                    let v = u32::from_str_radix(&digits[..len], if hex { 16 } else { 10 })
                        .unwrap_or(0xfffd);
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += 1 + 1 + usize::from(hex) + len;
                    if b.get(i) == Some(&b';') {
                        i += 1;
                    }
                    continue;
                }
            }
            let named = [
                ("colon", ':'),
                ("tab", '\t'),
                ("newline", '\n'),
                ("lpar", '('),
                ("rpar", ')'),
                ("lt", '<'),
                ("gt", '>'),
                ("quot", '"'),
                ("apos", '\''),
                ("amp", '&'),
            ];
            let lower = rest.to_ascii_lowercase();
            if let Some((name, c)) = named.iter().find(|(n, _)| lower.starts_with(n)) {
                out.push(*c);
                i += 1 + name.len();
                if b.get(i) == Some(&b';') {
                    i += 1;
                }
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Why a sanitised answer would still run script in a browser or a Markdown renderer,
/// if it would (the definition the XSS figures use):
///
/// * a tag in the raw text (`<` then a letter; a `&lt;` is text, never a tag) named
///   script, iframe, frame, frameset, object, embed, applet, base, meta, link or form,
///   or holding an attribute `on` + two or more letters followed by `=`;
/// * a `javascript:`, `vbscript:` or `data:text/html` URL: after decoding character
///   references (once, as a browser does in an attribute) and percent escapes, and
///   ignoring whitespace and control characters between the letters, the scheme and
///   its colon followed by something other than whitespace, or anywhere inside a tag;
/// * `srcdoc=` or CSS `expression(` anywhere.
pub fn executable(text: &str) -> Option<&'static str> {
    let lower = text.to_lowercase();
    if lower.contains("srcdoc=") || lower.contains("srcdoc =") {
        return Some("srcdoc");
    }
    // Tags, on the raw text.
    let b = lower.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while let Some(off) = lower[i..].find('<') {
        let s = i + off;
        i = s + 1;
        if s + 1 >= b.len() || !b[s + 1].is_ascii_alphabetic() {
            continue;
        }
        let name: String = lower[s + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        let end = lower[s..]
            .find('>')
            .map(|e| s + e + 1)
            .unwrap_or(lower.len());
        tags.push((s, end));
        if matches!(
            name.as_str(),
            "script"
                | "iframe"
                | "frame"
                | "frameset"
                | "object"
                | "embed"
                | "applet"
                | "base"
                | "meta"
                | "link"
                | "form"
        ) {
            return Some("dangerous tag");
        }
        let tag = &lower[s + 1 + name.len()..end];
        let tb = tag.as_bytes();
        for j in 0..tb.len().saturating_sub(3) {
            let prev_ok = j == 0
                || matches!(
                    tb[j - 1],
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'"' | b'\'' | b'`'
                );
            if prev_ok && tag[j..].starts_with("on") {
                let attr: String = tag[j..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if attr.len() >= 4 && tag[j + attr.len()..].trim_start().starts_with('=') {
                    return Some("event handler");
                }
            }
        }
        if tag.contains("expression(") {
            return Some("CSS expression");
        }
    }
    // Schemes, on the decoded text with a map back to raw offsets.
    let mut dec: Vec<(char, usize)> = Vec::new();
    let raw = text;
    let rb = raw.as_bytes();
    let mut k = 0;
    while k < rb.len() {
        let start = k;
        let mut c = raw[k..].chars().next().unwrap();
        let mut used = c.len_utf8();
        if rb[k] == b'&' {
            // Find how much one reference used: decode progressively.
            for len in 2..=12.min(rb.len() - k) {
                if !raw.is_char_boundary(k + len) {
                    continue;
                }
                let piece = &raw[k..k + len];
                let dp = decode_entities(piece);
                if dp.chars().count() == 1 && dp != "&" {
                    c = dp.chars().next().unwrap();
                    used = len;
                    break;
                }
            }
        } else if rb[k] == b'%'
            && k + 2 < rb.len()
            && rb[k + 1].is_ascii_hexdigit()
            && rb[k + 2].is_ascii_hexdigit()
        {
            if let Ok(v) = u8::from_str_radix(&raw[k + 1..k + 3], 16) {
                c = v as char;
                used = 3;
            }
        }
        k += used;
        dec.push((c, start));
    }
    let letters: Vec<(char, usize, usize)> = dec
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| !c.is_whitespace() && !c.is_control())
        .map(|(idx, (c, s))| (c.to_ascii_lowercase(), *s, idx))
        .collect();
    let word: String = letters.iter().map(|x| x.0).collect();
    for (needle, why) in [
        ("javascript:", "javascript: URL"),
        ("vbscript:", "vbscript: URL"),
        ("data:text/html", "data:text/html URL"),
    ] {
        let mut from = 0;
        while let Some(p) = word[from..].find(needle) {
            let at = from + p;
            from = at + 1;
            // Char index in `word` equals index in `letters` only for ASCII; map safely.
            let ci = word[..at].chars().count();
            let colon_ci = ci + needle.find(':').unwrap();
            let (_, raw_start, _) = letters[ci];
            let (_, _, colon_idx) = letters[colon_ci];
            let next = dec.get(colon_idx + 1).map(|x| x.0).unwrap_or(' ');
            let in_tag = tags.iter().any(|&(s, e)| s < raw_start && raw_start < e);
            if !next.is_whitespace() || in_tag || needle.starts_with("data") {
                return Some(why);
            }
        }
    }
    None
}

pub fn payloads(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mario = std::fs::read_to_string(dir.join("patt_xss_mario_vectors.txt")).unwrap_or_default();
    // `<div id="N">...</div>` blocks, possibly over several lines.
    for block in mario.split("<div id=\"").skip(1) {
        let body = block.split_once("\">").map(|x| x.1).unwrap_or(block);
        let body = body.trim_end();
        let body = body.strip_suffix("</div>").unwrap_or(body);
        out.push(("PATT html5sec".into(), body.to_string()));
    }
    for line in std::fs::read_to_string(dir.join("patt_xss_payloads_quick.txt"))
        .unwrap_or_default()
        .lines()
    {
        if !line.trim().is_empty() {
            out.push(("PATT quick".into(), line.to_string()));
        }
    }
    for line in std::fs::read_to_string(dir.join("patt_xss_portswigger_event_handlers.txt"))
        .unwrap_or_default()
        .lines()
    {
        let h = line.trim();
        if !h.is_empty() {
            out.push(("PATT handlers".into(), format!("<img src=x {h}=alert(1)>")));
            out.push(("PATT handlers".into(), format!("<x {h}=alert(1)>")));
        }
    }
    let raw = std::fs::read_to_string(dir.join("dompurify_expect.mjs")).unwrap_or_default();
    let json = raw
        .trim()
        .trim_start_matches("export default")
        .trim()
        .trim_end_matches(';');
    // Trailing commas before ] or }.
    let mut cleaned = String::new();
    let chars: Vec<char> = json.chars().collect();
    let mut in_str = false;
    let mut esc = false;
    for (k, &c) in chars.iter().enumerate() {
        if in_str {
            cleaned.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        if c == ',' {
            let next = chars[k + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some(']') | Some('}')) {
                continue;
            }
        }
        cleaned.push(c);
    }
    if let Ok(serde_json::Value::Array(cases)) = serde_json::from_str::<serde_json::Value>(&cleaned)
    {
        for c in cases {
            if let Some(p) = c["payload"].as_str() {
                out.push(("DOMPurify".into(), p.to_string()));
            }
        }
    } else {
        eprintln!("could not parse dompurify_expect.mjs");
    }
    // The forms issue 17 names, as they would appear in a plain-text or Markdown answer.
    for s in [
        "Here is the link:\njavascript:alert(1)\nThanks",
        "\u{1}javascript:alert(1)",
        "[click](\u{8}javascript:alert(1))",
        "[click]( javascript:alert(1))",
        "[click](jav&#x09;ascript:alert(1))",
        "[click](javascript%3Aalert(1))",
        "[click][1]\n\n[1]: javascript:alert(1)",
        "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
        "[a](VBScript:msgbox(1))",
    ] {
        out.push(("issue 17 forms".into(), s.to_string()));
    }
    out
}
