//! What the guard allows: ports, plain http, and operator-trusted hosts.

use std::fmt;
use std::str::FromStr;

use url::Url;

/// The rules one guard applies. Build it once from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Ports a URL may name (explicitly or by its scheme's default). Default 80 and 443.
    pub allowed_ports: Vec<u16>,
    /// Whether `http` is allowed besides `https`. Default false.
    pub allow_http: bool,
    /// Hosts the operator trusts despite their names and addresses (for example an
    /// on-premises SIS). Every exemption is reported in the verdict.
    pub allowlist: Vec<AllowEntry>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_ports: vec![80, 443],
            allow_http: false,
            allowlist: Vec::new(),
        }
    }
}

/// One allow-list entry, `host[:port]`. Without a port it exempts the host on the allowed
/// ports; with a port it exempts that host and port only (and allows that port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    host: String,
    port: Option<u16>,
}

/// An allow-list entry that is not `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntryError {
    entry: String,
}

impl fmt::Display for AllowEntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "allow-list entry {:?} is not host[:port] (IPv6 in brackets)",
            self.entry
        )
    }
}

impl std::error::Error for AllowEntryError {}

impl AllowEntry {
    /// Parse `host[:port]`; the host is canonicalised by the same URL parser as the URLs
    /// it is compared with, so `LOCALHOST`, `127.1` and `[0::1]` match their canonical forms.
    pub fn parse(entry: &str) -> Result<AllowEntry, AllowEntryError> {
        let err = || AllowEntryError {
            entry: entry.to_owned(),
        };
        let trimmed = entry.trim();
        if trimmed.is_empty()
            || trimmed
                .chars()
                .any(|c| matches!(c, '/' | '\\' | '@' | '?' | '#') || !c.is_ascii_graphic())
        {
            return Err(err());
        }
        let url = Url::parse(&format!("http://{trimmed}/")).map_err(|_| err())?;
        let host = url.host_str().ok_or_else(err)?;
        // `http://host:80/` normalises the port away; keep what the operator wrote.
        let port = match url.port() {
            Some(p) => Some(p),
            None if trimmed.ends_with(":80") => Some(80),
            None => None,
        };
        Ok(AllowEntry {
            host: host.trim_end_matches('.').to_owned(),
            port,
        })
    }

    /// The canonical host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, if the entry names one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub(crate) fn matches(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

impl FromStr for AllowEntry {
    type Err = AllowEntryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AllowEntry::parse(s)
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_canonical() {
        let e = AllowEntry::parse("SIS.District.ORG:8443").unwrap();
        assert_eq!((e.host(), e.port()), ("sis.district.org", Some(8443)));
        let e = AllowEntry::parse("127.1").unwrap();
        assert_eq!((e.host(), e.port()), ("127.0.0.1", None));
        let e = AllowEntry::parse("[0::1]:80").unwrap();
        assert_eq!((e.host(), e.port()), ("[::1]", Some(80)));
        assert_eq!(e.to_string(), "[::1]:80");
    }

    #[test]
    fn bad_entries_are_errors() {
        for bad in [
            "",
            " ",
            "a/b",
            "user@host",
            "host:99999",
            "host:x",
            "[::1",
            "a b",
            "hôst",
        ] {
            assert!(AllowEntry::parse(bad).is_err(), "{bad:?}");
        }
    }
}
