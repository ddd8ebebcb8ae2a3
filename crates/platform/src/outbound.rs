//! What talking to user-supplied endpoints needs: the guarded HTTP client (crate
//! `egress`, docs/url-guard.md) and the key that seals stored credentials (webhook
//! signing secrets, integration secrets).
//!
//! Sealing is ChaCha20-Poly1305 with a 32-byte key derived from `K12_SECRET_KEY` by
//! SHA-256 under a domain-separation label. A sealed value is
//! `version (1 byte) || nonce (12 random bytes) || ciphertext+tag`; the version byte lets
//! a later key or algorithm be introduced without guessing. The associated data binds a
//! value to its purpose (e.g. `webhook_endpoints.secret`), so one sealed column can't be
//! pasted into another.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
pub use egress::{AllowEntry, EgressConfig, GuardedClient, Policy};
use sha2::{Digest, Sha256};

use crate::config::{Environment, Secret, VarSource};

/// The format of a sealed value: ChaCha20-Poly1305, key = SHA-256(label || K12_SECRET_KEY).
const VERSION_1: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LABEL: &[u8] = b"k12 secret sealing v1\0";

/// Seals and opens stored credentials. `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Arc<ChaCha20Poly1305>,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

/// A sealed value that does not open: wrong key, wrong purpose, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened (wrong K12_SECRET_KEY or damaged value)")]
pub struct OpenError;

impl SecretBox {
    /// The box for `K12_SECRET_KEY`.
    pub fn new(secret_key: &Secret) -> Self {
        let mut hash = Sha256::new();
        hash.update(KEY_LABEL);
        hash.update(secret_key.expose().as_bytes());
        let key: [u8; 32] = hash.finalize().into();
        Self {
            cipher: Arc::new(ChaCha20Poly1305::new(Key::from_slice(&key))),
        }
    }

    /// Seals `plaintext` for `purpose` with a fresh random nonce.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of an in-memory value cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION_1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let [VERSION_1, rest @ ..] = sealed else {
            return Err(OpenError);
        };
        if rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| OpenError)
    }
}

/// The guarded client and the sealing key, built once per process and shared by the API
/// handlers and the worker's jobs.
#[derive(Clone)]
pub struct Outbound {
    pub client: Arc<GuardedClient>,
    pub secrets: SecretBox,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound").finish_non_exhaustive()
    }
}

impl Outbound {
    /// Builds the guarded client for `egress` (its resolver reads the system or the
    /// configured name servers) and the sealing key for `secret_key`.
    pub fn new(egress: EgressConfig, secret_key: &Secret) -> anyhow::Result<Self> {
        let client =
            GuardedClient::new(egress).map_err(|e| anyhow::anyhow!("outgoing HTTP client: {e}"))?;
        Ok(Self {
            client: Arc::new(client),
            secrets: SecretBox::new(secret_key),
        })
    }
}

/// The egress configuration from the `K12_DNS_SERVERS` and `K12_URL_*` variables
/// (docs/url-guard.md); plain http is allowed by default only in development.
pub fn egress_config(vars: &dyn VarSource, env: Environment) -> anyhow::Result<EgressConfig> {
    EgressConfig::from_lookup(|k| vars.get(k), env == Environment::Development)
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))
}

/// 32 random bytes from the operating system.
pub fn random_bytes() -> [u8; 32] {
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sbox(key: &str) -> SecretBox {
        SecretBox::new(&Secret::new(key))
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let a = sbox("0123456789abcdef0123456789abcdef");
        let sealed = a.seal("webhook", b"whsec_x");
        assert_eq!(sealed[0], VERSION_1);
        assert!(!sealed.windows(7).any(|w| w == b"whsec_x"));
        assert_eq!(a.open("webhook", &sealed).unwrap(), b"whsec_x");
        assert!(a.open("integration", &sealed).is_err());
        assert!(sbox("another key of at least 32 chars!!")
            .open("webhook", &sealed)
            .is_err());
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(a.open("webhook", &damaged).is_err());
        assert!(a.open("webhook", &[2]).is_err());
        assert!(a.open("webhook", &[]).is_err());
        assert_ne!(a.seal("webhook", b"same"), a.seal("webhook", b"same"));
        assert_eq!(format!("{a:?}"), "SecretBox(***)");
    }
}
