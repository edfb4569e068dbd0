//! Authentication: HTTP Basic (EXACT-Sync, SlideRunner), `Authorization: Token …` and
//! `Bearer …` personal access tokens, and the browser's session cookie. Handlers take an
//! [`Authed`] and get the [`Actor`].
//!
//! Sessions are access tokens named [`SESSION_NAME`] with an expiry, so they live in the
//! store (surviving restarts, shared by processes) hashed like any token; they authenticate
//! only as the `sessionid` cookie, never as a header. A cookie-authenticated unsafe request
//! must carry an `X-CSRFToken` header with the session's CSRF token, an HMAC of the session
//! secret (also sent as the script-readable `csrftoken` cookie): another site can make the
//! browser send the cookies but cannot read them, and a token planted by a sibling site or
//! left from an earlier session does not match this session's.
//!
//! Failed logins (Basic, the login form, tokens) are counted by [`crate::throttle`]; an
//! unknown username costs the same argon2 verification as a wrong password (against a dummy
//! hash), so response times do not tell which usernames exist.
//!
//! Passwords are argon2id hashes, slow on purpose; clients that send Basic auth on every call
//! would pay that per request, so a verified credential is remembered in memory under an HMAC
//! of it (keyed with a per-process random key, so the cache never holds anything a password
//! could be recovered from). An entry stays valid only while the stored hash is the one it was
//! verified against: changing a password (new salt, new PHC string) invalidates it, also in
//! other processes sharing the store. Tokens are long random secrets: a SHA-256 digest suffices.

use crate::AppState;
use crate::error::ApiError;
use crate::throttle::{Blocked, Throttle, ThrottleOptions};
use argon2::password_hash::rand_core::{OsRng, RngCore};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use exact_core::UserId;
pub use exact_core::catalog::SESSION_TOKEN_NAME as SESSION_NAME;
use exact_core::permissions::Actor;
use exact_core::{Error, ErrorKind};
use exact_store::Exact;
pub use exact_store::secrets::{
    TOKEN_PREFIX, hash_password, new_token, token_digest, verify_password,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long a verified Basic credential is remembered.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// Entries kept at most; beyond, expired ones are dropped, then everything.
const CACHE_MAX: usize = 10_000;
/// The session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "sessionid";
/// The CSRF cookie, readable by the page's scripts.
pub const CSRF_COOKIE: &str = "csrftoken";
/// The header that must repeat the CSRF cookie on unsafe cookie-authenticated requests.
pub const CSRF_HEADER: &str = "x-csrftoken";
/// How long a session lasts (Django's default: two weeks).
pub const SESSION_TTL: Duration = Duration::from_secs(14 * 86_400);

struct Verified {
    user: UserId,
    phc: String,
    at: Instant,
}

/// Sessions ended here are remembered this long, so the tile path's grants (kept for
/// [`crate::pixels::ACCESS_TTL`]) stop at once.
const ENDED_TTL: Duration = Duration::from_secs(10);

/// Verifies credentials: the cache of verified Basic credentials, the login throttle and
/// the sessions ended recently.
pub struct Authenticator {
    key: [u8; 32],
    /// The HMAC of grant keys, keyed and fed its domain prefix once (cloned per tile request).
    grant_mac: Hmac<Sha256>,
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    /// Failed-login counters.
    pub throttle: Throttle,
    /// Grant keys of sessions ended within [`ENDED_TTL`].
    ended: Mutex<HashMap<[u8; 32], Instant>>,
    /// Whether `ended` may hold anything: the tile path skips its lock when not.
    any_ended: AtomicBool,
    /// LDAP bind authentication, when configured.
    ldap: Option<crate::ldap::LdapOptions>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator::new(ThrottleOptions::default())
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator with a fresh process key and the given throttle limits.
    pub fn new(throttle: ThrottleOptions) -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Authenticator {
            grant_mac: {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
                mac.update(b"grant\0");
                mac
            },
            key,
            verified: Mutex::new(HashMap::new()),
            throttle: Throttle::new(throttle, key),
            ended: Mutex::new(HashMap::new()),
            any_ended: AtomicBool::new(false),
            ldap: None,
        }
    }

    /// Also accepts LDAP binds (see [`crate::ldap`]) for users without a local password.
    pub fn with_ldap(mut self, ldap: Option<crate::ldap::LdapOptions>) -> Self {
        self.ldap = ldap;
        self
    }

    /// The key a credential (an `Authorization` value or a session secret) is remembered
    /// under by the tile path: an HMAC, so no credential sits in memory as sent.
    pub fn grant_key(&self, credential: &str) -> [u8; 32] {
        let mut mac = self.grant_mac.clone();
        mac.update(credential.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether the session behind `grant_key` ended within the last seconds (its grants
    /// must not be used any more).
    pub fn ended(&self, grant_key: &[u8; 32]) -> bool {
        if !self.any_ended.load(Ordering::SeqCst) {
            return false;
        }
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.retain(|_, at| at.elapsed() < ENDED_TTL);
        if ended.is_empty() {
            self.any_ended.store(false, Ordering::SeqCst);
        }
        ended.contains_key(grant_key)
    }

    fn remember_ended(&self, secret: &str) {
        let key = self.grant_key(secret);
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.retain(|_, at| at.elapsed() < ENDED_TTL);
        if ended.len() < CACHE_MAX {
            ended.insert(key, Instant::now());
            self.any_ended.store(true, Ordering::SeqCst);
        }
    }

    fn blocked(b: Blocked) -> ApiError {
        let secs = b.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        ApiError::Throttled {
            retry_after: secs,
            detail: format!(
                "Too many failed logins for this account or from this address; retry in {secs} s."
            ),
        }
    }

    fn cache_key(&self, username: &str, password: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(username.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The user a Basic credential (or the login form) names, from `client` if known
    /// (blocking: may hash). Throttled: see [`crate::throttle`].
    pub fn basic(
        &self,
        exact: &Exact,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<UserId, ApiError> {
        self.throttle
            .check(Some(username), client)
            .map_err(Self::blocked)?;
        match self.verify_basic(exact, username, password) {
            Ok(Some(user)) => {
                self.throttle.succeeded(username);
                Ok(user)
            }
            Ok(None) if self.ldap.is_some() => match self.verify_ldap(exact, username, password)? {
                Some(user) => {
                    self.throttle.succeeded(username);
                    Ok(user)
                }
                None => {
                    self.throttle.failed(Some(username), client);
                    Err(ApiError::Unauthenticated(
                        "Invalid username/password.".into(),
                    ))
                }
            },
            Ok(None) => {
                self.throttle.failed(Some(username), client);
                Err(ApiError::Unauthenticated(
                    "Invalid username/password.".into(),
                ))
            }
            Err(e) => Err(e),
        }
    }

    /// The user a directory bind vouches for, created on first sight; `None` when the
    /// directory refuses, or the local user of that name has a local password (a directory
    /// entry must not take over a local account, such as the first superuser). A directory
    /// that cannot be asked is a 503 naming it, and nobody is created.
    fn verify_ldap(
        &self,
        exact: &Exact,
        username: &str,
        password: &str,
    ) -> Result<Option<UserId>, ApiError> {
        let Some(ldap) = &self.ldap else {
            return Ok(None);
        };
        let accounts = exact.trusted_accounts();
        if let Some(u) = exact.users().by_username(username)?
            && accounts.password(u.id)?.is_some()
        {
            return Ok(None);
        }
        match ldap.bind(username, password) {
            Ok(()) => Ok(Some(accounts.external_user(username)?.id)),
            Err(crate::ldap::LdapError::Refused) => Ok(None),
            Err(crate::ldap::LdapError::Unavailable(detail)) => {
                tracing::warn!(%detail, "LDAP login failed");
                Err(ApiError::Rejected {
                    status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    detail,
                })
            }
        }
    }

    /// The user if the password is theirs; `None` for a wrong password or unknown user,
    /// which take the same time.
    fn verify_basic(
        &self,
        exact: &Exact,
        username: &str,
        password: &str,
    ) -> Result<Option<UserId>, ApiError> {
        let key = self.cache_key(username, password);
        let cached = {
            let map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&key)
                .filter(|v| v.at.elapsed() < CACHE_TTL)
                .map(|v| (v.user, v.phc.clone()))
        };
        let accounts = exact.trusted_accounts();
        if let Some((user, phc)) = cached {
            let current = accounts.password(user)?;
            if current.is_some_and(|c| c.password == phc) {
                return Ok(Some(user));
            }
        }
        let Some((user, cred)) = accounts.verify_password(username, password)? else {
            return Ok(None);
        };
        let mut map = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.retain(|_, v| v.at.elapsed() < CACHE_TTL);
            if map.len() >= CACHE_MAX {
                map.clear();
            }
        }
        map.insert(
            key,
            Verified {
                user: user.id,
                phc: cred.password,
                at: Instant::now(),
            },
        );
        Ok(Some(user.id))
    }

    /// The user a token secret belongs to (session tokens are not accepted as headers);
    /// failures count against `client`.
    pub fn token(
        &self,
        exact: &Exact,
        secret: &str,
        client: Option<IpAddr>,
    ) -> Result<UserId, ApiError> {
        self.throttle.check(None, client).map_err(Self::blocked)?;
        let found = exact.trusted_accounts().token(secret)?.map(|t| t.user);
        found.ok_or_else(|| {
            self.throttle.failed(None, client);
            ApiError::Unauthenticated("Invalid token.".into())
        })
    }

    /// The session token of a `sessionid` cookie, if it is a live session.
    pub fn session(
        &self,
        exact: &Exact,
        secret: &str,
    ) -> Result<Option<exact_core::model::AccessToken>, ApiError> {
        Ok(exact.trusted_accounts().session(secret)?)
    }

    /// Starts a session for `user`: the cookie secret (to send once) and its CSRF token.
    pub fn start_session(&self, exact: &Exact, user: UserId) -> Result<(String, String), ApiError> {
        let ttl = i64::try_from(SESSION_TTL.as_micros()).unwrap_or(i64::MAX);
        let secret = exact.trusted_accounts().start_session(user, ttl)?;
        let csrf = csrf_token(&secret);
        Ok((secret, csrf))
    }

    /// Ends the session of a `sessionid` cookie (idempotent); its tile grants stop at once.
    pub fn end_session(&self, exact: &Exact, secret: &str) -> Result<(), ApiError> {
        self.remember_ended(secret);
        exact.trusted_accounts().end_session(secret)?;
        Ok(())
    }

    /// The actor of a request: the `Authorization` header if there is one, else the session
    /// cookie (with the CSRF check on unsafe methods). Blocking.
    pub fn authenticate_request(
        &self,
        exact: &Exact,
        header: Option<&str>,
        cookies: &Cookies,
        unsafe_method: bool,
        client: Option<IpAddr>,
    ) -> Result<Actor, ApiError> {
        let Some(secret) = cookies.get(SESSION_COOKIE).filter(|_| header.is_none()) else {
            return self.authenticate(exact, header, client);
        };
        let session = self
            .session(exact, secret)?
            .ok_or_else(|| ApiError::Unauthenticated("Session expired or logged out.".into()))?;
        if unsafe_method {
            let expected = csrf_token(secret);
            let sent = cookies.csrf_header.as_deref().unwrap_or_default();
            if !constant_time_eq(expected.as_bytes(), sent.as_bytes()) {
                return Err(ApiError::Core(Error::denied(
                    "CSRF Failed: CSRF token missing or incorrect (send the csrftoken cookie's value as X-CSRFToken).",
                )));
            }
        }
        actor_of(exact, session.user)
    }

    /// The actor of an `Authorization` header value (blocking).
    pub fn authenticate(
        &self,
        exact: &Exact,
        header: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<Actor, ApiError> {
        let header = header.ok_or_else(|| {
            ApiError::Unauthenticated("Authentication credentials were not provided.".into())
        })?;
        let (scheme, rest) = header
            .trim()
            .split_once(' ')
            .ok_or_else(|| ApiError::Unauthenticated("Malformed Authorization header.".into()))?;
        let rest = rest.trim();
        let user = match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ApiError::Unauthenticated("Invalid basic header: not base64 UTF-8.".into())
                    })?;
                let (name, password) = decoded.split_once(':').ok_or_else(|| {
                    ApiError::Unauthenticated("Invalid basic header: no colon.".into())
                })?;
                self.basic(exact, name, password, client)?
            }
            "token" | "bearer" => self.token(exact, rest, client)?,
            _ => {
                return Err(ApiError::Unauthenticated(format!(
                    "Unsupported authorization scheme {scheme:?}."
                )));
            }
        };
        actor_of(exact, user)
    }
}

/// The actor a trusted proxy's Remote-User header names (created on first sight). Blocking.
pub(crate) fn remote_actor(exact: &Exact, name: &str) -> Result<Actor, ApiError> {
    let user = exact.trusted_accounts().external_user(name)?;
    actor_of(exact, user.id)
}

fn actor_of(exact: &Exact, user: UserId) -> Result<Actor, ApiError> {
    exact.actor(user).map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied | ErrorKind::NotFound => {
            ApiError::Unauthenticated("User inactive or deleted.".into())
        }
        _ => ApiError::Core(e),
    })
}

/// The CSRF token of a session: an HMAC of its secret, so only the server (and pages of
/// the session, through the `csrftoken` cookie) know it, and it changes with every session.
pub fn csrf_token(session_secret: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(session_secret.as_bytes()).expect("any key length");
    mac.update(b"exact-rs csrf");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The cookies of a request (every `Cookie` header) and its `X-CSRFToken` header.
#[derive(Debug, Clone, Default)]
pub struct Cookies {
    pairs: Vec<(String, String)>,
    /// The `X-CSRFToken` header, if sent.
    pub csrf_header: Option<String>,
}

impl Cookies {
    /// Reads them from request headers.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Cookies {
        let pairs = headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let csrf_header = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Cookies { pairs, csrf_header }
    }

    /// The first cookie named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An authenticated request: the acting user and their team roles.
#[derive(Debug, Clone)]
pub struct Authed(pub Actor);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .map(|v| v.to_str().map(str::to_owned))
            .transpose()
            .map_err(|_| ApiError::Unauthenticated("Authorization header is not ASCII.".into()))?;
        let cookies = Cookies::from_headers(&parts.headers);
        let unsafe_method = !parts.method.is_safe();
        let client = client_addr(parts);
        let state = state.clone();
        if let Some(name) = state.remote_user.as_ref().and_then(|r| r.claimed(parts)) {
            return crate::blocking(move || remote_actor(&state.exact, &name).map(Authed)).await;
        }
        crate::blocking(move || {
            state
                .auth
                .authenticate_request(
                    &state.exact,
                    header.as_deref(),
                    &cookies,
                    unsafe_method,
                    client,
                )
                .map(Authed)
        })
        .await
    }
}

/// The client's address as the accept loop recorded it ([`crate::serve::ClientAddr`]), if
/// the request came through it (not for in-process calls of the router).
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<crate::serve::ClientAddr>()
        .map(|c| c.0)
}
