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

/// The lowest zxcvbn score (0-4) a new password may have: 3 is "safely unguessable:
/// moderate protection from offline slow-hash scenarios" (10^10 guesses).
const MIN_SCORE: u8 = 3;

/// The length rules for accounts that set their own password; cheap, checked first.
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

/// Refuses common and guessable passwords (zxcvbn score below 3), judged with the
/// account's own details (email and its parts, names) as known words, and says why.
pub fn check_strength(password: &str, user_inputs: &[&str]) -> Result<(), ApiError> {
    validate_new(password)?;
    let mut inputs: Vec<&str> = Vec::new();
    for input in user_inputs {
        inputs.push(input);
        inputs.extend(
            input
                .split(['@', '.', '-', '_', '+', ' '])
                .filter(|p| p.len() > 2),
        );
    }
    let entropy = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(entropy.score()) >= MIN_SCORE {
        return Ok(());
    }
    let mut reason = String::from("is too easy to guess");
    if let Some(feedback) = entropy.feedback() {
        if let Some(warning) = feedback.warning() {
            reason.push_str(&format!(": {warning}"));
        }
        if let Some(suggestion) = feedback.suggestions().first() {
            reason.push_str(&format!(" ({suggestion})"));
        }
    }
    if inputs
        .iter()
        .any(|i| i.len() > 2 && password.to_lowercase().contains(&i.to_lowercase()))
    {
        reason.push_str("; it contains your email or name");
    }
    Err(ApiError::invalid("password", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(password: &str) -> Option<String> {
        match check_strength(password, &["jane.doe@lincoln.test", "Jane", "Doe"]) {
            Ok(()) => None,
            Err(ApiError::Unprocessable { message, .. }) => Some(message),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[test]
    fn common_and_personal_passwords_are_refused_with_a_reason() {
        for weak in ["password123", "Summer2024!", "jane.doe@lincoln.test"] {
            let r = reason(weak).unwrap_or_else(|| panic!("{weak} was accepted"));
            assert!(r.starts_with("password: "), "{r}");
        }
        assert!(reason("short").unwrap().contains("at least 10"));
        assert!(reason("jane.doe@lincoln.test")
            .unwrap()
            .contains("email or name"));
        assert_eq!(reason("violet cactus juggles quietly"), None);
        assert_eq!(reason("correct-horse-battery"), None);
        assert_eq!(reason("second-operator-pw"), None);
        assert_eq!(reason("a-long-new-password"), None);
        assert_eq!(reason("operator-password"), None);
    }
}
