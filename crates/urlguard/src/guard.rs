//! The staged check of a URL string: parse → scheme → userinfo → port → host.

use std::net::{IpAddr, SocketAddr};

use url::{Host as UrlHost, Url};

use crate::{judge_ip, AllowEntry, Policy, Reason, Refusal};

/// The longest URL the guard reads; longer input is `invalid_url`.
pub const MAX_URL_LEN: usize = 2048;

/// Applies one [`Policy`] to URLs and resolved addresses.
#[derive(Debug, Clone)]
pub struct Guard {
    policy: Policy,
}

/// The scheme of an accepted URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain http: only with `allow_http` or an allow-list entry.
    Http,
    /// https.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// The host of an accepted URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// An IP literal (however it was spelled), already judged: no resolution needed.
    Ip(IpAddr),
    /// A domain name (lowercase ASCII, punycode, no trailing dot) that must be resolved and
    /// its addresses judged with [`Guard::check_addresses`].
    Name(String),
}

/// A URL that passed the pure stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    url: Url,
    scheme: Scheme,
    host: Host,
    port: u16,
    allow_listed: bool,
}

impl Target {
    /// The canonical URL (WHATWG serialisation): hand this to the HTTP client.
    pub fn url(&self) -> &Url {
        &self.url
    }
    /// http or https.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
    /// The host: an IP literal or a name.
    pub fn host(&self) -> &Host {
        &self.host
    }
    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Whether the host is a name that still has to be resolved.
    pub fn needs_resolution(&self) -> bool {
        matches!(self.host, Host::Name(_))
    }
    /// Whether an allow-list entry exempted this host: its name and addresses are not judged.
    pub fn is_allow_listed(&self) -> bool {
        self.allow_listed
    }
    /// The host as it appears in the URL (IPv6 in brackets).
    pub fn host_str(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

impl Guard {
    /// A guard applying `policy`.
    pub fn new(policy: Policy) -> Guard {
        Guard { policy }
    }

    /// The policy this guard applies.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Judge a user-supplied URL string without any I/O. An IP-literal host is judged here;
    /// a name comes back as a [`Target`] that needs resolution.
    pub fn check_url(&self, input: &str) -> Result<Target, Refusal> {
        // Parse.
        let authority = raw_authority(input)?;
        let url = Url::parse(input).map_err(|_| Reason::InvalidUrl)?;
        let scheme = match url.scheme() {
            "https" => Scheme::Https,
            "http" => Scheme::Http,
            _ => return Err(Reason::SchemeNotAllowed.into()),
        };
        // Userinfo, in the parsed URL or as any `@` in the raw authority (`http://@host`).
        if !url.username().is_empty() || url.password().is_some() || authority.contains('@') {
            return Err(Reason::UserinfoNotAllowed.into());
        }
        check_raw_host(authority)?;
        let port = url.port_or_known_default().ok_or(Reason::InvalidUrl)?;
        let host = match url.host() {
            Some(UrlHost::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(UrlHost::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(UrlHost::Domain(d)) if !d.trim_end_matches('.').is_empty() => {
                Host::Name(d.trim_end_matches('.').to_owned())
            }
            _ => return Err(Reason::InvalidUrl.into()),
        };
        // Allow-list entries are canonicalised by the same parser: compare serialisations.
        let host_key = url.host_str().unwrap_or_default().trim_end_matches('.');
        let entry = self.allow_entry(host_key, port);
        if scheme == Scheme::Http && !self.policy.allow_http && entry.is_none() {
            return Err(Reason::SchemeNotAllowed.into());
        }
        // Port: an entry naming this port allows it; otherwise the allowed list decides.
        let port_named = entry.is_some_and(|e| e.port() == Some(port));
        if !port_named && !self.policy.allowed_ports.contains(&port) {
            return Err(Reason::PortNotAllowed.into());
        }
        // Host.
        if entry.is_none() {
            match &host {
                Host::Ip(ip) => judge_ip(*ip)?,
                Host::Name(name) => judge_name(name)?,
            }
        }
        Ok(Target {
            url,
            scheme,
            host,
            port,
            allow_listed: entry.is_some(),
        })
    }

    /// Judge the addresses a target's name resolved to. ALL must be acceptable: a name
    /// with one public and one private answer is refused. For an allow-listed target the
    /// addresses are not judged. Returns the socket addresses to connect to, and nothing else.
    pub fn check_addresses(
        &self,
        target: &Target,
        addresses: &[IpAddr],
    ) -> Result<Vec<SocketAddr>, Refusal> {
        if addresses.is_empty() {
            return Err(Reason::NoAddresses.into());
        }
        if let Host::Ip(ip) = target.host {
            if addresses != [ip] {
                // An IP literal is its own and only address.
                return Err(Reason::InvalidUrl.into());
            }
        }
        if !target.allow_listed {
            for ip in addresses {
                judge_ip(*ip)?;
            }
        }
        let mut out: Vec<SocketAddr> = Vec::with_capacity(addresses.len());
        for ip in addresses {
            let sa = SocketAddr::new(*ip, target.port);
            if !out.contains(&sa) {
                out.push(sa);
            }
        }
        Ok(out)
    }

    fn allow_entry(&self, host: &str, port: u16) -> Option<&AllowEntry> {
        self.policy.allowlist.iter().find(|e| e.matches(host, port))
    }
}

/// Inspect the raw string for tricks the WHATWG parser would silently repair, and return
/// the raw authority (between `scheme://` and the first `/`, `?` or `#`).
fn raw_authority(input: &str) -> Result<&str, Reason> {
    if input.is_empty() || input.len() > MAX_URL_LEN {
        return Err(Reason::InvalidUrl);
    }
    if input.chars().any(is_suspicious_char) {
        return Err(Reason::InvalidUrl);
    }
    let Some((scheme, rest)) = input.split_once(':') else {
        return Err(Reason::InvalidUrl);
    };
    // The scheme is judged before anything else looks at the rest: the parser treats
    // `gopher://127.0.0.1` as a name.
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        return Err(if is_scheme {
            Reason::SchemeNotAllowed
        } else {
            Reason::InvalidUrl
        });
    }
    let Some(rest) = rest.strip_prefix("//") else {
        // `http:host` and `http:/host` are repaired by the parser; refuse them.
        return Err(Reason::InvalidUrl);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() {
        return Err(Reason::InvalidUrl);
    }
    Ok(authority)
}

/// Control characters, any whitespace (ASCII or Unicode), backslashes and invisible
/// format characters: none belongs in a URL someone typed honestly.
fn is_suspicious_char(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || c.is_whitespace()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFF}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Refuse percent-encoding in the host, and non-ASCII host characters that the parser maps
/// onto ASCII (fullwidth letters and digits, ideographic and fullwidth dots, circled
/// digits, ...): `１２７。０。０。１` would become `127.0.0.1`. Genuine internationalised
/// names (`münchen.de`) stay allowed.
fn check_raw_host(authority: &str) -> Result<(), Reason> {
    // A percent-encoded host (`%31%32%37.0.0.1`) is decoded by the parser; nobody honest
    // writes one.
    if authority.contains('%') {
        return Err(Reason::InvalidUrl);
    }
    if authority.is_ascii() {
        return Ok(());
    }
    for c in authority.chars().filter(|c| !c.is_ascii()) {
        let mut buf = [0u8; 4];
        let probe = format!("http://a{}a/", c.encode_utf8(&mut buf));
        let maps_to_ascii = match Url::parse(&probe) {
            Ok(u) => u.host_str().is_none_or(|h| !h.contains("xn--")),
            Err(_) => true,
        };
        if maps_to_ascii {
            return Err(Reason::InvalidUrl);
        }
    }
    Ok(())
}

/// Suffixes of names that are internal or special-use (RFC 6761, 6762, 8375, 9476,
/// `.internal` for private use) or commonly used inside networks (`.corp`, `.lan`, ...).
const FORBIDDEN_SUFFIXES: &[&str] = &[
    "localhost",
    "localdomain",
    "local",
    "internal",
    "intranet",
    "private",
    "corp",
    "lan",
    "home",
    "home.arpa",
    "arpa",
    "test",
    "example",
    "invalid",
    "onion",
    "alt",
];

/// Exact names of metadata services and other well-known internal hosts.
const FORBIDDEN_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
    "metadata.packet.net",
    "kubernetes.default.svc",
    "kubernetes",
];

/// Judge a canonical domain name (lowercase ASCII, no trailing dot).
pub fn judge_name(name: &str) -> Result<(), Reason> {
    if !name.contains('.') {
        // Single labels resolve through search domains to internal hosts.
        return Err(Reason::ForbiddenHost);
    }
    if FORBIDDEN_NAMES.contains(&name) {
        return Err(Reason::ForbiddenHost);
    }
    let forbidden_suffix = FORBIDDEN_SUFFIXES.iter().any(|s| {
        name == *s
            || (name.len() > s.len()
                && name.ends_with(s)
                && name.as_bytes()[name.len() - s.len() - 1] == b'.')
    });
    if forbidden_suffix || name.ends_with(".svc.cluster.local") {
        return Err(Reason::ForbiddenHost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn reason(guard: &Guard, url: &str) -> Option<Reason> {
        guard.check_url(url).err().map(|r| r.reason)
    }

    #[test]
    fn default_policy_is_https_on_443() {
        let guard = Guard::new(Policy::default());
        assert_eq!(
            reason(&guard, "http://hooks.slack.com/x"),
            Some(Reason::SchemeNotAllowed)
        );
        let t = guard
            .check_url("https://Hooks.Slack.com./services/x")
            .unwrap();
        assert_eq!(t.scheme(), Scheme::Https);
        assert_eq!(t.host(), &Host::Name("hooks.slack.com".into()));
        assert_eq!(t.port(), 443);
        assert!(t.needs_resolution());
        assert!(!t.is_allow_listed());
    }

    #[test]
    fn ip_literals_are_judged_without_resolution() {
        let guard = Guard::new(Policy::default());
        let t = guard.check_url("https://8.8.8.8/").unwrap();
        assert_eq!(t.host(), &Host::Ip(ip("8.8.8.8")));
        assert!(!t.needs_resolution());
        assert_eq!(
            guard.check_addresses(&t, &[ip("8.8.8.8")]).unwrap(),
            vec!["8.8.8.8:443".parse().unwrap()]
        );
        // A literal's only address is itself.
        assert!(guard.check_addresses(&t, &[ip("10.0.0.1")]).is_err());
    }

    #[test]
    fn every_answer_must_be_public() {
        let guard = Guard::new(Policy::default());
        let t = guard.check_url("https://rebind.example.com/").unwrap();
        let ok = guard
            .check_addresses(&t, &[ip("93.184.215.14"), ip("2606:2800:21f:cb07::1")])
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert!(ok.iter().all(|a| a.port() == 443));
        let mixed = guard.check_addresses(&t, &[ip("93.184.215.14"), ip("127.0.0.1")]);
        assert_eq!(mixed.unwrap_err().reason, Reason::LoopbackAddress);
        let mixed = guard.check_addresses(&t, &[ip("10.0.0.1"), ip("93.184.215.14")]);
        assert_eq!(mixed.unwrap_err().reason, Reason::PrivateAddress);
        assert_eq!(
            guard.check_addresses(&t, &[]).unwrap_err().reason,
            Reason::NoAddresses
        );
    }

    #[test]
    fn allow_list_exempts_host_explicitly() {
        let guard = Guard::new(Policy {
            allowlist: vec![
                AllowEntry::parse("localhost:8080").unwrap(),
                AllowEntry::parse("127.0.0.1").unwrap(),
                AllowEntry::parse("sis.district.internal").unwrap(),
                AllowEntry::parse("[::ffff:10.0.0.5]").unwrap(),
            ],
            ..Policy::default()
        });
        // The named port is allowed for that entry, and http with it.
        let t = guard.check_url("http://LOCALHOST:8080/x").unwrap();
        assert!(t.is_allow_listed());
        assert_eq!(
            guard.check_addresses(&t, &[ip("127.0.0.1")]).unwrap(),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        // Another port of the same host is not.
        assert_eq!(
            reason(&guard, "https://localhost:8081/"),
            Some(Reason::PortNotAllowed)
        );
        assert_eq!(
            reason(&guard, "https://localhost/"),
            Some(Reason::ForbiddenHost)
        );
        // An entry without a port exempts the host on the allowed ports only, however spelled.
        assert!(guard.check_url("https://127.1/").unwrap().is_allow_listed());
        assert!(guard
            .check_url("https://0x7f000001:443/")
            .unwrap()
            .is_allow_listed());
        assert_eq!(
            reason(&guard, "https://127.0.0.1:8080/"),
            Some(Reason::PortNotAllowed)
        );
        assert_eq!(
            reason(&guard, "https://127.0.0.2/"),
            Some(Reason::LoopbackAddress)
        );
        assert!(guard
            .check_url("https://sis.district.internal/")
            .unwrap()
            .is_allow_listed());
        assert!(guard
            .check_url("https://[::ffff:a00:5]/")
            .unwrap()
            .is_allow_listed());
        // Userinfo and schemes are never exempt.
        assert_eq!(
            reason(&guard, "http://u@localhost:8080/"),
            Some(Reason::UserinfoNotAllowed)
        );
        assert_eq!(
            reason(&guard, "ftp://localhost:8080/"),
            Some(Reason::SchemeNotAllowed)
        );
    }

    #[test]
    fn extra_ports_and_http_follow_the_policy() {
        let guard = Guard::new(Policy {
            allowed_ports: vec![443, 8443],
            allow_http: true,
            allowlist: vec![],
        });
        assert!(guard.check_url("https://api.clever.com:8443/").is_ok());
        assert_eq!(
            reason(&guard, "http://api.clever.com/"),
            Some(Reason::PortNotAllowed)
        );
        assert!(guard.check_url("http://api.clever.com:443/").is_ok());
    }

    #[test]
    fn long_and_odd_input_is_refused_not_panicking() {
        let guard = Guard::new(Policy::default());
        let long = format!("https://a.com/{}", "x".repeat(MAX_URL_LEN));
        assert_eq!(reason(&guard, &long), Some(Reason::InvalidUrl));
        for s in [
            "",
            ":",
            "https:",
            "https://",
            "https://[",
            "https://[]/",
            "https://%/",
            "https://a.com:/",
        ] {
            let _ = guard.check_url(s);
        }
        assert!(guard.check_url("https://a.com:/").is_ok());
    }

    #[test]
    fn names_are_judged_by_label() {
        assert_eq!(judge_name("notlocalhost.com"), Ok(()));
        assert_eq!(judge_name("local.com"), Ok(()));
        assert_eq!(judge_name("internal.example.org"), Ok(()));
        assert_eq!(judge_name("x.internal"), Err(Reason::ForbiddenHost));
        assert_eq!(judge_name("localhost"), Err(Reason::ForbiddenHost));
    }
}
