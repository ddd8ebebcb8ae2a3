//! Opaque bearer secrets: session tokens and setup tokens.
//!
//! A token is 256 random bits, base64url, prefixed with its kind and (for tenant users)
//! the tenant id, e.g. `k12u_42_<secret>`. Only its SHA-256 is stored. The tenant id lets
//! the service open the tenant-scoped transaction in which the token is looked up, so
//! row-level security applies to authentication too; a forged prefix finds nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::db::TenantId;

/// Whose token it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenOwner {
    User(TenantId),
    Operator,
}

/// What the token opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Setup,
}

/// A freshly made token: the secret for the client, the hash for the database.
pub struct IssuedToken {
    pub token: String,
    pub hash: Vec<u8>,
}

fn prefix(kind: TokenKind, owner: TokenOwner) -> String {
    match (kind, owner) {
        (TokenKind::Session, TokenOwner::User(t)) => format!("k12u_{}_", t.0),
        (TokenKind::Setup, TokenOwner::User(t)) => format!("k12s_{}_", t.0),
        (TokenKind::Session, TokenOwner::Operator) => "k12o_".into(),
        (TokenKind::Setup, TokenOwner::Operator) => "k12p_".into(),
    }
}

pub fn issue(kind: TokenKind, owner: TokenOwner) -> IssuedToken {
    let mut secret = [0u8; 32];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut secret,
    );
    let token = format!("{}{}", prefix(kind, owner), URL_SAFE_NO_PAD.encode(secret));
    IssuedToken {
        hash: hash(&token),
        token,
    }
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Reads the kind and owner from a token's prefix; `None` for anything malformed.
pub fn parse(token: &str) -> Option<(TokenKind, TokenOwner)> {
    if token.len() > 200 {
        return None;
    }
    let (kind, owner, rest) = if let Some(rest) = token.strip_prefix("k12o_") {
        (TokenKind::Session, TokenOwner::Operator, rest)
    } else if let Some(rest) = token.strip_prefix("k12p_") {
        (TokenKind::Setup, TokenOwner::Operator, rest)
    } else {
        let (kind, rest) = if let Some(rest) = token.strip_prefix("k12u_") {
            (TokenKind::Session, rest)
        } else {
            (TokenKind::Setup, token.strip_prefix("k12s_")?)
        };
        let (tenant, rest) = rest.split_once('_')?;
        let tenant: i64 = tenant.parse().ok().filter(|t| *t > 0)?;
        (kind, TokenOwner::User(TenantId(tenant)), rest)
    };
    (rest.len() == 43 && URL_SAFE_NO_PAD.decode(rest).is_ok()).then_some((kind, owner))
}

/// A random password for generated accounts (demo logins, tests): 20 url-safe characters.
pub fn random_password() -> String {
    let mut bytes = [0u8; 15];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut bytes,
    );
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let t = issue(TokenKind::Session, TokenOwner::User(TenantId(42)));
        assert_eq!(
            parse(&t.token),
            Some((TokenKind::Session, TokenOwner::User(TenantId(42))))
        );
        assert_eq!(t.hash, hash(&t.token));
        let o = issue(TokenKind::Setup, TokenOwner::Operator);
        assert_eq!(
            parse(&o.token),
            Some((TokenKind::Setup, TokenOwner::Operator))
        );
        for bad in [
            "",
            "k12u_",
            "k12u_x_abc",
            "k12u_-1_abc",
            "bearer",
            "k12o_short",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_ne!(
            issue(TokenKind::Session, TokenOwner::Operator).token,
            o.token
        );
    }
}
