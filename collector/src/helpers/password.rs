//! People's passwords: hashed with argon2id (the crate's defaults, the
//! OWASP minimum of 19 MiB, 2 passes) into a PHC string that carries its
//! salt and parameters, so stronger parameters later still check old
//! hashes.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The shortest password an account may have.
pub const MIN_LEN: usize = 10;

/// Why a password is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Too short.
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    /// Hashing failed (a bug or an exhausted system).
    #[error("hashing the password: {0}")]
    Hash(String),
}

/// Hashes a new password; refuses one shorter than [`MIN_LEN`].
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    let mut random = [0u8; 16];
    rand::fill(&mut random);
    let salt = SaltString::encode_b64(&random).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` is the one `phc` was made from. A stored hash that
/// does not parse matches nothing.
pub fn check(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password matches, checked when the account does not exist so
/// that a wrong name takes as long as a wrong password.
pub fn decoy() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
     0000000000000000000000000000000000000000000"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_checks_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(check("correct horse battery", &h));
        assert!(!check("correct horse batterY", &h));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn short_passwords_and_broken_hashes_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert!(!check("anything at all", "not a hash"));
        assert!(!check("anything at all", decoy()));
    }
}
