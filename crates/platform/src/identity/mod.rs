//! Users of a tenant: the validated email type, creation (with roles and an optional
//! setup token), and the tenant-admin user endpoints.

pub mod guardians;
pub mod routes;
pub mod users;

/// A syntactically plausible email address, trimmed, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let valid = s.len() <= 254
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
                    && domain.chars().filter(|c| *c == '@').count() == 0
            });
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err("is not a valid email address".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.org").is_ok());
        assert_eq!(Email::parse("  A@b.org ").unwrap().as_str(), "A@b.org");
        for bad in [
            "",
            "a",
            "a@b",
            "@b.org",
            "a@b.org.",
            "a b@c.org",
            "a@@b.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
