//! A loopback stand-in for a webhook receiver such as Slack's incoming webhooks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;

/// Records every request's JSON body (`Null` when it is not JSON) and answers 500
/// `server_error` while [`Receiver::set_down`] is on, else 200 `ok` as Slack does.
#[derive(Clone, Default)]
pub struct Receiver {
    requests: Arc<Mutex<Vec<(bool, Value)>>>,
    down: Arc<AtomicBool>,
}

impl Receiver {
    /// Serves on a free loopback port until the runtime ends; returns the port.
    pub async fn start(&self) -> u16 {
        let me = self.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let me = me.clone();
            async move {
                let down = me.down.load(Ordering::SeqCst);
                let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                me.requests.lock().unwrap().push((!down, json));
                if down {
                    (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
                } else {
                    (StatusCode::OK, "ok")
                }
            }
        });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        port
    }

    /// Fails every request from now on (`true`) or answers them again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every request received, delivered or refused.
    pub fn received(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// The bodies of the requests answered `ok`, in order.
    pub fn delivered(&self) -> Vec<Value> {
        let r = self.requests.lock().unwrap();
        r.iter()
            .filter(|(ok, _)| *ok)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// How many requests were refused while down.
    pub fn failed(&self) -> usize {
        let r = self.requests.lock().unwrap();
        r.iter().filter(|(ok, _)| !ok).count()
    }
}
