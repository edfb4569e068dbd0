//! [`Argon2Secrets`], the crypto behind the accounts port ([`exact_core::catalog::Secrets`]):
//! argon2id password hashes with a fresh OS-random salt each (PHC strings), and token secrets
//! of 32 OS-random bytes stored as a SHA-256 digest (a fast hash is enough for a long random
//! secret; a slow one is needed for passwords people choose).

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use exact_core::catalog::Secrets;
use exact_core::{Error, Result};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Prefix of personal access tokens, so leaked ones are recognisable.
pub const TOKEN_PREFIX: &str = "exact_";

/// argon2id + SHA-256, as the server has always stored them.
#[derive(Debug, Default)]
pub struct Argon2Secrets {
    /// A hash unknown usernames are checked against (made on first use: hashing is slow).
    dummy: OnceLock<String>,
}

impl Argon2Secrets {
    /// A fresh instance.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Hashes a password (argon2id, random salt) into a PHC string.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("password", e.to_string()))
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The stored digest of a token secret (hex SHA-256).
pub fn token_digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh token secret and its digest.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let secret = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let digest = token_digest(&secret);
    (secret, digest)
}

impl Secrets for Argon2Secrets {
    fn hash_password(&self, password: &str) -> Result<String> {
        hash_password(password)
    }

    fn verify_password(&self, password: &str, phc: Option<&str>) -> bool {
        match phc {
            Some(phc) => verify_password(password, phc),
            None => {
                let dummy = self
                    .dummy
                    .get_or_init(|| hash_password("exact-rs: no such user").unwrap_or_default());
                let _ = verify_password(password, dummy);
                false
            }
        }
    }

    fn new_token(&self) -> (String, String) {
        new_token()
    }

    fn token_digest(&self, secret: &str) -> String {
        token_digest(secret)
    }
}
