//! LDAP bind authentication (EXACT deployments' `django-auth-ldap` with a bind-DN template):
//! off by default; when a directory is configured, a username and password that no local
//! password matches are tried as a simple bind of the DN the template makes, and a
//! successful bind maps to the local user of that name, created on first sight. A directory
//! that is down or slow gives a clear 503 within the timeout, and nobody is created.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConn, LdapConnSettings};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

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
    /// TLS settings for `ldaps://` and StartTLS: trust only the CA certificates of
    /// `--ldap-ca-file` (see [`LdapOptions::trust_ca_file`]); `None` trusts the system's roots.
    pub tls: Option<Arc<rustls::ClientConfig>>,
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

    /// Trusts only the CA certificates in the PEM file `path` for `ldaps://` and StartTLS
    /// (a directory with a private CA). Errors name the file and what is wrong with it.
    pub fn trust_ca_file(&mut self, path: &Path) -> Result<(), String> {
        let what = format!("--ldap-ca-file {}", path.display());
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("{what}: cannot read it: {e}"))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{what}: not a PEM certificate file: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("{what}: a certificate in it is unusable: {e}"))?;
        }
        if roots.is_empty() {
            return Err(format!("{what}: holds no PEM certificate"));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("{what}: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Arc::new(config));
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
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let unavailable = |e: ldap3::LdapError| {
            let text = e.to_string();
            if text.contains("certificate") {
                LdapError::Unavailable(format!(
                    "the LDAP server at {} failed TLS verification (is --ldap-ca-file its CA?): {text}",
                    self.url
                ))
            } else {
                LdapError::Unavailable(format!("the LDAP server at {} failed: {text}", self.url))
            }
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
