//! Configuration of outgoing requests, from environment-like values.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use urlguard::{AllowEntry, Policy};

/// Name servers to ask instead of the system resolver: comma-separated `ip:port`.
pub const VAR_DNS_SERVERS: &str = "K12_DNS_SERVERS";
/// Ports a URL may use: comma-separated, default `80,443`.
pub const VAR_ALLOWED_PORTS: &str = "K12_URL_ALLOWED_PORTS";
/// `true` or `false`: whether plain http is allowed. The default is the caller's.
pub const VAR_ALLOW_HTTP: &str = "K12_URL_ALLOW_HTTP";
/// Operator-trusted hosts: comma-separated `host[:port]`, IPv6 in brackets.
pub const VAR_ALLOWLIST: &str = "K12_URL_ALLOWLIST";

/// Everything the guarded resolver and client need. Build it with
/// [`EgressConfig::from_lookup`] (or `Default`, then adjust fields in code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// What the URL guard allows.
    pub policy: Policy,
    /// Name servers (UDP and TCP); empty means the system resolver configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// How long one DNS query may take before it is retried or fails.
    pub dns_timeout: Duration,
    /// How long establishing one connection may take.
    pub connect_timeout: Duration,
    /// How long a whole request may take: resolution, every redirect hop, the body.
    pub total_timeout: Duration,
    /// The largest response body read; a larger one is an error.
    pub max_body_bytes: usize,
    /// Redirects followed (each hop judged again) before giving up.
    pub max_redirects: usize,
    /// Source address for outgoing connections (used for destinations of its family).
    /// Tests pin 127.0.0.1, so a connection to any other IPv4 address fails locally and
    /// nothing leaves the host.
    pub local_address: Option<IpAddr>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            policy: Policy::default(),
            dns_servers: Vec::new(),
            dns_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
            max_body_bytes: 2 * 1024 * 1024,
            max_redirects: 3,
            local_address: None,
        }
    }
}

/// A configuration variable with a value that can't be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {problem} (got {value:?})")]
pub struct ConfigError {
    /// The variable, e.g. `K12_URL_ALLOWED_PORTS`.
    pub var: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
}

impl EgressConfig {
    /// Read the `K12_DNS_SERVERS`, `K12_URL_ALLOWED_PORTS`, `K12_URL_ALLOW_HTTP` and
    /// `K12_URL_ALLOWLIST` values through `lookup` (e.g. `|k| std::env::var(k).ok()`).
    /// Plain http defaults to allowed only when `development` is true. Unset or empty
    /// values take the defaults; invalid ones are errors naming the variable.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        development: bool,
    ) -> Result<EgressConfig, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let mut config = EgressConfig::default();
        config.policy.allow_http = development;

        if let Some(value) = get(VAR_DNS_SERVERS) {
            config.dns_servers = split(&value)
                .map(|s| {
                    s.parse::<SocketAddr>().map_err(|_| ConfigError {
                        var: VAR_DNS_SERVERS,
                        value: value.clone(),
                        problem: format!("{s:?} is not ip:port (IPv6 as [ip]:port)"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(value) = get(VAR_ALLOWED_PORTS) {
            config.policy.allowed_ports = split(&value)
                .map(|s| match s.parse::<u16>() {
                    Ok(p) if p > 0 => Ok(p),
                    _ => Err(ConfigError {
                        var: VAR_ALLOWED_PORTS,
                        value: value.clone(),
                        problem: format!("{s:?} is not a port (1-65535)"),
                    }),
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(value) = get(VAR_ALLOW_HTTP) {
            config.policy.allow_http = match value.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ConfigError {
                        var: VAR_ALLOW_HTTP,
                        value,
                        problem: "must be true or false".into(),
                    })
                }
            };
        }
        if let Some(value) = get(VAR_ALLOWLIST) {
            config.policy.allowlist = split(&value)
                .map(|s| {
                    AllowEntry::parse(s).map_err(|e| ConfigError {
                        var: VAR_ALLOWLIST,
                        value: value.clone(),
                        problem: e.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(config)
    }
}

/// Comma-separated items, trimmed; empty items (a trailing comma) are skipped.
fn split(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)], development: bool) -> Result<EgressConfig, ConfigError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EgressConfig::from_lookup(
            |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            development,
        )
    }

    #[test]
    fn defaults_depend_on_the_environment() {
        let prod = from(&[], false).unwrap();
        assert_eq!(prod.policy, Policy::default());
        assert!(prod.dns_servers.is_empty());
        assert!(from(&[], true).unwrap().policy.allow_http);
        assert!(
            !from(&[(VAR_ALLOW_HTTP, "false")], true)
                .unwrap()
                .policy
                .allow_http
        );
        assert!(
            from(&[(VAR_ALLOW_HTTP, " TRUE ")], false)
                .unwrap()
                .policy
                .allow_http
        );
        assert_eq!(from(&[(VAR_ALLOWED_PORTS, "")], false).unwrap(), prod);
    }

    #[test]
    fn values_are_parsed() {
        let c = from(
            &[
                (VAR_DNS_SERVERS, "127.0.0.1:5353, [::1]:53,"),
                (VAR_ALLOWED_PORTS, "443,8443"),
                (
                    VAR_ALLOWLIST,
                    "sis.district.internal, 10.0.0.5:8080,[fd00::1]",
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(
            c.dns_servers,
            vec![
                "127.0.0.1:5353".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(c.policy.allowed_ports, vec![443, 8443]);
        let entries: Vec<String> = c.policy.allowlist.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            entries,
            ["sis.district.internal", "10.0.0.5:8080", "[fd00::1]"]
        );
    }

    #[test]
    fn errors_name_the_variable() {
        for (var, value) in [
            (VAR_DNS_SERVERS, "127.0.0.1"),
            (VAR_DNS_SERVERS, "dns.google:53"),
            (VAR_ALLOWED_PORTS, "80,http"),
            (VAR_ALLOWED_PORTS, "0"),
            (VAR_ALLOWED_PORTS, "70000"),
            (VAR_ALLOW_HTTP, "yes"),
            (VAR_ALLOWLIST, "user@host"),
            (VAR_ALLOWLIST, "https://host/"),
        ] {
            let err = from(&[(var, value)], false).unwrap_err();
            assert_eq!(err.var, var);
            assert!(err.to_string().starts_with(var), "{err}");
        }
    }
}
