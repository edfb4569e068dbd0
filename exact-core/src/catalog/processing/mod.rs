//! Model-assisted annotation (issue 16): EXACT's processing app — plugins, plugin jobs and
//! their results — and exact-rs's model plugins, whose jobs a worker outside core runs tile
//! by tile, writing proposals as annotations marked `generated` in `meta_data`.
//!
//! Who may do what: plugins are seen by members of the teams of their products (a plugin
//! without products by everyone) and registered or changed by superusers or the admins of
//! every product's team; a model URL must start with a prefix the server allows
//! ([`ModelAllowlist`]). Jobs, results and everything under them belong to an image: read by
//! whoever reads the image, written by whoever may annotate it.

mod agreement;
mod jobs;
mod plugins;
mod results;
mod review;
mod trash;

pub use agreement::{Agreement, AgreementOptions, PairAgreement};
pub use review::{MAX_REVIEW_IDS, ProposalFilter};
pub use trash::{MAX_TRASHED_RECORDS, Trashable};

use super::processing_model::*;
use super::{Catalog, Tx, check_name, check_text};
use crate::catalog::NewAnnotation;
use crate::ids::*;
use crate::keys::Key;
use crate::model::{Image, ImageSet, Product};
use crate::permissions::{Actor, SetRights};
use crate::store::{EntryWrite, Expect, Index};
use crate::wire::Obj;
use crate::{Error, ErrorKind, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// The URL prefixes model endpoints may have (set by a superuser through the server's flag):
/// no model URL may point anywhere else, so a plugin cannot make the server call into its
/// own network.
#[derive(Debug, Clone, Default)]
pub struct ModelAllowlist(Vec<String>);

impl ModelAllowlist {
    /// Parses comma-separated prefixes such as `http://127.0.0.1:8765/,https://models.lab/`.
    /// Each must be an `http`/`https` URL with a host; a bare `scheme://host[:port]` gets its
    /// `/`, so `http://a:1` cannot be stretched to `http://a:10` or `http://a:1@b`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut out = Vec::new();
        for p in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let rest = p
                .strip_prefix("http://")
                .or_else(|| p.strip_prefix("https://"))
                .ok_or_else(|| {
                    Error::invalid("model hosts", format!("{p:?}: not an http(s) URL"))
                })?;
            let authority = rest.split('/').next().unwrap_or("");
            if authority.is_empty() || authority.contains('@') || p.contains(char::is_whitespace) {
                return Err(Error::invalid(
                    "model hosts",
                    format!("{p:?}: needs a host and no user info"),
                ));
            }
            let mut p = p.to_ascii_lowercase();
            if !rest.contains('/') {
                p.push('/');
            }
            out.push(p);
        }
        Ok(ModelAllowlist(out))
    }

    /// The prefixes.
    pub fn prefixes(&self) -> &[String] {
        &self.0
    }

    /// Checks a model URL: it must start with an allowed prefix and hold nothing that could
    /// lead elsewhere (user info, dot segments, whitespace).
    pub fn check(&self, url: &str) -> Result<()> {
        let lower = url.to_ascii_lowercase();
        let tricky = lower.contains('@')
            || lower.contains("/..")
            || lower.contains("%2e")
            || lower.contains('\\')
            || lower.contains(char::is_whitespace);
        if tricky || !self.0.iter().any(|p| lower.starts_with(p)) {
            let allowed = if self.0.is_empty() {
                "none are allowed: start the server with EXACT_MODEL_HOSTS set to the allowed URL prefixes".to_owned()
            } else {
                format!("allowed prefixes: {}", self.0.join(", "))
            };
            return Err(Error::denied(format!(
                "model url {url:?} is not allowed ({allowed})"
            )));
        }
        Ok(())
    }
}

/// A job's progress as a worker reports it.
#[derive(Debug, Clone, Default)]
pub struct JobProgress {
    /// New state.
    pub state: Option<JobState>,
    /// Tiles planned.
    pub tiles_total: Option<u64>,
    /// Error (sets `error_message`).
    pub error: Option<String>,
    /// The worker.
    pub worker: Option<String>,
}

/// Processing use cases.
pub struct Processing<'a>(pub(crate) &'a Catalog);

impl Catalog {
    /// Plugins, plugin jobs and their results.
    pub fn processing(&self) -> Processing<'_> {
        Processing(self)
    }
}

fn opt_id<T: From<u64>>(o: &Obj, key: &str) -> Result<Option<T>> {
    Ok(o.u64(key)?.map(T::from))
}

fn req_id<T: From<u64>>(o: &Obj, key: &str) -> Result<T> {
    o.req_u64(key).map(T::from)
}

/// A JSON field that clients send either as JSON or as JSON text (form posts).
fn json_field(o: &Obj, key: &str) -> Result<Option<Value>> {
    let v = match o.raw(key) {
        None => return Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Null,
        Some(Value::String(s)) => {
            serde_json::from_str(s).map_err(|e| Error::invalid(key, format!("not JSON: {e}")))?
        }
        Some(v) => v.clone(),
    };
    crate::limits::check_meta_data(key, &v)?;
    Ok(Some(v))
}

/// A referenced object the actor cannot see is a bad field, not a missing resource.
fn field_of(e: Error, field: &str) -> Error {
    if e.kind() == ErrorKind::NotFound {
        Error::invalid(field, e.to_string())
    } else {
        e
    }
}

fn no_rights(what: impl std::fmt::Display) -> Error {
    Error::denied(format!("no rights to {what}"))
}
