//! The optional second screening stage (`K12_MODERATION_URL`): an OpenAI-moderation-
//! compatible endpoint (`POST /v1/moderations`: a hosted moderation API, or Llama Guard
//! behind an OpenAI-compatible server) consulted after the local screen has passed a
//! text, on prompts and on answers. Its categories are mapped onto ours and the
//! stricter verdict wins.
//!
//! When it does not answer within `K12_MODERATION_TIMEOUT_MS` (or fails), the gateway
//! fails closed for students (the prompt or answer is withheld: 503
//! `moderation_unavailable`) and open for staff (the local verdict stands, a warning is
//! logged). Staff prompts are judged like the local screen judges them (never above
//! `standard`): on them only self-harm and sexual content involving minors count, so a
//! lesson on a war or on drug prevention is not refused by the model either.

use std::time::Duration;

use safety::{Action, Category, Verdict};
use serde_json::{json, Map, Value};

use crate::config::{ModerationConfig, Secret};

pub struct Moderator {
    url: String,
    api_key: Option<Secret>,
    model: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

/// One category the model flagged, mapped onto ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// The model's name, e.g. `self-harm/intent`.
    pub name: String,
    /// Our sub-category, e.g. `self_harm`.
    pub subcategory: &'static str,
    pub action: Action,
    pub score: f32,
}

/// The model's answer: what it flagged and its scores by its category names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moderation {
    pub flags: Vec<Flag>,
    pub scores: Map<String, Value>,
}

/// Our sub-category and action for one of the model's category names.
fn map(name: &str) -> Option<(&'static str, Action)> {
    Some(match name.split('/').next()? {
        "self-harm" | "self_harm" => ("self_harm", Action::Escalated),
        "sexual" => ("explicit", Action::Blocked),
        "violence" => ("violence", Action::Blocked),
        "harassment" => ("bullying", Action::Blocked),
        "hate" => ("hate", Action::Blocked),
        "illicit" if name == "illicit/violent" => ("weapons", Action::Blocked),
        "illicit" => ("drugs_alcohol", Action::Blocked),
        _ => return None,
    })
}

/// Reads a moderation response (`{"results": [{"flagged", "categories",
/// "category_scores"}]}`); every result counts.
pub fn parse(body: &Value) -> Result<Moderation, String> {
    let results = body["results"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or("the moderation answer has no results")?;
    let mut out = Moderation::default();
    for r in results {
        let scores = r["category_scores"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut known = false;
        if let Some(categories) = r["categories"].as_object() {
            for (name, flagged) in categories {
                if flagged.as_bool() != Some(true) {
                    continue;
                }
                if let Some((subcategory, action)) = map(name) {
                    known = true;
                    out.flags.push(Flag {
                        name: name.clone(),
                        subcategory,
                        action,
                        score: scores.get(name).and_then(Value::as_f64).unwrap_or(1.0) as f32,
                    });
                }
            }
        }
        // Flagged under a name we do not know (another classifier's taxonomy): still
        // withheld, as the stricter verdict.
        if r["flagged"].as_bool() == Some(true) && !known {
            out.flags.push(Flag {
                name: "flagged".into(),
                subcategory: "moderation",
                action: Action::Blocked,
                score: 1.0,
            });
        }
        for (k, v) in scores {
            let prev = out.scores.get(&k).and_then(Value::as_f64).unwrap_or(0.0);
            if v.as_f64().unwrap_or(0.0) >= prev {
                out.scores.insert(k, v);
            }
        }
    }
    Ok(out)
}

/// `local` (a verdict that passed) with the model's findings: the stricter wins. On
/// staff prompts (`staff_input`) only self-harm and sexual content involving minors count.
pub fn combine(local: Verdict, m: &Moderation, staff_input: bool) -> Verdict {
    let worst = m
        .flags
        .iter()
        .filter(|f| !staff_input || f.subcategory == "self_harm" || f.name == "sexual/minors")
        .max_by(|a, b| a.action.cmp(&b.action).then(a.score.total_cmp(&b.score)));
    let Some(flag) = worst else { return local };
    if flag.action <= local.action {
        return local;
    }
    // The model's scores join ours (same names: ours are in its shape); the higher wins.
    let mut scores = serde_json::to_value(&local.category_scores).unwrap_or(json!({}));
    if let Some(ours) = scores.as_object_mut() {
        for (k, v) in &m.scores {
            if let Some(slot) = ours.get_mut(k) {
                let theirs = v.as_f64().unwrap_or(0.0);
                if theirs > slot.as_f64().unwrap_or(0.0) {
                    *slot = json!(theirs);
                }
            }
        }
    }
    Verdict {
        passed: false,
        action: flag.action,
        category: Some(Category::Inappropriate),
        subcategory: Some(flag.subcategory.to_owned()),
        confidence: flag.score.clamp(0.0, 1.0),
        detail: format!(
            "moderation model flagged {} (score {:.2})",
            flag.name, flag.score
        ),
        category_scores: serde_json::from_value(scores).unwrap_or(local.category_scores),
        spans: local.spans,
        text: None,
    }
}

impl Moderator {
    pub fn new(c: &ModerationConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            url: c.url.clone(),
            api_key: c.api_key.clone(),
            model: c.model.clone(),
            timeout: c.timeout,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// Asks the model about `text` within the time budget. The error says why, never
    /// with the key or the text.
    pub async fn check(&self, text: &str) -> Result<Moderation, String> {
        let mut body = json!({ "input": text });
        if let Some(m) = &self.model {
            body["model"] = json!(m);
        }
        let mut req = self.client.post(&self.url).json(&body);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k.expose());
        }
        let call = async {
            let r = req.send().await.map_err(|e| e.without_url().to_string())?;
            if !r.status().is_success() {
                return Err(format!("answered HTTP {}", r.status().as_u16()));
            }
            let v: Value = r.json().await.map_err(|e| e.without_url().to_string())?;
            parse(&v)
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Verdict {
        safety::Pipeline::shared().check_input("A lesson on fractions", &safety::Policy::default())
    }

    #[test]
    fn categories_map_and_the_stricter_verdict_wins() {
        let m = parse(&json!({"results": [{"flagged": true,
            "categories": {"violence": true, "self-harm/intent": true, "sexual": false},
            "category_scores": {"violence": 0.7, "self-harm/intent": 0.9, "sexual": 0.01}}]}))
        .unwrap();
        assert_eq!(m.flags.len(), 2);
        let v = combine(allowed(), &m, false);
        assert_eq!(v.action, Action::Escalated);
        assert_eq!(v.subcategory.as_deref(), Some("self_harm"));
        assert!(!v.passed);
        assert!(v.category_scores.self_harm_intent >= 0.9);
        // Staff prompts: only self-harm (and sexual/minors) count.
        let violence = parse(&json!({"results": [{"flagged": true,
            "categories": {"violence": true}, "category_scores": {"violence": 0.8}}]}))
        .unwrap();
        assert!(combine(allowed(), &violence, true).passed);
        assert_eq!(combine(allowed(), &violence, false).action, Action::Blocked);
        // Nothing flagged: the local verdict stands.
        let clear =
            parse(&json!({"results": [{"flagged": false, "categories": {"violence": false}}]}))
                .unwrap();
        assert_eq!(combine(allowed(), &clear, false), allowed());
        // Another taxonomy, flagged: withheld.
        let other =
            parse(&json!({"results": [{"flagged": true, "categories": {"S9": true}}]})).unwrap();
        assert_eq!(combine(allowed(), &other, false).action, Action::Blocked);
        assert!(parse(&json!({"results": []})).is_err());
    }
}
