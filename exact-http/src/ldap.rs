//! LDAP bind authentication (EXACT deployments' `django-auth-ldap` with a bind-DN template):
//! off by default; when a directory is configured, a username and password that no local
//! password matches are tried as a simple bind of the DN the template makes, and a
//! successful bind maps to the local user of that name, created on first sight. A directory
//! that is down or slow gives a clear 503 within the timeout, and nobody is created.

use std::time::Duration;

use ldap3::{LdapConn, LdapConnSettings};

/// Where the directory is and how to bind.
#[derive(Debug, Clone)]
pub struct LdapOptions {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// The bind DN with `{username}` where the (DN-escaped) username goes, e.g.
    /// `uid={username},ou=people,dc=example,dc=org`.
    pub bind_dn: String,
    /// Upgrade `ldap://` with StartTLS before binding.
    pub starttls: bool,
    /// Longest wait for the connection and for each operation.
    pub timeout: Duration,
}

/// Why a bind did not vouch for the user.
#[derive(Debug)]
pub enum LdapError {
    /// The directory refused the name or password (or the input cannot be a login).
    Refused,
    /// The directory could not be asked (down, slow, TLS): what happened.
    Unavailable(String),
}

impl LdapOptions {
    /// Checks the template names where the username goes.
    pub fn validate(&self) -> Result<(), String> {
        if !self.bind_dn.contains("{username}") {
            return Err(format!(
                "--ldap-bind-dn {:?} must contain {{username}}",
                self.bind_dn
            ));
        }
        if !(self.url.starts_with("ldap://") || self.url.starts_with("ldaps://")) {
            return Err(format!(
                "--ldap-url {:?} must start with ldap:// or ldaps://",
                self.url
            ));
        }
        Ok(())
    }

    /// Binds as `username` with `password` (blocking, bounded by the timeout). An empty
    /// password is refused before asking: LDAP takes it as an anonymous bind, which
    /// "succeeds" for anyone.
    pub fn bind(&self, username: &str, password: &str) -> Result<(), LdapError> {
        if password.is_empty() || username.is_empty() || username.len() > 150 {
            return Err(LdapError::Refused);
        }
        let dn = self
            .bind_dn
            .replace("{username}", &ldap3::dn_escape(username));
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        let unavailable = |e: ldap3::LdapError| {
            LdapError::Unavailable(format!("the LDAP server at {} failed: {e}", self.url))
        };
        let mut conn = LdapConn::with_settings(settings, &self.url).map_err(unavailable)?;
        let result = conn
            .with_timeout(self.timeout)
            .simple_bind(&dn, password)
            .map_err(unavailable)?;
        let _ = conn.unbind();
        match result.rc {
            0 => Ok(()),
            // invalidCredentials, noSuchObject, inappropriateAuthentication, invalidDNSyntax
            49 | 32 | 48 | 34 => Err(LdapError::Refused),
            rc => Err(LdapError::Unavailable(format!(
                "the LDAP server at {} answered the bind with code {rc} ({})",
                self.url, result.text
            ))),
        }
    }
}
