//! The moderation stage over loopback HTTP: a gateway in front of the fake provider and
//! the fake moderation endpoint (`gateway::testing`): flagging, slow, down.

use std::sync::atomic::Ordering;
use std::time::Duration;

use gateway::config::{ModerationConfig, ProviderConfig};
use gateway::providers::SseParser;
use gateway::testing as fake;
use gateway::{Config, Secret};
use serde_json::{json, Value};

const TOKEN: &str = "test-service-token-0123456789";

struct Setup {
    url: String,
    fake: fake::Fake,
    client: reqwest::Client,
}

/// A gateway whose moderation stage is at `moderation_url` (500 ms budget).
async fn setup(moderation_url: String) -> Setup {
    let fake = fake::start().await;
    let mut config = Config::demo("127.0.0.1:0".parse().unwrap(), Some(Secret::new(TOKEN)));
    config.openai = Some(ProviderConfig {
        base_url: format!("{}/v1", fake.url),
        api_key: Some(Secret::new(fake::OPENAI_KEY)),
        default_model: "lesson".into(),
    });
    config.timeout = Duration::from_secs(2);
    config.moderation = Some(ModerationConfig {
        url: moderation_url,
        api_key: Some(Secret::new(fake::MODERATION_KEY)),
        model: Some("fake-moderation".into()),
        timeout: Duration::from_millis(500),
    });
    let router = gateway::router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(listener, router, std::future::pending()));
    Setup {
        url,
        fake,
        client: reqwest::Client::new(),
    }
}

impl Setup {
    async fn generate(&self, path: &str, prompt: &str, role: &str, model: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .json(&json!({
                "provider": "openai", "model": model, "prompt": prompt,
                "context": {"tenant_id": "t-1", "safety_level": "strict", "user_role": role},
            }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(!text.contains(fake::MODERATION_KEY), "{text}");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn flagged_prompts_and_answers_are_withheld() {
    let m = fake::start_moderation().await;
    let s = setup(format!("{}/v1/moderations", m.url)).await;
    // A student's prompt the model flags: withheld, the provider never called.
    let (st, v) = s
        .generate("/v1/generate", "Tell me about FIGHTME", "student", "phone")
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["code"], "content_safety");
    assert_eq!(v["error"]["subcategory"], "violence");
    assert_eq!(v["error"]["direction"], "input");
    assert_eq!(s.fake.counters.requests(), 0);
    // Self-harm from the model is escalated, for staff too.
    let (st, v) = s
        .generate("/v1/generate", "HURTME", "teacher", "phone")
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["category"], "self_harm");
    assert_eq!(v["error"]["action"], "escalated");
    assert_eq!(s.fake.counters.requests(), 0);
    // A staff prompt on violence is judged like the local screen judges it: it passes.
    let (st, v) = s
        .generate(
            "/v1/generate",
            "A lesson on FIGHTME in history",
            "teacher",
            "phone",
        )
        .await;
    assert_eq!(st, 200, "{v}");
    // An answer the model flags is withheld, streamed or not.
    let (st, v) = s
        .generate("/v1/generate", "Plan a lesson", "teacher", "lesson")
        .await;
    assert_eq!(st, 422, "{v}");
    assert_eq!(v["error"]["direction"], "output");
    assert_eq!(v["error"]["subcategory"], "violence");
    let mut r = s
        .client
        .post(format!("{}/v1/generate_stream", s.url))
        .bearer_auth(TOKEN)
        .json(
            &json!({"provider": "openai", "model": "lesson", "prompt": "Plan a lesson",
            "context": {"user_role": "teacher"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        parser.feed(&chunk, &mut events);
    }
    let sent: String = events
        .iter()
        .filter(|e| e.event.is_empty())
        .map(|e| e.data.clone())
        .collect();
    assert!(!sent.contains("Exit ticket"), "{sent}");
    let last = events.last().unwrap();
    assert_eq!(last.event, "safety", "{events:?}");
    assert!(last.data.contains("violence"), "{}", last.data);
    assert!(m.requests.load(Ordering::SeqCst) >= 6);
}

#[tokio::test]
async fn a_slow_or_absent_moderator_fails_closed_for_students_open_for_staff() {
    let m = fake::start_moderation().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/moderations", l.local_addr().unwrap())
    };
    for (url, prompt) in [
        (
            format!("{}/v1/moderations", m.url),
            "SLOWME: what is a fraction?",
        ),
        (dead, "What is a fraction?"),
    ] {
        let s = setup(url).await;
        let started = std::time::Instant::now();
        let (st, v) = s.generate("/v1/generate", prompt, "student", "phone").await;
        assert_eq!(st, 503, "{v}");
        assert_eq!(v["error"]["code"], "moderation_unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the budget bounds the wait"
        );
        let (st, v) = s
            .generate("/v1/generate_stream", prompt, "student", "phone")
            .await;
        assert_eq!(st, 503, "{v}");
        assert_eq!(s.fake.counters.requests(), 0);
        let (st, v) = s.generate("/v1/generate", prompt, "teacher", "phone").await;
        assert_eq!(st, 200, "{v}");
        assert!(
            v["content"].as_str().unwrap().contains("[REDACTED PHONE]"),
            "{v}"
        );
    }
}
