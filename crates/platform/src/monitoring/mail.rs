//! Alert e-mail over SMTP (spec 07, "Notifications"): `K12_SMTP_URL`, `K12_MAIL_FROM`.
//!
//! `smtp://user:pass@host:port` upgrades with STARTTLS and refuses a server that does not
//! offer it (credentials are never sent in clear); `?tls=off` allows plain SMTP, for a
//! relay on loopback (tests, a local MTA); `smtps://` is TLS from the first byte. The
//! password lives in a [`Secret`]; no error or log line here names the URL or the
//! password.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{ConfigError, Secret};

/// No SMTP exchange (connect, TLS, auth, data) may take longer than this.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// How the connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS is required (default port 587).
    StartTls,
    /// `smtps://`: TLS from the start (default port 465).
    Implicit,
    /// `smtp://...?tls=off`: no TLS at all (default port 25). Loopback relays and tests.
    Off,
}

/// `K12_SMTP_URL`, parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// User name and password, both percent-decoded.
    pub credentials: Option<(String, Secret)>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError {
        var: "K12_SMTP_URL",
        message: message.into(),
    }
}

/// `%XX` sequences decoded; `None` on a malformed sequence or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl SmtpSettings {
    /// Parses `K12_SMTP_URL`. Errors describe the problem without repeating the value
    /// (it may hold a password).
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let url = url::Url::parse(value.trim()).map_err(|e| {
            invalid(format!(
                "not a URL ({e}); expected smtp://user:pass@host:port"
            ))
        })?;
        let mut tls = match url.scheme() {
            "smtp" => SmtpTls::StartTls,
            "smtps" => SmtpTls::Implicit,
            _ => {
                return Err(invalid(
                    "must start with smtp:// (STARTTLS) or smtps:// (TLS)",
                ))
            }
        };
        for (key, v) in url.query_pairs() {
            match (key.as_ref(), v.as_ref()) {
                ("tls", "off") if tls == SmtpTls::StartTls => tls = SmtpTls::Off,
                ("tls", "required") if tls == SmtpTls::StartTls => {}
                ("tls", _) => {
                    return Err(invalid(
                        "tls= may only be `off` or `required`, and only on smtp://",
                    ))
                }
                _ => return Err(invalid("the only query parameter allowed is tls=off")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(invalid("must not have a path or a fragment"));
        }
        let port = url.port().unwrap_or(match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
            SmtpTls::Off => 25,
        });
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            ("", Some(_)) => return Err(invalid("has a password but no user name")),
            (user, password) => {
                let user = percent_decode(user)
                    .ok_or_else(|| invalid("the user name is not valid percent-encoded UTF-8"))?;
                let password = percent_decode(password.unwrap_or(""))
                    .ok_or_else(|| invalid("the password is not valid percent-encoded UTF-8"))?;
                Some((user, Secret::new(password)))
            }
        };
        Ok(Self {
            host,
            port,
            tls,
            credentials,
        })
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let params =
            || TlsParameters::new(self.host.clone()).map_err(|e| format!("TLS setup failed: {e}"));
        let tls = match self.tls {
            SmtpTls::StartTls => Tls::Required(params()?),
            SmtpTls::Implicit => Tls::Wrapper(params()?),
            SmtpTls::Off => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder =
                builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(builder.build())
    }

    /// Sends one plain-text message. The error names the SMTP server's answer or the
    /// transport failure, never the credentials.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<(), String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("K12_MAIL_FROM is not a mailbox: {e}"))?;
        let to: Mailbox = to
            .parse()
            .map_err(|e| format!("the recipient is not a mailbox: {e}"))?;
        let message = lettre::Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("the message could not be built: {e}"))?;
        let transport = self.transport()?;
        // The transport's own timeout covers each step; this bounds the whole exchange.
        match tokio::time::timeout(SMTP_TIMEOUT * 2, transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "SMTP delivery via {}:{} failed: {e}",
                self.host, self.port
            )),
            Err(_) => Err(format!(
                "SMTP delivery via {}:{} took longer than {} s",
                self.host,
                self.port,
                (SMTP_TIMEOUT * 2).as_secs()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_with_tls_required_by_default() {
        let s =
            SmtpSettings::parse("smtp://alerts%40example.org:p%40ss%2Fw@mail.example.org").unwrap();
        assert_eq!(s.host, "mail.example.org");
        assert_eq!(s.port, 587);
        assert_eq!(s.tls, SmtpTls::StartTls);
        let (user, password) = s.credentials.clone().unwrap();
        assert_eq!(user, "alerts@example.org");
        assert_eq!(password.expose(), "p@ss/w");
        assert!(!format!("{s:?}").contains("p@ss"));

        let s = SmtpSettings::parse("smtps://mail.example.org").unwrap();
        assert_eq!(
            (s.port, s.tls, s.credentials),
            (465, SmtpTls::Implicit, None)
        );
        let s = SmtpSettings::parse("smtp://u:p@127.0.0.1:2525?tls=off").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("127.0.0.1", 2525, SmtpTls::Off)
        );
        let s = SmtpSettings::parse("smtp://[::1]:2525?tls=required").unwrap();
        assert_eq!((s.host.as_str(), s.tls), ("::1", SmtpTls::StartTls));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for bad in [
            "http://u:topsecret@mail.example.org",
            "smtps://u:topsecret@mail.example.org?tls=off",
            "smtp://u:topsecret@mail.example.org?tls=maybe",
            "smtp://u:topsecret@mail.example.org?verify=no",
            "smtp://u:topsecret@mail.example.org/path",
            "smtp://:topsecret@mail.example.org",
            "smtp://u:top%ZZsecret@mail.example.org",
            "not a url topsecret",
        ] {
            let e = SmtpSettings::parse(bad).unwrap_err();
            assert_eq!(e.var, "K12_SMTP_URL");
            assert!(!e.to_string().contains("topsecret"), "{bad}: {e}");
        }
    }
}
