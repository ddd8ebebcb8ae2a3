//! The gateway's own overhead (issue 15 "Performance"): a zero-latency fake provider
//! (OpenAI wire format, a 4 KB answer), a 4 KB prompt, requests one at a time straight to
//! the fake and through the gateway; then 500 concurrent streams through one gateway.
//!
//! `cargo run --release -p gateway --example overhead [-- REQUESTS]`
//!
//! Prints p50/p99 of the non-streaming round trip and of the streaming time to the
//! first delta, direct and through the gateway, the difference being the gateway's cost
//! (screening both ways, hold-back, one more HTTP hop); then the 500-stream run's wall
//! time and the process's peak RSS (VmHWM; client, gateway and fake share the process).

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use futures::stream;
use serde_json::{json, Value};

const TOKEN: &str = "bench-token-0123456789abcdef";

/// About 4 KB of ordinary classroom prose.
fn text_4k(seed: &str) -> String {
    let sentence = format!(
        "{seed} Students compare fractions by drawing strips of paper, folding them into equal parts, and explaining which part is larger and why. "
    );
    let mut s = String::new();
    while s.len() < 4096 {
        s.push_str(&sentence);
    }
    s.truncate(4096);
    s
}

async fn fake(Json(req): Json<Value>) -> Response {
    let answer = text_4k("The answer.");
    if req["stream"].as_bool() == Some(true) {
        // 64 chunks of 64 bytes, as a model would send them.
        let mut events: Vec<Result<Bytes, std::io::Error>> = answer
            .as_bytes()
            .chunks(64)
            .map(|c| {
                let piece = String::from_utf8_lossy(c);
                Ok(Bytes::from(format!(
                    "data: {}\n\n",
                    json!({"choices": [{"index": 0, "delta": {"content": piece}}]})
                )))
            })
            .collect();
        events.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
        return Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream::iter(events)))
            .unwrap_or_default();
    }
    axum::response::IntoResponse::into_response(Json(json!({
        "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
        "usage": {"prompt_tokens": 1024, "completion_tokens": 1024, "total_tokens": 2048},
    })))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, direct: &mut [Duration], via: &mut [Duration]) {
    direct.sort();
    via.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (d50, d99) = (percentile(direct, 0.5), percentile(direct, 0.99));
    let (g50, g99) = (percentile(via, 0.5), percentile(via, 0.99));
    println!(
        "{name:<28} direct p50 {:.3} ms p99 {:.3} ms | gateway p50 {:.3} ms p99 {:.3} ms | overhead p50 {:.3} ms p99 {:.3} ms",
        ms(d50),
        ms(d99),
        ms(g50),
        ms(g99),
        ms(g50.saturating_sub(d50)),
        ms(g99.saturating_sub(d99)),
    );
}

/// Time to the first SSE byte (direct) or first `data:` delta (gateway).
async fn first_delta(resp: reqwest::Response) -> (Instant, reqwest::Response) {
    let mut resp = resp;
    loop {
        match resp.chunk().await {
            Ok(Some(c)) if c.windows(5).any(|w| w == b"data:") => return (Instant::now(), resp),
            Ok(Some(_)) => continue,
            _ => return (Instant::now(), resp),
        }
    }
}

async fn drain(mut resp: reqwest::Response) {
    while let Ok(Some(_)) = resp.chunk().await {}
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let fake_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_url = format!("http://{}/v1", fake_listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            fake_listener,
            Router::new().route("/v1/chat/completions", post(fake)),
        )
        .await
        .unwrap()
    });
    let mut config = gateway::Config::demo(
        "127.0.0.1:0".parse().unwrap(),
        Some(gateway::Secret::new(TOKEN)),
    );
    config.openai = Some(gateway::config::ProviderConfig {
        base_url: fake_url.clone(),
        api_key: None,
        default_model: "bench".into(),
    });
    let router = gateway::router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway::serve(listener, router, std::future::pending()));

    let client = reqwest::Client::new();
    let prompt = text_4k("Plan a lesson.");
    let direct_body = |stream: bool| json!({"model": "bench", "messages": [{"role": "user", "content": prompt}], "max_tokens": 1024, "stream": stream});
    let gw_body = json!({"provider": "openai", "prompt": prompt, "task_type": "lesson_plan", "max_tokens": 1024,
        "context": {"tenant_id": "bench", "safety_level": "strict", "user_role": "teacher"}});

    // Warm-up (connection pools, the safety pipeline's first use).
    for _ in 0..50 {
        let r = client
            .post(format!("{fake_url}/chat/completions"))
            .json(&direct_body(false))
            .send()
            .await
            .unwrap();
        drain(r).await;
        let r = client
            .post(format!("{gw}/v1/generate"))
            .bearer_auth(TOKEN)
            .json(&gw_body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        drain(r).await;
    }

    let (mut direct, mut via) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .post(format!("{fake_url}/chat/completions"))
            .json(&direct_body(false))
            .send()
            .await
            .unwrap();
        drain(r).await;
        direct.push(t.elapsed());
        let t = Instant::now();
        let r = client
            .post(format!("{gw}/v1/generate"))
            .bearer_auth(TOKEN)
            .json(&gw_body)
            .send()
            .await
            .unwrap();
        drain(r).await;
        via.push(t.elapsed());
    }
    report("non-streaming round trip", &mut direct, &mut via);

    let (mut direct, mut via) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        let r = client
            .post(format!("{fake_url}/chat/completions"))
            .json(&direct_body(true))
            .send()
            .await
            .unwrap();
        let (at, r) = first_delta(r).await;
        direct.push(at - t);
        drain(r).await;
        let t = Instant::now();
        let r = client
            .post(format!("{gw}/v1/generate_stream"))
            .bearer_auth(TOKEN)
            .json(&gw_body)
            .send()
            .await
            .unwrap();
        let (at, r) = first_delta(r).await;
        via.push(at - t);
        drain(r).await;
    }
    report("streaming first delta", &mut direct, &mut via);

    let before = peak_rss_kib();
    let t = Instant::now();
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let client = client.clone();
            let url = format!("{gw}/v1/generate_stream");
            let body = gw_body.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                drain(r).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "500 concurrent streams: {:.0} ms wall; peak RSS {} MiB before, {} MiB after",
        t.elapsed().as_secs_f64() * 1000.0,
        before / 1024,
        peak_rss_kib() / 1024
    );
}
