//! The key itself: `k12k_<prefix>_<rest>`, where `<prefix><rest>` is 256 random bits in
//! base64url (43 characters) and `<prefix>` its first 8, kept in clear to tell keys
//! apart. Only the SHA-256 of the whole key is stored: for a secret of 256 random bits a
//! fast hash is as good as a slow one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

const TAG: &str = "k12k_";
const PREFIX_LEN: usize = 8;
const SECRET_LEN: usize = 43;
/// `k12k_` + 8 + `_` + 35.
pub const KEY_LEN: usize = TAG.len() + SECRET_LEN + 1;

/// A fresh key: the secret for the client (shown once), its prefix and hash for the
/// database.
pub struct IssuedKey {
    pub key: String,
    pub prefix: String,
    pub hash: [u8; 32],
}

pub fn issue() -> IssuedKey {
    let mut secret = [0u8; 32];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut secret,
    );
    let encoded = URL_SAFE_NO_PAD.encode(secret);
    let (prefix, rest) = encoded.split_at(PREFIX_LEN);
    let key = format!("{TAG}{prefix}_{rest}");
    IssuedKey {
        hash: hash(&key),
        prefix: prefix.to_string(),
        key,
    }
}

pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether `token` looks like an API key (and so is worth a lookup).
pub fn well_formed(token: &str) -> bool {
    if token.len() != KEY_LEN || !token.is_ascii() {
        return false;
    }
    let Some(body) = token.strip_prefix(TAG) else {
        return false;
    };
    let (prefix, rest) = body.split_at(PREFIX_LEN);
    let Some(rest) = rest.strip_prefix('_') else {
        return false;
    };
    URL_SAFE_NO_PAD
        .decode(format!("{prefix}{rest}"))
        .is_ok_and(|b| b.len() == 32)
}

/// Whether a presented bearer token is meant as an API key (by its tag), so routes that
/// take keys try it as one rather than as a session.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(TAG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_reject_tampering() {
        let k = issue();
        assert!(well_formed(&k.key), "{}", k.key);
        assert!(is_api_key(&k.key));
        assert_eq!(k.key.len(), KEY_LEN);
        assert_eq!(&k.key[5..13], k.prefix);
        assert_eq!(k.hash, hash(&k.key));
        assert_ne!(issue().key, k.key);
        let mut other_tag = k.key.clone();
        other_tag.replace_range(..5, "k12u_");
        let mut no_separator = k.key.clone();
        no_separator.replace_range(13..14, "A");
        for bad in [
            "",
            "k12k_",
            other_tag.as_str(),
            no_separator.as_str(),
            &k.key[..KEY_LEN - 1],
            &format!("{}A", k.key),
            &format!("{}*", &k.key[..KEY_LEN - 1]),
            &format!("{}é", &k.key[..KEY_LEN - 2]),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
