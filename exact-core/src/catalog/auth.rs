//! Credential storage: password hashes and access-token digests. Hashing and verifying are the
//! caller's (the server's) business; these use cases only store and find, and are meant for the
//! authentication layer and the admin CLI, so they take no actor.

use super::Catalog;
use crate::ids::UserId;
use crate::keys::Key;
use crate::model::{AccessToken, AccessTokenId, Credential, CredentialId};
use crate::store::Index;
use crate::time::Timestamp;
use crate::{Error, Result};

/// Credential use cases.
pub struct Credentials<'a>(pub(crate) &'a Catalog);

impl Credentials<'_> {
    /// The password hash of `user`, if one was set.
    pub fn password(&self, user: UserId) -> Result<Option<Credential>> {
        Ok(self
            .0
            .by_index::<Credential>(Index::CredentialByUser, &Key::new().u64(user.0).build())?
            .into_iter()
            .next())
    }

    /// Sets (or replaces) the password hash of `user`.
    pub fn set_password(&self, user: UserId, phc: String) -> Result<Credential> {
        let _: crate::model::User = self.0.load(user.0)?;
        if phc.is_empty() {
            return Err(Error::invalid("password", "empty hash"));
        }
        let now = self.0.now();
        match self.password(user)? {
            None => self.0.insert(Credential {
                id: CredentialId(0),
                user,
                password: phc,
                changed: now,
            }),
            Some(old) => self.0.modify::<Credential>(old.id.0, |c| {
                let mut c = c.clone();
                c.password = phc.clone();
                c.changed = now;
                Ok((c, Vec::new()))
            }),
        }
    }

    /// Stores a new token of `user` under the digest of its secret.
    pub fn add_token(
        &self,
        user: UserId,
        name: &str,
        digest: String,
        expires: Option<Timestamp>,
    ) -> Result<AccessToken> {
        let _: crate::model::User = self.0.load(user.0)?;
        super::check_text("name", name, 100)?;
        self.0.insert(AccessToken {
            id: AccessTokenId(0),
            user,
            name: name.to_owned(),
            digest,
            created: self.0.now(),
            expires,
            revoked: false,
        })
    }

    /// The token whose secret has `digest`, if it exists, is not revoked and has not expired.
    pub fn token(&self, digest: &str) -> Result<Option<AccessToken>> {
        let now = self.0.now();
        Ok(self
            .0
            .by_index::<AccessToken>(Index::TokenDigest, &Key::new().str(digest).build())?
            .into_iter()
            .find(|t| !t.revoked && t.expires.is_none_or(|e| e > now)))
    }

    /// The tokens of `user` (revoked ones included).
    pub fn tokens(&self, user: UserId) -> Result<Vec<AccessToken>> {
        self.0
            .by_index::<AccessToken>(Index::TokenByUser, &Key::new().u64(user.0).build())
    }

    /// Revokes a token of `user`.
    pub fn revoke(&self, user: UserId, id: AccessTokenId) -> Result<AccessToken> {
        let t: AccessToken = self.0.load(id.0)?;
        if t.user != user {
            return Err(Error::not_found(id));
        }
        self.0.modify::<AccessToken>(id.0, |t| {
            let mut t = t.clone();
            t.revoked = true;
            Ok((t, Vec::new()))
        })
    }
}
