//! Remote-User authentication behind a trusted reverse proxy (EXACT's `RemoteUserMiddleware`
//! and `RemoteUserBackend`): off by default; when enabled with the proxy's addresses, a
//! request whose TCP peer is one of them is authenticated as the user its `Remote-User`
//! header names, created on first sight. The header is ignored from every other peer (the
//! peer is the connection's own address, never `X-Forwarded-For`), so a client that reaches
//! the server directly cannot claim a name.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};

/// Which proxies are trusted and the header they set.
#[derive(Debug, Clone)]
pub struct RemoteUserOptions {
    /// The header naming the user (`Remote-User` by default).
    pub header: HeaderName,
    /// The proxies' addresses; the header of any other peer is ignored.
    pub trusted: Vec<IpAddr>,
}

impl RemoteUserOptions {
    /// Trusts `trusted` with the `Remote-User` header.
    pub fn new(trusted: Vec<IpAddr>) -> Self {
        RemoteUserOptions {
            header: HeaderName::from_static("remote-user"),
            trusted,
        }
    }

    /// The username a trusted proxy vouches for in this request, if any: `None` when the
    /// peer is not trusted, or the header is absent, empty or not text.
    pub fn claimed(&self, parts: &Parts) -> Option<String> {
        self.claimed_by(&parts.headers, &parts.extensions)
    }

    /// [`RemoteUserOptions::claimed`] from a request's headers and extensions (the peer is
    /// the [`ConnectInfo`] the accept loop put there), for paths that answer before the
    /// router's extractors run (the tile fast path) or read no `Parts` (the API root).
    pub fn claimed_by(&self, headers: &HeaderMap, extensions: &Extensions) -> Option<String> {
        let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        if !self.trusted.contains(&peer) {
            return None;
        }
        let name = headers.get(&self.header)?.to_str().ok()?.trim();
        (!name.is_empty()).then(|| name.to_owned())
    }
}
