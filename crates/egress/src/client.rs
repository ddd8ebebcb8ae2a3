//! The guarded HTTP client: every hop is admitted by the guard, and the connection goes only
//! to the addresses that were judged.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;
use urlguard::{Host, Reason, Target};

use crate::{EgressConfig, EgressError, GuardedResolver};

/// An HTTP client for user-supplied URLs. Requests never use a proxy, never resolve a name
/// a second time, follow at most `max_redirects` redirects themselves (each hop judged
/// again, credentials dropped across origins) and read at most `max_body_bytes`.
pub struct GuardedClient {
    resolver: Arc<GuardedResolver>,
    config: EgressConfig,
}

/// A request to send through [`GuardedClient::send`].
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    /// The method.
    pub method: Method,
    /// The user-supplied URL.
    pub url: String,
    /// Headers; `Authorization`, `Cookie` and `Proxy-Authorization` are dropped on a
    /// cross-origin redirect.
    pub headers: HeaderMap,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
}

impl OutgoingRequest {
    /// A request without headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> OutgoingRequest {
        OutgoingRequest {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> OutgoingRequest {
        OutgoingRequest::new(Method::GET, url)
    }

    /// A POST request with a body.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> OutgoingRequest {
        OutgoingRequest {
            body: Some(body.into()),
            ..OutgoingRequest::new(Method::POST, url)
        }
    }

    /// Add a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> OutgoingRequest {
        self.headers.append(name, value);
        self
    }
}

/// A response read completely (within the size cap).
#[derive(Debug, Clone)]
pub struct GuardedResponse {
    /// The final status.
    pub status: StatusCode,
    /// The final headers.
    pub headers: HeaderMap,
    /// The body, at most `max_body_bytes`.
    pub body: Vec<u8>,
    /// The URL of the final hop.
    pub url: Url,
    /// How many redirects were followed.
    pub redirects: usize,
}

/// The resolver of every per-hop reqwest client: it refuses every lookup, so the only
/// addresses reqwest can use are the judged ones pinned with `resolve_to_addrs`.
struct NoLookups;

impl Resolve for NoLookups {
    fn resolve(&self, _name: Name) -> Resolving {
        Box::pin(std::future::ready(Err::<Addrs, _>(
            "egress: names are resolved by the URL guard only".into(),
        )))
    }
}

impl GuardedClient {
    /// A client with its own resolver.
    pub fn new(config: EgressConfig) -> Result<GuardedClient, EgressError> {
        let resolver = Arc::new(GuardedResolver::new(&config)?);
        Ok(GuardedClient::with_resolver(resolver, config))
    }

    /// A client sharing a resolver (and its cache) with other users; `config` supplies the
    /// timeouts and limits, the resolver's own guard judges the URLs.
    pub fn with_resolver(resolver: Arc<GuardedResolver>, config: EgressConfig) -> GuardedClient {
        GuardedClient { resolver, config }
    }

    /// The resolver, for verdicts without requests.
    pub fn resolver(&self) -> &GuardedResolver {
        &self.resolver
    }

    /// GET a user-supplied URL.
    pub async fn get(&self, url: &str) -> Result<GuardedResponse, EgressError> {
        self.send(OutgoingRequest::get(url)).await
    }

    /// Send a request: judged, pinned, redirects followed by hand, body capped, all
    /// within `total_timeout`.
    pub async fn send(&self, request: OutgoingRequest) -> Result<GuardedResponse, EgressError> {
        let limit = self.config.total_timeout;
        tokio::time::timeout(limit, self.send_hops(request))
            .await
            .unwrap_or(Err(EgressError::Timeout { limit }))
    }

    async fn send_hops(&self, request: OutgoingRequest) -> Result<GuardedResponse, EgressError> {
        let OutgoingRequest {
            mut method,
            mut url,
            mut headers,
            mut body,
        } = request;
        let mut origin: Option<(String, String, u16)> = None;
        for hop in 0..=self.config.max_redirects {
            let (target, addresses) =
                self.resolver
                    .admit(&url)
                    .await
                    .map_err(|r| EgressError::Refused {
                        reason: r.reason,
                        hop,
                    })?;
            let this_origin = origin_of(&target);
            match &origin {
                None => origin = Some(this_origin),
                Some(first) if *first != this_origin => {
                    for name in [
                        header::AUTHORIZATION,
                        header::COOKIE,
                        header::PROXY_AUTHORIZATION,
                    ] {
                        headers.remove(name);
                    }
                }
                Some(_) => {}
            }
            let response = self
                .send_one(&target, &addresses, &method, &headers, body.clone())
                .await?;
            let status = response.status();
            let location = response.headers().get(header::LOCATION).cloned();
            let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            let (true, Some(location)) = (redirect, location) else {
                return self.read(response, target.url().clone(), hop).await;
            };
            if hop == self.config.max_redirects {
                break;
            }
            url = next_hop(target.url(), &location).ok_or(EgressError::Refused {
                reason: Reason::InvalidUrl,
                hop: hop + 1,
            })?;
            let to_get = status == StatusCode::SEE_OTHER && method != Method::HEAD
                || matches!(status.as_u16(), 301 | 302) && method == Method::POST;
            if to_get {
                method = Method::GET;
                body = None;
                headers.remove(header::CONTENT_TYPE);
                headers.remove(header::CONTENT_LENGTH);
            }
        }
        Err(EgressError::TooManyRedirects {
            limit: self.config.max_redirects,
        })
    }

    /// One request on a client that can connect only to `addresses`.
    async fn send_one(
        &self,
        target: &Target,
        addresses: &[SocketAddr],
        method: &Method,
        headers: &HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, EgressError> {
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.config.connect_timeout)
            .dns_resolver(Arc::new(NoLookups))
            .user_agent(concat!("k12-egress/", env!("CARGO_PKG_VERSION")));
        if let Host::Name(_) = target.host() {
            // The key is the host exactly as reqwest reads it from the URL.
            builder = builder.resolve_to_addrs(target.host_str(), addresses);
        }
        if let Some(local) = self.config.local_address {
            builder = builder.local_address(local);
        }
        let client = builder.build().map_err(EgressError::Client)?;
        let mut request = client
            .request(method.clone(), target.url().clone())
            .headers(headers.clone());
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await.map_err(|e| self.transport(e))
    }

    /// Read the body, refusing more than `max_body_bytes`.
    async fn read(
        &self,
        mut response: reqwest::Response,
        url: Url,
        redirects: usize,
    ) -> Result<GuardedResponse, EgressError> {
        let limit = self.config.max_body_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(EgressError::BodyTooLarge { limit });
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > limit {
                return Err(EgressError::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(GuardedResponse {
            status,
            headers,
            body,
            url,
            redirects,
        })
    }

    fn transport(&self, e: reqwest::Error) -> EgressError {
        if e.is_timeout() {
            // Per-hop clients have no overall timeout of their own: this is the connect one.
            EgressError::ConnectTimeout {
                limit: self.config.connect_timeout,
            }
        } else if e.is_connect() {
            EgressError::Connect(e)
        } else {
            EgressError::Transport(e)
        }
    }
}

/// Scheme, host and port: credentials stay within one origin.
fn origin_of(target: &Target) -> (String, String, u16) {
    (
        target.scheme().as_str().to_owned(),
        target.host_str().to_owned(),
        target.port(),
    )
}

/// The next URL from a `Location` header, relative to the current one. `None` for a value
/// that is not visible ASCII or would be repaired by the parser (backslashes).
fn next_hop(current: &Url, location: &HeaderValue) -> Option<String> {
    let location = location.to_str().ok()?;
    if location.contains('\\') || location.chars().any(|c| c.is_whitespace()) {
        return None;
    }
    current.join(location).ok().map(String::from)
}
