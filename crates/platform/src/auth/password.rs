//! Argon2id password hashing. Verification of an unknown account still runs one hash,
//! so a failed login takes about the same time whether the email exists or not.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::ApiError;

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on a blocking thread: argon2 is deliberately slow.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(b"not a real password", &salt)
            .expect("hashing the dummy password")
            .to_string()
    })
}

/// Verifies `password` against `stored`; with no stored hash, verifies against a dummy
/// so the time taken does not reveal whether the account exists.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && exists)
    })
    .await?
}

/// The password rules for accounts that set their own password.
pub fn validate_new(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < 10 {
        return Err(ApiError::invalid(
            "password",
            "must be at least 10 characters",
        ));
    }
    if n > 128 {
        return Err(ApiError::invalid(
            "password",
            "must be at most 128 characters",
        ));
    }
    Ok(())
}
