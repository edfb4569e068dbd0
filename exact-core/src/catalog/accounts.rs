//! Accounts: passwords, personal access tokens, browser sessions and the first start, written
//! once for every front end. Two types keep the two kinds of caller apart:
//!
//! - [`Accounts`] takes the acting user on every call and checks what they may do (a user
//!   changes their own password with the old one, superusers reset others, tokens are minted
//!   and revoked by their owner, deactivating a user ends their sessions and tokens);
//! - [`TrustedAccounts`] takes no actor: it is for the authentication layer (verify a password,
//!   find a token or a session), the admin CLI on the server's own machine and the first start.
//!   Front ends reach it only under that name, so a checked path cannot call it by accident.
//!
//! Hashing is a port ([`Secrets`]): core stays free of crypto crates; the storage crate plugs
//! in argon2id and SHA-256. The rules — password strength, the reserved token name
//! [`SESSION_TOKEN_NAME`], expiry bounds — live here, so HTTP, the CLI and Python agree.

use super::{Catalog, NewUser, Tx, UserPatch, check_text};
use crate::ids::{ImageId, UserId};
use crate::keys::Key;
use crate::model::{AccessToken, AccessTokenId, Credential, CredentialId, User};
use crate::permissions::Actor;
use crate::store::{Index, Kind};
use crate::time::Timestamp;
use crate::{Error, Result};

/// The name under which browser sessions are stored as tokens; no personal token may take it
/// (it would authenticate as a never-expiring session cookie).
pub const SESSION_TOKEN_NAME: &str = "session";
/// The name prefix of image read tokens (`image-read:<image id>`): minted for a model that
/// fetches a job's regions itself, they read that one image's pixels and nothing else, and
/// authenticate nowhere else.
pub const IMAGE_TOKEN_PREFIX: &str = "image-read:";
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted (bounds the cost of hashing it).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest token lifetime, in days.
pub const MAX_TOKEN_DAYS: u32 = 3650;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// The crypto port: password hashing and token secrets. Implementations must be thread-safe;
/// `verify_password` must take the same time whether or not a hash is given, so unknown
/// usernames cannot be told from wrong passwords.
pub trait Secrets: Send + Sync {
    /// A slow salted hash of `password` (a PHC string).
    fn hash_password(&self, password: &str) -> Result<String>;
    /// Whether `password` matches `phc`; with `None`, spends the time of a check and fails.
    fn verify_password(&self, password: &str, phc: Option<&str>) -> bool;
    /// A fresh random token secret (shown once) and the digest stored for it.
    fn new_token(&self) -> (String, String);
    /// The stored digest of a token secret.
    fn token_digest(&self, secret: &str) -> String;
}

/// Checks a new password: long enough, not too long, not blank, not the username.
pub fn check_password(username: &str, password: &str) -> Result<()> {
    if password.trim().is_empty() {
        return Err(Error::invalid("password", "must not be empty"));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("too short: at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("too long: at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err(Error::invalid("password", "must differ from the username"));
    }
    Ok(())
}

/// The expiry of a token living `days` from `now` (1 to [`MAX_TOKEN_DAYS`]).
pub fn expiry_in_days(now: Timestamp, days: u32) -> Result<Timestamp> {
    if days == 0 || days > MAX_TOKEN_DAYS {
        return Err(Error::invalid(
            "expires_in_days",
            format!("must be 1 to {MAX_TOKEN_DAYS}"),
        ));
    }
    Ok(Timestamp(
        now.0.saturating_add(i64::from(days) * MICROS_PER_DAY),
    ))
}

/// A token just minted: the stored record and its secret, which is never shown again.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The stored token (digest only).
    pub token: AccessToken,
    /// The secret to hand to the user once.
    pub secret: String,
}

/// Account use cases checked against the acting user.
pub struct Accounts<'a> {
    c: &'a Catalog,
    secrets: &'a dyn Secrets,
}

/// Account use cases without an actor: authentication, the admin CLI, first start.
pub struct TrustedAccounts<'a> {
    c: &'a Catalog,
    secrets: &'a dyn Secrets,
}

impl Catalog {
    /// Account use cases checked against an actor, hashing with `secrets`.
    pub fn accounts<'a>(&'a self, secrets: &'a dyn Secrets) -> Accounts<'a> {
        Accounts { c: self, secrets }
    }

    /// Account use cases without an actor (authentication, admin CLI, first start).
    pub fn trusted_accounts<'a>(&'a self, secrets: &'a dyn Secrets) -> TrustedAccounts<'a> {
        TrustedAccounts { c: self, secrets }
    }
}

impl Accounts<'_> {
    fn trusted(&self) -> TrustedAccounts<'_> {
        TrustedAccounts {
            c: self.c,
            secrets: self.secrets,
        }
    }

    /// Creates a user with an optional password; `actor` must be a superuser. The user and
    /// the password hash are written together: a bad password leaves no user behind.
    pub fn create_user(&self, actor: &Actor, new: NewUser, password: Option<&str>) -> Result<User> {
        if !actor.superuser {
            return Err(Error::denied("only superusers create users"));
        }
        self.trusted().register(new, password)
    }

    /// Changes a user (see [`super::Users::update`]); deactivating one also revokes their
    /// sessions and tokens.
    pub fn update_user(&self, actor: &Actor, id: UserId, patch: UserPatch) -> Result<User> {
        let deactivate = patch.is_active == Some(false);
        let u = self.c.users().update(actor, id, patch)?;
        if deactivate {
            self.trusted().revoke_all(id, |_| true)?;
        }
        Ok(u)
    }

    /// Sets the password of `user`. A user changing their own password must give the old one
    /// (`old_password`); a superuser may reset anyone else's without it.
    pub fn set_password(
        &self,
        actor: &Actor,
        user: UserId,
        password: &str,
        old_password: Option<&str>,
    ) -> Result<()> {
        let target = self.c.users().get(actor, user)?;
        if actor.user == user {
            let old = old_password.ok_or_else(|| {
                Error::invalid("old_password", "required to change your own password")
            })?;
            let current = self.trusted().password(user)?;
            if !self
                .secrets
                .verify_password(old, current.as_ref().map(|c| c.password.as_str()))
            {
                return Err(Error::invalid("old_password", "does not match"));
            }
        } else if !actor.superuser {
            return Err(Error::denied("only superusers set other users' passwords"));
        }
        check_password(&target.username, password)?;
        self.trusted().set_password(user, password)
    }

    /// The actor's personal access tokens (revoked ones included; sessions are not tokens
    /// a user manages here).
    pub fn tokens(&self, actor: &Actor) -> Result<Vec<AccessToken>> {
        Ok(self
            .trusted()
            .all_tokens(actor.user)?
            .into_iter()
            .filter(|t| t.name != SESSION_TOKEN_NAME)
            .collect())
    }

    /// Mints a personal access token of the actor.
    pub fn mint_token(
        &self,
        actor: &Actor,
        name: &str,
        expires: Option<Timestamp>,
    ) -> Result<MintedToken> {
        self.trusted().mint_token(actor.user, name, expires)
    }

    /// Revokes one of the actor's personal tokens (others' tokens are not found).
    pub fn revoke_token(&self, actor: &Actor, id: AccessTokenId) -> Result<AccessToken> {
        let t: AccessToken = self.c.find(id.0)?.ok_or_else(|| Error::not_found(id))?;
        if t.user != actor.user || t.name == SESSION_TOKEN_NAME {
            return Err(Error::not_found(id));
        }
        self.trusted().revoke(&t)
    }

    /// Ends every browser session of the actor (their tokens stay); returns how many.
    pub fn logout_all(&self, actor: &Actor) -> Result<usize> {
        self.trusted()
            .revoke_all(actor.user, |t| t.name == SESSION_TOKEN_NAME)
    }
}

impl TrustedAccounts<'_> {
    /// Registers a user with an optional password, both in one write (the admin CLI, open
    /// self-registration, first start). No permission check: callers decide who may.
    /// A taken username is an invalid `username` (as Django answers), not a conflict.
    pub fn register(&self, new: NewUser, password: Option<&str>) -> Result<User> {
        let name = new.username.clone();
        self.register_inner(new, password).map_err(|e| match e {
            Error::AlreadyExists { .. } => {
                Error::invalid("username", format!("a user named {name:?} already exists"))
            }
            e => e,
        })
    }

    fn register_inner(&self, new: NewUser, password: Option<&str>) -> Result<User> {
        let Some(password) = password else {
            return self.c.users().register(new);
        };
        super::teams::check_new_user(&new)?;
        check_password(&new.username, password)?;
        let phc = self.secrets.hash_password(password)?;
        let mut tx = Tx::default();
        let user = tx.insert(self.c, super::teams::user_record(new))?;
        tx.insert(
            self.c,
            Credential {
                id: CredentialId(0),
                user: user.id,
                password: phc,
                changed: self.c.now(),
            },
        )?;
        tx.commit(self.c)?;
        Ok(user)
    }

    /// The local user an outside authority vouches for (a trusted proxy's `Remote-User`
    /// header, a directory bind): found by username, or created on first sight without a
    /// password, as EXACT's `RemoteUserBackend` does. The name is held to the usual username
    /// rules. Whether the authority is to be trusted is the caller's decision.
    pub fn external_user(&self, username: &str) -> Result<User> {
        if let Some(u) = self.c.users().by_username(username)? {
            return Ok(u);
        }
        match self.c.users().register(NewUser::new(username)) {
            // Two first requests at once: the other one created it.
            Err(Error::AlreadyExists { .. }) => self
                .c
                .users()
                .by_username(username)?
                .ok_or_else(|| Error::not_found(format!("user {username:?}"))),
            other => other,
        }
    }

    /// Sets (or replaces) the password of `user`, held to [`check_password`].
    pub fn set_password(&self, user: UserId, password: &str) -> Result<()> {
        let u: User = self.c.load(user.0)?;
        check_password(&u.username, password)?;
        let phc = self.secrets.hash_password(password)?;
        let now = self.c.now();
        match self.password(user)? {
            None => {
                self.c.insert(Credential {
                    id: CredentialId(0),
                    user,
                    password: phc,
                    changed: now,
                })?;
            }
            Some(old) => {
                self.c.modify::<Credential>(old.id.0, |c| {
                    let mut c = c.clone();
                    c.password = phc.clone();
                    c.changed = now;
                    Ok((c, Vec::new()))
                })?;
            }
        }
        Ok(())
    }

    /// The stored password hash of `user`, if one was set (for caches that must notice a
    /// change: a new hash has a new salt).
    pub fn password(&self, user: UserId) -> Result<Option<Credential>> {
        Ok(self
            .c
            .by_index::<Credential>(Index::CredentialByUser, &Key::new().u64(user.0).build())?
            .into_iter()
            .next())
    }

    /// The user whose name and password these are, with the hash that matched; `None` for an
    /// unknown user or a wrong password, which take the same time.
    pub fn verify_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<(User, Credential)>> {
        let user = self.c.users().by_username(username)?;
        let cred = match &user {
            Some(u) => self.password(u.id)?,
            None => None,
        };
        let ok = self
            .secrets
            .verify_password(password, cred.as_ref().map(|c| c.password.as_str()));
        Ok(match (user, cred) {
            (Some(u), Some(c)) if ok => Some((u, c)),
            _ => None,
        })
    }

    /// Mints a personal access token of `user`. The name [`SESSION_TOKEN_NAME`] is reserved.
    pub fn mint_token(
        &self,
        user: UserId,
        name: &str,
        expires: Option<Timestamp>,
    ) -> Result<MintedToken> {
        if name.trim() == SESSION_TOKEN_NAME {
            return Err(Error::invalid(
                "name",
                format!("{SESSION_TOKEN_NAME:?} is reserved for browser sessions"),
            ));
        }
        if name.trim().starts_with(IMAGE_TOKEN_PREFIX) {
            return Err(Error::invalid(
                "name",
                format!("names starting {IMAGE_TOKEN_PREFIX:?} are reserved for model jobs"),
            ));
        }
        if expires.is_some_and(|e| e <= self.c.now()) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        self.add_token(user, name, expires)
    }

    fn add_token(
        &self,
        user: UserId,
        name: &str,
        expires: Option<Timestamp>,
    ) -> Result<MintedToken> {
        let _: User = self.c.load(user.0)?;
        check_text("name", name, 100)?;
        let (secret, digest) = self.secrets.new_token();
        let token = self.c.insert(AccessToken {
            id: AccessTokenId(0),
            user,
            name: name.to_owned(),
            digest,
            created: self.c.now(),
            expires,
            revoked: false,
        })?;
        Ok(MintedToken { token, secret })
    }

    /// The live token (not revoked, not expired) whose secret this is.
    fn live(&self, secret: &str) -> Result<Option<AccessToken>> {
        let digest = self.secrets.token_digest(secret);
        let now = self.c.now();
        Ok(self
            .c
            .by_index::<AccessToken>(Index::TokenDigest, &Key::new().str(&digest).build())?
            .into_iter()
            .find(|t| !t.revoked && t.expires.is_none_or(|e| e > now)))
    }

    /// The live personal token with this secret (sessions do not count: they authenticate
    /// only as the session cookie).
    pub fn token(&self, secret: &str) -> Result<Option<AccessToken>> {
        Ok(self
            .live(secret)?
            .filter(|t| t.name != SESSION_TOKEN_NAME && !t.name.starts_with(IMAGE_TOKEN_PREFIX)))
    }

    /// Mints a token of `user` that reads only `image`'s pixels, lasting `ttl_micros`
    /// (model jobs whose model fetches its regions itself); returns its secret.
    pub fn start_image_token(
        &self,
        user: UserId,
        image: ImageId,
        ttl_micros: i64,
    ) -> Result<String> {
        let expires = Timestamp(self.c.now().0.saturating_add(ttl_micros));
        let name = format!("{IMAGE_TOKEN_PREFIX}{}", image.0);
        Ok(self.add_token(user, &name, Some(expires))?.secret)
    }

    /// The user and image of a live image read token with this secret.
    pub fn image_token(&self, secret: &str) -> Result<Option<(UserId, ImageId)>> {
        Ok(self.live(secret)?.and_then(|t| {
            let image = t
                .name
                .strip_prefix(IMAGE_TOKEN_PREFIX)?
                .parse::<u64>()
                .ok()?;
            Some((t.user, ImageId(image)))
        }))
    }

    /// Ends an image read token early (idempotent).
    pub fn end_image_token(&self, secret: &str) -> Result<()> {
        if let Some(t) = self
            .live(secret)?
            .filter(|t| t.name.starts_with(IMAGE_TOKEN_PREFIX))
        {
            self.revoke(&t)?;
        }
        Ok(())
    }

    /// Starts a browser session of `user` lasting `ttl_micros`; returns its secret.
    pub fn start_session(&self, user: UserId, ttl_micros: i64) -> Result<String> {
        let expires = Timestamp(self.c.now().0.saturating_add(ttl_micros));
        Ok(self
            .add_token(user, SESSION_TOKEN_NAME, Some(expires))?
            .secret)
    }

    /// The live session with this secret.
    pub fn session(&self, secret: &str) -> Result<Option<AccessToken>> {
        Ok(self.live(secret)?.filter(|t| t.name == SESSION_TOKEN_NAME))
    }

    /// Ends the session with this secret (idempotent).
    pub fn end_session(&self, secret: &str) -> Result<()> {
        if let Some(t) = self.session(secret)? {
            self.revoke(&t)?;
        }
        Ok(())
    }

    /// Every token of `user`, sessions and revoked ones included.
    pub fn all_tokens(&self, user: UserId) -> Result<Vec<AccessToken>> {
        self.c
            .by_index::<AccessToken>(Index::TokenByUser, &Key::new().u64(user.0).build())
    }

    fn revoke(&self, t: &AccessToken) -> Result<AccessToken> {
        self.c.modify::<AccessToken>(t.id.0, |t| {
            let mut t = t.clone();
            t.revoked = true;
            Ok((t, Vec::new()))
        })
    }

    /// Revokes the live tokens of `user` that `which` selects; returns how many.
    pub fn revoke_all(&self, user: UserId, which: impl Fn(&AccessToken) -> bool) -> Result<usize> {
        let mut n = 0;
        for t in self.all_tokens(user)? {
            if !t.revoked && which(&t) {
                self.revoke(&t)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// On a store without any user, creates the superuser `username` (with `password`, if
    /// given) and returns it; otherwise does nothing and returns `None`.
    pub fn first_start(&self, username: &str, password: Option<&str>) -> Result<Option<User>> {
        if !self.c.store().scan(Kind::User, 0, 1)?.is_empty() {
            return Ok(None);
        }
        let new = NewUser {
            username: username.into(),
            is_superuser: true,
            ..Default::default()
        };
        self.register(new, password).map(Some)
    }

    /// The active superuser with the lowest id, if any (the default owner of a local store).
    pub fn first_superuser(&self) -> Result<Option<User>> {
        Ok(self
            .c
            .all::<User>()?
            .into_iter()
            .find(|u| u.is_superuser && u.is_active))
    }
}
