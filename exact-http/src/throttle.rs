//! The login throttle: failed logins are counted per username and per client address
//! (Basic credentials, the session login form and access tokens alike). After
//! [`ThrottleOptions::max_failures`] failures within [`ThrottleOptions::window`] the key is
//! blocked for [`ThrottleOptions::block`]; every failure after a block (until the key has been
//! quiet for [`ThrottleOptions::forget_after`]) blocks it again for twice as long, up to
//! [`ThrottleOptions::max_block`]. A blocked key is answered 429 with `Retry-After` *before*
//! the password is checked, so guessing stops also for a correct guess, and no hashing is spent
//! on it.
//!
//! Memory is bounded: each table keeps at most [`ThrottleOptions::max_entries`] keys; when
//! full, keys that are neither blocked nor recently failing go first, then the oldest. Usernames
//! are stored as a keyed hash (a 10 kB username costs 16 bytes), IPv6 addresses by their /64
//! (one subscriber usually holds a whole /64). Loopback addresses are not counted: a client
//! there is a local process, or a reverse proxy on the same machine that every remote client
//! shares (counting it would let one guesser lock everyone out; behind such a proxy,
//! `--trust-forwarded-for` gives the throttle the real addresses).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits of the login throttle.
#[derive(Debug, Clone)]
pub struct ThrottleOptions {
    /// Failures within `window` that block a username or address (`EXACT_LOGIN_MAX_FAILURES`).
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// The first block (`EXACT_LOGIN_BLOCK_SECS`); each later one doubles.
    pub block: Duration,
    /// The longest block.
    pub max_block: Duration,
    /// A key quiet for this long starts afresh (its back-off forgotten).
    pub forget_after: Duration,
    /// Keys kept per table (usernames, addresses).
    pub max_entries: usize,
}

impl Default for ThrottleOptions {
    fn default() -> Self {
        ThrottleOptions {
            max_failures: 10,
            window: Duration::from_secs(60),
            block: Duration::from_secs(30),
            max_block: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3_600),
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// Start of the current counting window.
    window: Instant,
    failures: u32,
    /// Blocks so far (the back-off exponent).
    strikes: u32,
    until: Option<Instant>,
    last: Instant,
}

impl Entry {
    fn new(now: Instant) -> Self {
        Entry {
            window: now,
            failures: 0,
            strikes: 0,
            until: None,
            last: now,
        }
    }

    fn blocked(&self, now: Instant) -> Option<Duration> {
        self.until
            .and_then(|u| u.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }
}

struct Table<K> {
    map: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        self.map.get(key)?.blocked(now)
    }

    fn fail(&mut self, key: K, now: Instant, o: &ThrottleOptions) {
        if !self.map.contains_key(&key) && self.map.len() >= o.max_entries {
            self.evict(now, o);
        }
        let e = self.map.entry(key).or_insert_with(|| Entry::new(now));
        if now.duration_since(e.last) >= o.forget_after {
            *e = Entry::new(now);
        }
        e.last = now;
        if now.duration_since(e.window) >= o.window {
            e.window = now;
            e.failures = 0;
        }
        e.failures += 1;
        // After a first block, every failure blocks again, for twice as long.
        if e.failures >= o.max_failures || e.strikes > 0 {
            let factor = 1u32 << e.strikes.min(16);
            let block = o.block.saturating_mul(factor).min(o.max_block);
            e.until = Some(now + block);
            e.strikes = e.strikes.saturating_add(1);
            e.failures = 0;
            e.window = now;
        }
    }

    fn forget(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Makes room: first keys with nothing to remember, then the least recently failing.
    fn evict(&mut self, now: Instant, o: &ThrottleOptions) {
        self.map.retain(|_, e| {
            e.blocked(now).is_some()
                || (now.duration_since(e.last) < o.window && e.failures > 0)
                || (e.strikes > 0 && now.duration_since(e.last) < o.forget_after)
        });
        if self.map.len() >= o.max_entries {
            // Under a flood of distinct keys: drop the oldest half (a sort of keys, bounded).
            let mut lasts: Vec<Instant> = self.map.values().map(|e| e.last).collect();
            lasts.sort_unstable();
            let cut = lasts[lasts.len() / 2];
            self.map.retain(|_, e| e.last > cut);
        }
    }
}

/// A refusal: the key is blocked for `retry_after`.
#[derive(Debug, Clone, Copy)]
pub struct Blocked {
    /// When to try again.
    pub retry_after: Duration,
}

/// Failed-login counters by username and by client address.
pub struct Throttle {
    opts: ThrottleOptions,
    key: [u8; 32],
    tables: Mutex<(Table<[u8; 16]>, Table<IpAddr>)>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl Throttle {
    /// A throttle with `opts`, hashing usernames under `key`.
    pub fn new(opts: ThrottleOptions, key: [u8; 32]) -> Self {
        Throttle {
            opts,
            key,
            tables: Mutex::new((
                Table {
                    map: HashMap::new(),
                },
                Table {
                    map: HashMap::new(),
                },
            )),
        }
    }

    fn user_key(&self, username: &str) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"throttle\0");
        mac.update(username.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut k = [0u8; 16];
        k.copy_from_slice(&full[..16]);
        k
    }

    /// Whether a login as `username` (if any) from `client` (if known) is refused for now.
    pub fn check(&self, username: Option<&str>, client: Option<IpAddr>) -> Result<(), Blocked> {
        let now = Instant::now();
        let user = username.map(|u| self.user_key(u));
        let t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        let wait = [
            user.and_then(|k| t.0.blocked(&k, now)),
            client.and_then(addr_key).and_then(|c| t.1.blocked(&c, now)),
        ]
        .into_iter()
        .flatten()
        .max();
        match wait {
            Some(retry_after) => Err(Blocked { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, username: Option<&str>, client: Option<IpAddr>) {
        let now = Instant::now();
        let user = username.map(|u| self.user_key(u));
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = user {
            t.0.fail(k, now, &self.opts);
        }
        if let Some(c) = client.and_then(addr_key) {
            t.1.fail(c, now, &self.opts);
        }
        if user.is_some() || client.is_some() {
            tracing::info!(client = ?client, "failed login");
        }
    }

    /// A successful login clears the username's count (not the address's: one valid
    /// account must not reset an address guessing at others).
    pub fn succeeded(&self, username: &str) {
        let k = self.user_key(username);
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if t.0.map.contains_key(&k) {
            t.0.forget(&k);
        }
    }

    /// Keys held (usernames, addresses): for tests of the memory bound.
    pub fn len(&self) -> (usize, usize) {
        let t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        (t.0.map.len(), t.1.map.len())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }
}

/// IPv4 as is; IPv6 by its /64; loopback not at all.
fn addr_key(ip: IpAddr) -> Option<IpAddr> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return None;
    }
    Some(match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ThrottleOptions {
        ThrottleOptions {
            max_failures: 3,
            block: Duration::from_millis(200),
            max_entries: 8,
            ..Default::default()
        }
    }

    #[test]
    fn blocks_after_the_limit_and_backs_off() {
        let t = Throttle::new(opts(), [7; 32]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(t.check(Some("alice"), Some(ip)).is_ok());
            t.failed(Some("alice"), Some(ip));
        }
        let first = t.check(Some("alice"), None).unwrap_err().retry_after;
        assert!(first <= Duration::from_millis(200));
        // Another user from the same address is blocked too; the same user elsewhere as well.
        assert!(t.check(Some("bob"), Some(ip)).is_err());
        assert!(
            t.check(Some("alice"), Some("10.0.0.2".parse().unwrap()))
                .is_err()
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(t.check(Some("alice"), None).is_ok());
        t.failed(Some("alice"), None);
        let second = t.check(Some("alice"), None).unwrap_err().retry_after;
        assert!(second > Duration::from_millis(300), "{second:?}");
    }

    #[test]
    fn memory_is_bounded() {
        let t = Throttle::new(opts(), [7; 32]);
        for i in 0..1_000u32 {
            t.failed(
                Some(&format!("user{i}")),
                Some(IpAddr::V4(std::net::Ipv4Addr::from(i))),
            );
            let (u, a) = t.len();
            assert!(u <= 8 && a <= 8, "{u} {a}");
        }
    }

    #[test]
    fn loopback_is_not_counted() {
        let t = Throttle::new(opts(), [7; 32]);
        for _ in 0..10 {
            t.failed(None, Some("127.0.0.1".parse().unwrap()));
            t.failed(None, Some("::1".parse().unwrap()));
        }
        assert!(t.check(None, Some("127.0.0.1".parse().unwrap())).is_ok());
        assert_eq!(t.len(), (0, 0));
    }

    #[test]
    fn ipv6_counts_by_prefix() {
        let t = Throttle::new(opts(), [7; 32]);
        for i in 0..3u16 {
            let ip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, i, 0, 0, 1));
            t.failed(None, Some(ip));
        }
        let other = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9));
        assert!(t.check(None, Some(other)).is_err());
    }
}
