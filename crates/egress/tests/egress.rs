//! The guarded resolver and client against loopback servers only: a DNS server written
//! here, and HTTP responders. Outgoing connections are bound to 127.0.0.1, so a connection
//! to any other address fails on this host and nothing leaves it.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{redirect, response, DnsServer, HttpServer, LogCapture};
use egress::header::{HeaderValue, AUTHORIZATION, COOKIE};
use egress::{
    check_urls, AllowEntry, EgressConfig, EgressError, GuardedClient, GuardedResolver,
    OutgoingRequest, Policy, Reason, StatusCode,
};

/// Globally reachable by the guard's judgement; tests never connect to it (connections
/// are bound to 127.0.0.1, so the kernel refuses the route).
const PUBLIC: &str = "93.184.215.14";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(dns: &DnsServer, extra_ports: &[u16], allowlist: &[String]) -> EgressConfig {
    let mut allowed_ports = vec![80, 443];
    allowed_ports.extend_from_slice(extra_ports);
    EgressConfig {
        policy: Policy {
            allowed_ports,
            allow_http: true,
            allowlist: allowlist
                .iter()
                .map(|e| AllowEntry::parse(e).unwrap())
                .collect(),
        },
        dns_servers: vec![dns.addr],
        dns_timeout: Duration::from_millis(300),
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_secs(5),
        max_body_bytes: 4096,
        max_redirects: 3,
        local_address: Some(ip("127.0.0.1")),
    }
}

/// A DNS server that knows no names.
async fn silent_dns() -> DnsServer {
    DnsServer::start(|_, _| Some(vec![])).await
}

fn refused(result: Result<egress::GuardedResponse, EgressError>) -> (Reason, usize) {
    match result {
        Err(EgressError::Refused { reason, hop }) => (reason, hop),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn rebinding_cannot_reach_loopback() {
    let server = HttpServer::start(|_| response("200 OK", "", "internal secret")).await;
    // Public on the first lookup, loopback on every later one.
    let dns = DnsServer::start(|name, n| {
        (name == "rebind.k12-tests.com")
            .then(|| vec![ip(if n == 0 { PUBLIC } else { "127.0.0.1" })])
    })
    .await;
    let client = GuardedClient::new(config(&dns, &[server.port()], &[])).unwrap();
    let url = format!("http://rebind.k12-tests.com:{}/", server.port());

    // The first request is admitted with the public answer and connects only there: one
    // lookup, and the connection (to the public address, refused locally) is not the
    // loopback server.
    match client.get(&url).await {
        Err(EgressError::Connect(_)) => {}
        other => panic!("expected a local connect failure to the public address, got {other:?}"),
    }
    assert_eq!(
        dns.a_queries("rebind.k12-tests.com"),
        1,
        "exactly one lookup"
    );
    assert_eq!(server.connection_count(), 0);

    // The next lookup answers loopback: refused before any connection.
    assert_eq!(
        refused(client.get(&url).await),
        (Reason::LoopbackAddress, 0)
    );
    assert_eq!(dns.a_queries("rebind.k12-tests.com"), 2);
    assert_eq!(server.connection_count(), 0, "never reached loopback");
}

#[tokio::test]
async fn a_name_with_one_private_answer_is_refused() {
    let server = HttpServer::start(|_| response("200 OK", "", "x")).await;
    let dns = DnsServer::start(|name, _| match name {
        "mixed.k12-tests.com" => Some(vec![ip(PUBLIC), ip("127.0.0.1")]),
        "mixed10.k12-tests.com" => Some(vec![ip("10.0.0.7"), ip(PUBLIC)]),
        "mixed6.k12-tests.com" => Some(vec![ip(PUBLIC), ip("::1")]),
        _ => Some(vec![]),
    })
    .await;
    let cfg = config(&dns, &[server.port()], &[]);
    let client = GuardedClient::new(cfg.clone()).unwrap();
    let url = |host: &str| format!("http://{host}:{}/", server.port());
    assert_eq!(
        refused(client.get(&url("mixed.k12-tests.com")).await),
        (Reason::LoopbackAddress, 0)
    );
    assert_eq!(
        refused(client.get(&url("mixed10.k12-tests.com")).await),
        (Reason::PrivateAddress, 0)
    );
    assert_eq!(
        refused(client.get(&url("mixed6.k12-tests.com")).await),
        (Reason::LoopbackAddress, 0)
    );
    assert_eq!(
        refused(client.get(&url("nothing.k12-tests.com")).await),
        (Reason::NoAddresses, 0)
    );
    assert_eq!(server.connection_count(), 0);
}

#[tokio::test]
async fn verdicts_run_every_stage_and_serialise() {
    let dns = DnsServer::start(|name, _| match name {
        "hooks.k12-tests.com" => Some(vec![ip(PUBLIC), ip("2606:2800:21f:cb07::1")]),
        "meta.k12-tests.com" => Some(vec![ip("169.254.169.254")]),
        _ => Some(vec![]),
    })
    .await;
    let mut cfg = config(&dns, &[], &["localhost:8080".to_string()]);
    cfg.policy.allow_http = false;
    let urls = [
        "https://hooks.k12-tests.com/services/x",
        "https://meta.k12-tests.com/latest",
        "gopher://127.0.0.1:70/",
        "https://user@hooks.k12-tests.com/",
        "https://hooks.k12-tests.com:22/",
        "http://hooks.k12-tests.com/",
        "https://127.0.0.1/",
        "https://0x7f.1/",
        "https://localhost/",
        "https://nothing.k12-tests.com/",
    ];
    let verdicts = check_urls(&cfg, &urls).await.unwrap();
    let reasons: Vec<Option<&str>> = verdicts
        .iter()
        .map(|v| v.reason.map(|r| r.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            None,
            Some("metadata_address"),
            Some("scheme_not_allowed"),
            Some("userinfo_not_allowed"),
            Some("port_not_allowed"),
            Some("scheme_not_allowed"),
            Some("loopback_address"),
            Some("loopback_address"),
            Some("forbidden_host"),
            Some("no_addresses"),
        ]
    );
    // Only the two names that passed the pure stages were looked up (A and AAAA each).
    let names: Vec<String> = dns
        .queries
        .lock()
        .unwrap()
        .iter()
        .map(|q| q.split(' ').next().unwrap().to_owned())
        .collect();
    assert!(
        names.iter().all(|n| n == "hooks.k12-tests.com"
            || n == "meta.k12-tests.com"
            || n == "nothing.k12-tests.com"),
        "{names:?}"
    );

    let allowed = serde_json::to_value(&verdicts[0]).unwrap();
    assert_eq!(
        allowed,
        serde_json::json!({
            "url": "https://hooks.k12-tests.com/services/x",
            "allowed": true,
            "reason": null,
            "addresses": [PUBLIC, "2606:2800:21f:cb07::1"],
        })
    );
    let refused = serde_json::to_value(&verdicts[1]).unwrap();
    assert_eq!(
        refused,
        serde_json::json!({
            "url": "https://meta.k12-tests.com/latest",
            "allowed": false,
            "reason": "metadata_address",
            "addresses": [],
        })
    );
}

#[tokio::test]
async fn allow_listed_loopback_server_is_reached_and_the_exemption_logged() {
    let logs = LogCapture::start();
    let server =
        HttpServer::start(|_| response("200 OK", "content-type: text/plain\r\n", "hello")).await;
    let dns = DnsServer::start(|name, n| {
        // Loopback first, another loopback address on any later lookup.
        (name == "sis.k12-tests.com")
            .then(|| vec![ip(if n == 0 { "127.0.0.1" } else { "127.0.0.2" })])
    })
    .await;
    let port = server.port();
    let cfg = config(
        &dns,
        &[],
        &[
            format!("127.0.0.1:{port}"),
            format!("sis.k12-tests.com:{port}"),
        ],
    );
    let client = GuardedClient::new(cfg).unwrap();

    let literal = client
        .get(&format!("http://127.0.0.1:{port}/hello"))
        .await
        .unwrap();
    assert_eq!(literal.status, StatusCode::OK);
    assert_eq!(literal.body, b"hello");
    assert_eq!(dns.query_count(), 0, "an IP literal is never resolved");

    // By name: resolved once by the guard, connected to that answer only.
    let named = client
        .get(&format!("http://sis.k12-tests.com:{port}/x"))
        .await
        .unwrap();
    assert_eq!(named.body, b"hello");
    assert_eq!(dns.a_queries("sis.k12-tests.com"), 1);
    assert!(server.request_log()[1]
        .to_ascii_lowercase()
        .contains("host: sis.k12-tests.com"));

    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("allow-listed host exempted"), "{text}");
    assert!(
        text.contains("host=\"127.0.0.1\"") || text.contains("host=127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("sis.k12-tests.com"), "{text}");

    // Not exempt on another port of the same host.
    assert_eq!(
        refused(client.get("http://127.0.0.1/").await),
        (Reason::LoopbackAddress, 0)
    );
}

#[tokio::test]
async fn a_redirect_to_loopback_is_refused_at_the_hop() {
    let inner = HttpServer::start(|_| response("200 OK", "", "internal")).await;
    let inner_url = format!("http://127.0.0.1:{}/", inner.port());
    let target = inner_url.clone();
    let outer = HttpServer::start(move |req| {
        if req.starts_with("GET /name") {
            redirect("302 Found", "http://localhost/")
        } else if req.starts_with("GET /meta") {
            redirect(
                "301 Moved Permanently",
                "http://169.254.169.254/latest/meta-data/",
            )
        } else if req.starts_with("GET /backslash") {
            redirect("302 Found", "/\\127.0.0.1/")
        } else {
            redirect("307 Temporary Redirect", &target)
        }
    })
    .await;
    let dns = silent_dns().await;
    let cfg = config(
        &dns,
        &[inner.port()],
        &[format!("127.0.0.1:{}", outer.port())],
    );
    let client = GuardedClient::new(cfg).unwrap();
    let base = format!("http://127.0.0.1:{}", outer.port());

    assert_eq!(
        refused(client.get(&format!("{base}/go")).await),
        (Reason::LoopbackAddress, 1)
    );
    assert_eq!(
        refused(client.get(&format!("{base}/name")).await),
        (Reason::ForbiddenHost, 1)
    );
    assert_eq!(
        refused(client.get(&format!("{base}/meta")).await),
        (Reason::MetadataAddress, 1)
    );
    assert_eq!(
        refused(client.get(&format!("{base}/backslash")).await),
        (Reason::InvalidUrl, 1)
    );
    assert_eq!(outer.request_log().len(), 4);
    assert_eq!(inner.connection_count(), 0);
}

#[tokio::test]
async fn redirects_are_limited_and_drop_credentials_across_origins() {
    let other = HttpServer::start(|_| response("200 OK", "", "other")).await;
    let other_url = format!("http://127.0.0.1:{}/landed", other.port());
    let home = HttpServer::start(move |req| {
        let path = req.split(' ').nth(1).unwrap_or("/").to_owned();
        match path.as_str() {
            "/same" => redirect("302 Found", "/same-landed"),
            "/same-landed" => response("200 OK", "", "same"),
            "/cross" => redirect("303 See Other", &other_url),
            p if p.starts_with("/loop") => redirect("302 Found", &format!("{p}x")),
            _ => response("404 Not Found", "", ""),
        }
    })
    .await;
    let dns = silent_dns().await;
    let cfg = config(
        &dns,
        &[],
        &[
            format!("127.0.0.1:{}", home.port()),
            format!("127.0.0.1:{}", other.port()),
        ],
    );
    let client = GuardedClient::new(cfg).unwrap();
    let base = format!("http://127.0.0.1:{}", home.port());
    let with_credentials = |url: String| {
        OutgoingRequest::post(url, "{\"a\":1}")
            .header(
                AUTHORIZATION,
                HeaderValue::from_static("Bearer secret-token"),
            )
            .header(COOKIE, HeaderValue::from_static("session=abc"))
    };

    // Same origin: credentials kept; 302 after POST becomes GET.
    let same = client
        .send(with_credentials(format!("{base}/same")))
        .await
        .unwrap();
    assert_eq!((same.body.as_slice(), same.redirects), (&b"same"[..], 1));
    let log = home.request_log();
    assert!(log[1].starts_with("GET /same-landed"), "{}", log[1]);
    assert!(log[1]
        .to_ascii_lowercase()
        .contains("authorization: bearer secret-token"));

    // Cross origin: credentials dropped, 303 turns the POST into a bodiless GET.
    let cross = client
        .send(with_credentials(format!("{base}/cross")))
        .await
        .unwrap();
    assert_eq!(cross.body, b"other");
    assert_eq!(
        cross.url.as_str(),
        format!("http://127.0.0.1:{}/landed", other.port())
    );
    let landed = other.request_log()[0].to_ascii_lowercase();
    assert!(landed.starts_with("get /landed"), "{landed}");
    assert!(!landed.contains("authorization"), "{landed}");
    assert!(!landed.contains("cookie"), "{landed}");
    assert!(!landed.contains("secret-token"), "{landed}");

    // At most three redirects: the fourth is not followed.
    let before = home.request_log().len();
    match client.get(&format!("{base}/loop")).await {
        Err(EgressError::TooManyRedirects { limit: 3 }) => {}
        other => panic!("expected too many redirects, got {other:?}"),
    }
    assert_eq!(home.request_log().len() - before, 4);
}

#[tokio::test]
async fn the_body_is_capped() {
    let big = "x".repeat(64 * 1024);
    let declared = big.clone();
    let server = HttpServer::start(move |req| {
        if req.starts_with("GET /declared") {
            response("200 OK", "", &declared)
        } else if req.starts_with("GET /small") {
            response("200 OK", "", "small")
        } else {
            // No content-length: the body ends when the connection closes.
            Some(
                format!(
                    "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{}",
                    "y".repeat(64 * 1024)
                )
                .into_bytes(),
            )
        }
    })
    .await;
    let dns = silent_dns().await;
    let cfg = config(&dns, &[], &[format!("127.0.0.1:{}", server.port())]);
    let client = GuardedClient::new(cfg).unwrap();
    let base = format!("http://127.0.0.1:{}", server.port());
    for path in ["/declared", "/streamed"] {
        match client.get(&format!("{base}{path}")).await {
            Err(e @ EgressError::BodyTooLarge { limit: 4096 }) => {
                assert_eq!(e.to_string(), "response body larger than 4096 bytes");
            }
            other => panic!("{path}: expected the body cap, got {other:?}"),
        }
    }
    assert_eq!(
        client.get(&format!("{base}/small")).await.unwrap().body,
        b"small"
    );
}

#[tokio::test]
async fn a_dead_endpoint_is_a_timeout_not_a_hang() {
    let server = HttpServer::start(|_| None).await;
    let dns = silent_dns().await;
    let mut cfg = config(&dns, &[], &[format!("127.0.0.1:{}", server.port())]);
    cfg.total_timeout = Duration::from_millis(400);
    let client = GuardedClient::new(cfg).unwrap();
    let started = Instant::now();
    match client
        .get(&format!("http://127.0.0.1:{}/", server.port()))
        .await
    {
        Err(EgressError::Timeout { limit }) => assert_eq!(limit, Duration::from_millis(400)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.connection_count(), 1);

    // A closed port is a connect error, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = config(&dns, &[], &[format!("127.0.0.1:{closed}")]);
    cfg.total_timeout = Duration::from_secs(5);
    let client = GuardedClient::new(cfg).unwrap();
    match client.get(&format!("http://127.0.0.1:{closed}/")).await {
        Err(e @ EgressError::Connect(_)) => {
            assert_eq!(e.to_string(), "could not connect to the host")
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dead_name_server_is_a_resolution_failure() {
    let dns = DnsServer::start(|_, _| None).await;
    let resolver = GuardedResolver::new(&config(&dns, &[], &[])).unwrap();
    let started = Instant::now();
    let verdict = resolver.check("https://slow.k12-tests.com/").await;
    assert_eq!(verdict.reason, Some(Reason::ResolutionFailed));
    assert!(!verdict.allowed);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_client_is_shared_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<GuardedClient>();
    send_sync::<GuardedResolver>();
    let dns = silent_dns().await;
    let client = std::sync::Arc::new(GuardedClient::new(config(&dns, &[], &[])).unwrap());
    // `send` futures are Send: they can run on a spawned task (a job, a handler).
    let task = tokio::spawn({
        let client = client.clone();
        async move { client.get("https://[::ffff:169.254.169.254]/").await }
    });
    assert_eq!(refused(task.await.unwrap()), (Reason::MetadataAddress, 0));
}
