//! Credentials: a user's password hash and personal access tokens. Only hashes are stored
//! (the caller hashes; core stays free of crypto crates) and none of this is ever serialized
//! into an API response.

use crate::ids::UserId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Id of a [`Credential`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct CredentialId(pub u64);

/// Id of an [`AccessToken`].
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct AccessTokenId(pub u64);

impl fmt::Display for AccessTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "access token {}", self.0)
    }
}

/// A user's password, as a PHC hash string (argon2id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    /// Id.
    pub id: CredentialId,
    /// Whose password.
    pub user: UserId,
    /// The PHC string; a new salt per change, so it also identifies the password's generation.
    pub password: String,
    /// When the password was set.
    pub changed: Timestamp,
}

/// A personal access token: the secret is shown once; only its digest is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Id.
    pub id: AccessTokenId,
    /// Whose token.
    pub user: UserId,
    /// A label chosen by the user.
    #[serde(default)]
    pub name: String,
    /// Hex digest of the secret (a fast hash: the secret is random and long).
    pub digest: String,
    /// When it was made.
    pub created: Timestamp,
    /// When it stops working, if ever.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// Revoked tokens never authenticate again.
    #[serde(default)]
    pub revoked: bool,
}
