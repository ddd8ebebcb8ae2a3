//! Why a URL or an address was refused.

use std::fmt;

/// The rule a URL or an address failed. The snake_case names from [`Reason::as_str`] are
/// stable: they appear in logs, JSON verdicts and API errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not a URL, or a URL spelled with tricks: backslashes, control or invisible
    /// characters, odd whitespace, a percent-encoded host, Unicode digits or dots in the
    /// host, no `//` authority, no host, or longer than the guard reads.
    InvalidUrl,
    /// A scheme other than `https`, or `http` when the policy does not allow it.
    SchemeNotAllowed,
    /// A user name or password (`https://user@host`), which hides the real host from people.
    UserinfoNotAllowed,
    /// A port that is not in the allowed list.
    PortNotAllowed,
    /// A name that is internal by definition: `localhost`, `*.localhost`, `.internal`,
    /// `.local`, special-use domains, cloud metadata names, names without a dot.
    ForbiddenHost,
    /// The name did not resolve (an error, a timeout or no answer). Used by the resolving stage.
    ResolutionFailed,
    /// The name resolved to no address at all.
    NoAddresses,
    /// 127.0.0.0/8, ::1.
    LoopbackAddress,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16), IPv6 unique-local fc00::/7, site-local
    /// fec0::/10, local-use NAT64 64:ff9b:1::/48.
    PrivateAddress,
    /// Shared address space for carrier-grade NAT, 100.64.0.0/10.
    SharedAddress,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocalAddress,
    /// A cloud metadata endpoint: 169.254.169.254, 169.254.170.2, 100.100.100.200,
    /// fd00:ec2::254.
    MetadataAddress,
    /// 0.0.0.0, ::.
    UnspecifiedAddress,
    /// 255.255.255.255.
    BroadcastAddress,
    /// 224.0.0.0/4, ff00::/8.
    MulticastAddress,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    DocumentationAddress,
    /// 198.18.0.0/15.
    BenchmarkingAddress,
    /// Every other range that is not globally reachable: 0.0.0.0/8, 192.0.0.0/24,
    /// 192.88.99.0/24, 240.0.0.0/4, IPv4-compatible ::a.b.c.d, IPv4-translated,
    /// discard 100::/64, 2001::/23 (Teredo included), 5f00::/16, anything outside 2000::/3.
    ReservedAddress,
}

impl Reason {
    /// Every reason, in the order of the table in docs/url-guard.md.
    pub const ALL: [Reason; 18] = [
        Reason::InvalidUrl,
        Reason::SchemeNotAllowed,
        Reason::UserinfoNotAllowed,
        Reason::PortNotAllowed,
        Reason::ForbiddenHost,
        Reason::ResolutionFailed,
        Reason::NoAddresses,
        Reason::LoopbackAddress,
        Reason::PrivateAddress,
        Reason::SharedAddress,
        Reason::LinkLocalAddress,
        Reason::MetadataAddress,
        Reason::UnspecifiedAddress,
        Reason::BroadcastAddress,
        Reason::MulticastAddress,
        Reason::DocumentationAddress,
        Reason::BenchmarkingAddress,
        Reason::ReservedAddress,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidUrl => "invalid_url",
            Reason::SchemeNotAllowed => "scheme_not_allowed",
            Reason::UserinfoNotAllowed => "userinfo_not_allowed",
            Reason::PortNotAllowed => "port_not_allowed",
            Reason::ForbiddenHost => "forbidden_host",
            Reason::ResolutionFailed => "resolution_failed",
            Reason::NoAddresses => "no_addresses",
            Reason::LoopbackAddress => "loopback_address",
            Reason::PrivateAddress => "private_address",
            Reason::SharedAddress => "shared_address",
            Reason::LinkLocalAddress => "link_local_address",
            Reason::MetadataAddress => "metadata_address",
            Reason::UnspecifiedAddress => "unspecified_address",
            Reason::BroadcastAddress => "broadcast_address",
            Reason::MulticastAddress => "multicast_address",
            Reason::DocumentationAddress => "documentation_address",
            Reason::BenchmarkingAddress => "benchmarking_address",
            Reason::ReservedAddress => "reserved_address",
        }
    }

    /// The reason with this stable name, if any.
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// A sentence for people; it names the rule and never echoes resolution details.
    pub fn description(self) -> &'static str {
        match self {
            Reason::InvalidUrl => "the URL is malformed or uses characters that hide its host",
            Reason::SchemeNotAllowed => "the scheme is not allowed (https is required)",
            Reason::UserinfoNotAllowed => "user names and passwords in URLs are not allowed",
            Reason::PortNotAllowed => "the port is not allowed",
            Reason::ForbiddenHost => "the host name is internal or reserved",
            Reason::ResolutionFailed => "the host name could not be resolved",
            Reason::NoAddresses => "the host name has no addresses",
            Reason::LoopbackAddress => "the host is a loopback address",
            Reason::PrivateAddress => "the host is a private network address",
            Reason::SharedAddress => "the host is a carrier-grade NAT address",
            Reason::LinkLocalAddress => "the host is a link-local address",
            Reason::MetadataAddress => "the host is a cloud metadata address",
            Reason::UnspecifiedAddress => "the host is the unspecified address",
            Reason::BroadcastAddress => "the host is the broadcast address",
            Reason::MulticastAddress => "the host is a multicast address",
            Reason::DocumentationAddress => "the host is a documentation address",
            Reason::BenchmarkingAddress => "the host is a benchmarking address",
            Reason::ReservedAddress => "the host is a reserved, non-global address",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL or address the guard refused, with the rule that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that failed.
    pub reason: Reason,
}

impl From<Reason> for Refusal {
    fn from(reason: Reason) -> Self {
        Refusal { reason }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "URL refused ({}): {}",
            self.reason.as_str(),
            self.reason.description()
        )
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_name(r.as_str()), Some(r));
            assert!(r
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
