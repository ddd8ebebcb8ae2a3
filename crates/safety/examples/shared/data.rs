//! Readers for the public development data in `../shared/data/safety/` (read in place,
//! never copied into the repository) and for the crate's own sets. Shared by
//! `examples/train.rs`, `examples/eval.rs` and `tests/devdata.rs`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data_dir() -> Option<PathBuf> {
    let dir = crate_dir().join("../../../shared/data/safety");
    dir.join("README.md").exists().then_some(dir)
}

pub fn parse_csv(raw: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn gunzip(path: &Path) -> String {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("gzip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// XSafety prompts of one language (`en`, `fr`, `sp`) whose file name starts with
/// `topic`: one prompt per line, the whole line, outer quotes removed.
pub fn xsafety(dir: &Path, lang: &str, topic: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("xsafety").join(lang)) else {
        return out;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with(topic) {
            continue;
        }
        let raw = std::fs::read_to_string(&f).unwrap_or_default();
        for line in raw.lines() {
            let t = line.trim_start_matches('\u{feff}').trim();
            let t = t.strip_prefix('"').unwrap_or(t);
            let t = t.strip_suffix('"').unwrap_or(t);
            let t = t.replace("\"\"", "\"");
            let t = t.trim();
            if !t.is_empty() {
                out.push(t.to_string());
            }
        }
    }
    out
}

pub const XSAFETY_TOPICS: [&str; 14] = [
    "Crimes_And_Illegal_Activities",
    "Ethics_And_Morality",
    "Goal_Hijacking",
    "Inquiry_With_Unsafe_Opinion",
    "Insult",
    "Mental_Health",
    "Physical_Harm",
    "Privacy_And_Property",
    "Prompt_Leaking",
    "Reverse_Exposure",
    "Role_Play_Instruction",
    "Unfairness_And_Discrimination",
    "Unsafe_Instruction_Topic",
    "commonsense",
];

/// CatQA: (category, subcategory, question).
pub fn catqa(dir: &Path) -> Vec<(String, String, String)> {
    let raw = std::fs::read_to_string(dir.join("catqa_english.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
    let mut out = Vec::new();
    if let Some(cats) = v.as_object() {
        for (cat, subs) in cats {
            for (sub, qs) in subs.as_object().into_iter().flatten() {
                for q in qs.as_array().into_iter().flatten() {
                    if let Some(q) = q.as_str() {
                        out.push((
                            cat.clone(),
                            sub.trim_end_matches(':').to_string(),
                            q.to_string(),
                        ));
                    }
                }
            }
        }
    }
    out
}

/// HarmfulQA: (topic, question).
pub fn harmfulqa(dir: &Path) -> Vec<(String, String)> {
    let raw = std::fs::read_to_string(dir.join("harmfulqa_questions.json")).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap_or_default();
    let mut out = Vec::new();
    for (topic, subs) in v.as_object().into_iter().flatten() {
        for (_, qs) in subs.as_object().into_iter().flatten() {
            for q in qs.as_array().into_iter().flatten() {
                if let Some(q) = q.as_str() {
                    out.push((topic.clone(), q.to_string()));
                }
            }
        }
    }
    out
}

/// SimpleSafetyTests: (harm_area, prompt).
pub fn sst(dir: &Path) -> Vec<(String, String)> {
    let raw = std::fs::read_to_string(dir.join("simplesafetytests.csv")).unwrap_or_default();
    parse_csv(&raw)
        .into_iter()
        .skip(1)
        .filter(|r| r.len() >= 5)
        .map(|r| (r[1].clone(), r[4].clone()))
        .collect()
}

/// XSTest: (prompt, type, label).
pub fn xstest(dir: &Path) -> Vec<(String, String, String)> {
    let raw = std::fs::read_to_string(dir.join("xstest_prompts.csv")).unwrap_or_default();
    parse_csv(&raw)
        .into_iter()
        .skip(1)
        .filter(|r| r.len() >= 4)
        .map(|r| (r[1].clone(), r[2].clone(), r[3].clone()))
        .collect()
}

/// OpenAI moderation samples.
pub fn moderation(dir: &Path) -> Vec<serde_json::Value> {
    gunzip(&dir.join("openai_moderation_samples-1680.jsonl.gz"))
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub fn toxigen_key(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// ToxiGen prompt statements, deduplicated: (hateful, group, statement).
pub fn toxigen_prompts(dir: &Path) -> Vec<(bool, String, String)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let Ok(entries) = std::fs::read_dir(dir.join("toxigen/prompts")) else {
        return out;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let hate = name.starts_with("hate_");
        let group = name
            .trim_start_matches("hate_")
            .trim_start_matches("neutral_")
            .trim_end_matches("_1k.txt.gz")
            .to_string();
        for line in gunzip(&f).lines() {
            for part in line.split("\\n") {
                let t = part.trim().trim_start_matches('-').trim();
                if !t.is_empty() && seen.insert(toxigen_key(t)) {
                    out.push((hate, group.clone(), t.to_string()));
                }
            }
        }
    }
    out
}

/// ToxiGen demonstrations: (hateful, statement), every line.
pub fn toxigen_demos(dir: &Path) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let Ok(groups) = std::fs::read_dir(dir.join("toxigen/demonstrations")) else {
        return out;
    };
    let mut files = Vec::new();
    for g in groups.flatten() {
        for f in std::fs::read_dir(g.path()).into_iter().flatten().flatten() {
            files.push(f.path());
        }
    }
    files.sort();
    for f in files {
        let hate = f
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("hate_");
        for line in std::fs::read_to_string(&f).unwrap_or_default().lines() {
            let t = line.trim().trim_start_matches('-').trim();
            if !t.is_empty() {
                out.push((hate, t.to_string()));
            }
        }
    }
    out
}

/// A JSON Lines file of the crate.
pub fn jsonl(rel: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(crate_dir().join(rel))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Leetspeak, zero-width and homoglyph+caps forms, to measure obfuscated self-harm
/// (the same three styles in the test floors and the evaluation).
pub fn obfuscate(text: &str, style: usize) -> String {
    match style {
        0 => text
            .chars()
            .map(|c| match c {
                'i' => '1',
                'e' => '3',
                'a' => '4',
                's' => '$',
                'o' => '0',
                c => c,
            })
            .collect(),
        1 => text
            .split(' ')
            .map(|w| {
                w.chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join("\u{200B}")
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => text
            .chars()
            .map(|c| match c {
                'a' => 'а',
                'e' => 'е',
                'o' => 'о',
                c => c.to_ascii_uppercase(),
            })
            .collect(),
    }
}
