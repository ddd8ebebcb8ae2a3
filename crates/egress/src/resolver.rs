//! Resolution through our own resolver, judged by the URL guard.

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
use serde::{Serialize, Serializer};
use urlguard::{Guard, Host, Reason, Refusal, Target};

use crate::{EgressConfig, EgressError};

/// The URL guard plus the one resolver whose answers are judged and then used to connect.
pub struct GuardedResolver {
    guard: Guard,
    dns: TokioResolver,
    lookup_timeout: std::time::Duration,
}

/// The outcome of checking one URL, ready to print as JSON:
/// `{"url": ..., "allowed": true|false, "reason": null|"loopback_address", "addresses": [...]}`.
/// `addresses` lists what a request would connect to and is empty for a refusal, so a
/// refusal never echoes resolution details. `"allow_listed": true` is added when an
/// allow-list entry exempted the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The URL as given.
    pub url: String,
    /// Whether a request to this URL would be made.
    pub allowed: bool,
    /// The rule that refused it (its stable snake_case name in JSON), `None` when allowed.
    #[serde(serialize_with = "reason_name")]
    pub reason: Option<Reason>,
    /// The addresses a request would connect to (allowed verdicts only).
    pub addresses: Vec<IpAddr>,
    /// An allow-list entry exempted the host from the name and address checks.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_listed: bool,
}

fn reason_name<S: Serializer>(reason: &Option<Reason>, s: S) -> Result<S::Ok, S::Error> {
    match reason {
        Some(r) => s.serialize_str(r.as_str()),
        None => s.serialize_none(),
    }
}

impl GuardedResolver {
    /// A resolver for `config`: its name servers (UDP and TCP) or, when none are given, the
    /// system configuration. The hosts file is not read and answers of both families are
    /// fetched, so every address a name has is judged.
    pub fn new(config: &EgressConfig) -> Result<GuardedResolver, EgressError> {
        let mut builder = if config.dns_servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| EgressError::Resolver(format!("system resolver configuration: {e}")))?
        } else {
            let servers = config
                .dns_servers
                .iter()
                .map(|server| {
                    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                    for connection in &mut ns.connections {
                        connection.port = server.port();
                    }
                    ns
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = config.dns_timeout;
        opts.attempts = 2;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.use_hosts_file = ResolveHosts::Never;
        let dns = builder
            .build()
            .map_err(|e| EgressError::Resolver(e.to_string()))?;
        Ok(GuardedResolver {
            guard: Guard::new(config.policy.clone()),
            dns,
            lookup_timeout: config.dns_timeout * 3,
        })
    }

    /// The URL guard this resolver applies.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Run every stage on a URL: parse → scheme → userinfo → port → resolution → address
    /// judgement. Returns the target and the only socket addresses it may be connected to.
    /// An allow-list exemption is logged with `tracing::warn!`.
    pub async fn admit(&self, url: &str) -> Result<(Target, Vec<SocketAddr>), Refusal> {
        let target = self.guard.check_url(url)?;
        let addresses = self.resolve(&target).await?;
        if target.is_allow_listed() {
            tracing::warn!(
                host = target.host_str(),
                port = target.port(),
                "URL guard: allow-listed host exempted from the name and address checks"
            );
        }
        Ok((target, addresses))
    }

    /// Resolve a target's name once and judge ALL its answers; an IP literal is its own
    /// and only address.
    pub async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, Refusal> {
        let ips: Vec<IpAddr> = match target.host() {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => {
                // Fully qualified: no search domains are tried.
                let lookup = self.dns.lookup_ip(format!("{name}."));
                match tokio::time::timeout(self.lookup_timeout, lookup).await {
                    Ok(Ok(answers)) => answers.iter().collect(),
                    Ok(Err(e)) if e.is_no_records_found() => Vec::new(),
                    Ok(Err(_)) | Err(_) => return Err(Reason::ResolutionFailed.into()),
                }
            }
        };
        self.guard.check_addresses(target, &ips)
    }

    /// Check one URL without making a request.
    pub async fn check(&self, url: &str) -> Verdict {
        match self.admit(url).await {
            Ok((target, addresses)) => Verdict {
                url: url.to_owned(),
                allowed: true,
                reason: None,
                addresses: addresses.iter().map(SocketAddr::ip).collect(),
                allow_listed: target.is_allow_listed(),
            },
            Err(refusal) => Verdict {
                url: url.to_owned(),
                allowed: false,
                reason: Some(refusal.reason),
                addresses: Vec::new(),
                allow_listed: false,
            },
        }
    }

    /// Check each URL, in order.
    pub async fn check_all<S: AsRef<str>>(&self, urls: &[S]) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(urls.len());
        for url in urls {
            verdicts.push(self.check(url.as_ref()).await);
        }
        verdicts
    }
}
