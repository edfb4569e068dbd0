//! The embedded store: the same [`Exact`] handle `exact serve` opens, over a data directory.
//!
//! sled lets one process hold a directory, so handles are shared per process: opening the same
//! directory twice (or serving it in-process while a notebook reads it) reuses one [`Exact`].
//! Another process holding it gives `StoreInUseError`, told apart from real damage by probing
//! sled's lock file, never by reading error text.
//!
//! Every call names its acting user by id; the actor (with team roles) is loaded per call, as
//! the server does per request. Calls run on the runtime's blocking pool with the GIL released
//! and stay interruptible by Ctrl-C ([`run`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use exact_core::catalog::{NewTeam, NewUser};
use exact_core::{
    Actor, AnnotationId, AnnotationTypeId, Error, ImageId, ImageSetId, Point, Result, TeamId,
    UserId, Vector,
};
use exact_store::{Exact, ExactConfig};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::Serialize;
use serde_json::{Value, json};

use crate::errors;
use crate::rows;
use exact_core::wire::{self, Obj};

/// Open handles of this process by metadata URL, so a directory is opened once.
static OPEN: Mutex<Option<HashMap<String, Weak<Exact>>>> = Mutex::new(None);

/// Run library work on the blocking pool with the GIL released; Ctrl-C raises
/// `KeyboardInterrupt` within 100 ms (the work itself finishes in the background: every write
/// is one atomic batch, so it is either wholly done or not at all).
pub fn run<T: Send + 'static>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> PyResult<T> {
    let task = crate::runtime::runtime()?.spawn_blocking(f);
    match crate::runtime::block_on(py, task)? {
        Ok(r) => r.map_err(errors::core),
        Err(e) => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "store call failed: {e}"
        ))),
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("output", e.to_string()))
}

fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::invalid("input", e.to_string()))
}

/// The lock file sled holds in its directory.
fn sled_dir(meta_url: &str) -> Option<PathBuf> {
    meta_url.strip_prefix("sled://").map(PathBuf::from)
}

/// Whether another open file description holds sled's lock on `dir` (another process, or a
/// handle this registry does not know).
fn locked(dir: &Path) -> bool {
    use fs2::FileExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("db"))
    else {
        return false;
    };
    match f.try_lock_exclusive() {
        Ok(()) => {
            let _ = fs2::FileExt::unlock(&f);
            false
        }
        Err(_) => true,
    }
}

/// The shared handle for `config`, opening it if this process has none.
pub fn open_shared(config: ExactConfig) -> PyResult<Arc<Exact>> {
    let url = config.meta_url();
    let memory = url.starts_with("memory://");
    let key = match sled_dir(&url) {
        Some(dir) => {
            let _ = std::fs::create_dir_all(&config.data_dir);
            // Canonical, so ./data and /abs/data are one handle.
            let abs = std::fs::canonicalize(&config.data_dir).unwrap_or(config.data_dir.clone());
            format!(
                "sled://{}",
                abs.join(dir.strip_prefix(&config.data_dir).unwrap_or(&dir))
                    .display()
            )
        }
        None => url.clone(),
    };
    let mut guard = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, w| w.strong_count() > 0);
    if !memory && let Some(e) = map.get(&key).and_then(Weak::upgrade) {
        return Ok(e);
    }
    let opened = Exact::open(config.clone());
    match opened {
        Ok(e) => {
            let e = Arc::new(e);
            if !memory {
                map.insert(key, Arc::downgrade(&e));
            }
            Ok(e)
        }
        Err(err) => match sled_dir(&url) {
            Some(dir) if locked(&dir) => Err(errors::in_use(format!(
                "the data directory {} is in use by another process (its database {} is \
                 locked, e.g. by `exact serve`): stop that process, or talk to it over HTTP",
                config.data_dir.display(),
                dir.display()
            ))),
            _ => Err(errors::core(err)),
        },
    }
}

/// An open store (`exact_wsi.Store` wraps it).
#[pyclass(frozen, module = "exact_wsi._native")]
pub struct NativeStore {
    pub(crate) exact: Arc<Exact>,
    pid: u32,
}

impl NativeStore {
    /// Runs one use case as `user` on the blocking pool and returns its result as JSON text
    /// with EXACT's field names.
    fn json<T: Serialize>(
        &self,
        py: Python<'_>,
        user: u64,
        f: impl FnOnce(&Exact, Actor) -> Result<T> + Send + 'static,
    ) -> PyResult<String> {
        let e = self.handle()?;
        run(py, move || to_json(&f(&e, actor(&e, user)?)?))
    }

    pub(crate) fn handle(&self) -> PyResult<Arc<Exact>> {
        if std::process::id() != self.pid {
            return Err(errors::closed(
                "this Store was opened before fork(); a store belongs to one process: open it in \
                 the child instead (and close it in the parent)",
            ));
        }
        Ok(self.exact.clone())
    }
}

fn actor(e: &Exact, user: u64) -> Result<Actor> {
    e.actor(UserId(user))
}

#[pymethods]
impl NativeStore {
    /// Open `data_dir` (sled + files under it) or explicit `meta`/`blobs` URLs.
    #[new]
    #[pyo3(signature = (data_dir=None, meta=None, blobs=None))]
    fn new(
        py: Python<'_>,
        data_dir: Option<PathBuf>,
        meta: Option<String>,
        blobs: Option<String>,
    ) -> PyResult<Self> {
        let mut config = match &data_dir {
            Some(d) => ExactConfig::in_dir(d),
            None if meta.is_none() => ExactConfig::memory(),
            None => ExactConfig::in_dir("."),
        };
        if meta.is_some() {
            config.meta = meta;
        }
        if blobs.is_some() {
            config.blobs = blobs;
        }
        let exact = py.detach(|| open_shared(config))?;
        Ok(Self {
            exact,
            pid: std::process::id(),
        })
    }

    #[getter]
    fn meta_url(&self) -> String {
        self.exact.config().meta_url()
    }

    #[getter]
    fn blobs_url(&self) -> String {
        self.exact.config().blobs_url()
    }

    /// The id of the acting user named `username`, or the default owner when `None`: the first
    /// superuser. In a store without users, the user is created as a superuser (`exact` when
    /// no name is given), as `exact serve` does on first start.
    #[pyo3(signature = (username=None))]
    fn resolve_user(&self, py: Python<'_>, username: Option<String>) -> PyResult<u64> {
        let e = self.handle()?;
        run(py, move || {
            let accounts = e.trusted_accounts();
            if let Some(u) = accounts.first_start(username.as_deref().unwrap_or("exact"), None)? {
                return Ok(u.id.0);
            }
            match username {
                Some(name) => e
                    .users()
                    .by_username(&name)?
                    .map(|u| u.id.0)
                    .ok_or_else(|| Error::not_found(format!("user {name:?}"))),
                None => accounts
                    .first_superuser()?
                    .map(|u| u.id.0)
                    .ok_or_else(|| Error::not_found("a superuser to act as (pass user=\"name\")")),
            }
        })
    }

    /// The acting user's record.
    fn whoami(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| e.users().get(&a, UserId(user)))
    }

    fn users_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.users().list(&a))
    }

    /// Creates a user (superusers only), with a password when given.
    #[pyo3(signature = (user, username, email, is_superuser, password=None))]
    fn users_create(
        &self,
        py: Python<'_>,
        user: u64,
        username: String,
        email: String,
        is_superuser: bool,
        password: Option<String>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = NewUser {
                username,
                email,
                is_superuser,
                is_staff: false,
            };
            e.accounts().create_user(&a, new, password.as_deref())
        })
    }

    #[pyo3(signature = (user, username, password, old_password=None))]
    fn users_set_password(
        &self,
        py: Python<'_>,
        user: u64,
        username: String,
        password: String,
        old_password: Option<String>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let target = e
                .users()
                .by_username(&username)?
                .ok_or_else(|| Error::not_found(format!("user {username:?}")))?;
            match old_password {
                // Whoever opens a data directory as its superuser owns it, as `exact user
                // passwd` does: their own password needs no old one here.
                None if a.superuser && a.user == target.id => {
                    e.trusted_accounts().set_password(target.id, &password)?
                }
                old => e
                    .accounts()
                    .set_password(&a, target.id, &password, old.as_deref())?,
            }
            Ok(json!({ "username": username }))
        })
    }

    fn tokens_create(&self, py: Python<'_>, user: u64, name: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let t = e.accounts().mint_token(&a, &name, None)?;
            Ok(json!({"id": t.token.id, "name": t.token.name, "token": t.secret}))
        })
    }

    fn teams_create(
        &self,
        py: Python<'_>,
        user: u64,
        name: String,
        website: String,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.teams().create(&a, NewTeam { name, website })
        })
    }

    fn teams_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.teams().list(&a))
    }

    fn teams_members(&self, py: Python<'_>, user: u64, team: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| e.teams().members(&a, TeamId(team)))
    }

    fn teams_add_member(
        &self,
        py: Python<'_>,
        user: u64,
        team: u64,
        username: String,
        is_admin: bool,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let target = e
                .users()
                .by_username(&username)?
                .ok_or_else(|| Error::not_found(format!("user {username:?}")))?;
            e.teams().add_member(&a, TeamId(team), target.id, is_admin)
        })
    }

    /// Creates an image set from EXACT's fields (JSON object).
    fn image_sets_create(&self, py: Python<'_>, user: u64, fields: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = wire::new_image_set(&strict(&fields, wire::IMAGE_SET_FIELDS)?)?;
            e.image_sets().create(&a, new)
        })
    }

    fn image_sets_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.image_sets().list(&a))
    }

    /// Creates a product from EXACT's fields (JSON object).
    fn products_create(&self, py: Python<'_>, user: u64, fields: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = wire::new_product(&strict(&fields, wire::PRODUCT_FIELDS)?)?;
            e.products().create(&a, new)
        })
    }

    fn products_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.products().list(&a))
    }

    /// Creates an export format from EXACT's fields (JSON object; EXACT's defaults fill in).
    fn export_formats_create(&self, py: Python<'_>, user: u64, fields: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = wire::new_export_format(&strict(&fields, wire::EXPORT_FORMAT_FIELDS)?)?;
            e.export_formats().create(&a, new)
        })
    }

    fn export_formats_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.export_formats().list(&a))
    }

    /// Creates an annotation type from EXACT's fields (JSON object).
    fn annotation_types_create(
        &self,
        py: Python<'_>,
        user: u64,
        fields: String,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = wire::new_annotation_type(&strict(&fields, wire::ANNOTATION_TYPE_FIELDS)?)?;
            e.annotation_types().create(&a, new)
        })
    }

    fn annotation_types_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.annotation_types().list(&a))
    }

    /// Registers an image's metadata from EXACT's fields (JSON object).
    fn images_add(&self, py: Python<'_>, user: u64, fields: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let new = wire::new_image(&strict(&fields, wire::IMAGE_FIELDS)?)?;
            e.images().add(&a, new)
        })
    }

    #[pyo3(signature = (user, image_set=None))]
    fn images_list(&self, py: Python<'_>, user: u64, image_set: Option<u64>) -> PyResult<String> {
        self.json(py, user, move |e, a| match image_set {
            Some(s) => e.image_sets().images(&a, ImageSetId(s)),
            None => e.images().list(&a),
        })
    }

    fn images_get(&self, py: Python<'_>, user: u64, id: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| e.images().get(&a, ImageId(id)))
    }

    /// Changes an image's metadata from EXACT's fields (JSON object), `FrameDescriptions` and
    /// `channel_display` included (the use case checks edit rights and every value).
    fn images_update(
        &self,
        py: Python<'_>,
        user: u64,
        id: u64,
        fields: String,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let patch = wire::image_patch(&strict(&fields, wire::IMAGE_FIELDS)?)?;
            e.images().update(&a, ImageId(id), patch)
        })
    }

    /// The annotations an EXACT list query selects (JSON object with EXACT's filter names,
    /// `limit`/`offset` included), paged in the store: `{"count": n, "results": [...]}`.
    fn annotations_list(&self, py: Python<'_>, user: u64, query: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let list = wire::annotation_list(&strict(
                &query,
                &[wire::ANNOTATION_FILTERS, wire::WINDOW].concat(),
            )?)?;
            let page = e.annotations().list(&a, &list)?;
            Ok(json!({"count": page.count, "results": page.items}))
        })
    }

    fn annotations_get(&self, py: Python<'_>, user: u64, id: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.annotations().get(&a, AnnotationId(id))
        })
    }

    /// Creates annotations from rows (JSON list of EXACT's fields) in one atomic batch; `image`
    /// is the default of rows without one.
    #[pyo3(signature = (user, rows, image=None))]
    fn annotations_create(
        &self,
        py: Python<'_>,
        user: u64,
        rows: String,
        image: Option<u64>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let news = rows_of(&rows)?
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let o = row(r, i)?;
                    wire::new_annotation(&o, image).map_err(|e| at(i, e))
                })
                .collect::<Result<Vec<_>>>()?;
            e.annotations().create_many(&a, news)
        })
    }

    /// Changes annotations (rows with `id` and the fields to change) in one atomic batch, every
    /// row checked for edit rights first (errors name `[i]`).
    fn annotations_update(&self, py: Python<'_>, user: u64, rows: String) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let patches = rows_of(&rows)?
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let o = row(r, i)?;
                    let id = o.req_u64("id").map_err(|e| at(i, e))?;
                    let p = wire::annotation_patch(&o).map_err(|e| at(i, e))?;
                    Ok((AnnotationId(id), p))
                })
                .collect::<Result<Vec<_>>>()?;
            e.annotations().update_many(&a, patches)
        })
    }

    fn annotations_delete(&self, py: Python<'_>, user: u64, ids: Vec<u64>) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
            e.annotations().delete_many(&a, &ids)
        })
    }

    /// EXACT's DELETE: out of every read, kept in the trash (one atomic batch).
    fn annotations_trash(&self, py: Python<'_>, user: u64, ids: Vec<u64>) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
            e.annotations().trash_many(&a, &ids)
        })
    }

    /// Puts trashed annotations back (one atomic batch).
    fn annotations_restore_trashed(
        &self,
        py: Python<'_>,
        user: u64,
        ids: Vec<u64>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let ids: Vec<AnnotationId> = ids.into_iter().map(AnnotationId).collect();
            e.annotations().restore_trashed(&a, &ids)
        })
    }

    fn annotations_history(&self, py: Python<'_>, user: u64, id: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let revs = e.annotations().history(&a, AnnotationId(id))?;
            Ok(revs
                .iter()
                .map(|r| {
                    json!({
                        "number": r.number,
                        "change": r.change,
                        "action": r.action,
                        "user": r.user,
                        "time": r.time,
                        "before": r.before,
                        "after": r.after,
                    })
                })
                .collect::<Vec<Value>>())
        })
    }

    fn annotations_restore(
        &self,
        py: Python<'_>,
        user: u64,
        id: u64,
        revision: usize,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.annotations().restore(&a, AnnotationId(id), revision)
        })
    }

    fn verifications_verify(
        &self,
        py: Python<'_>,
        user: u64,
        annotation: u64,
        verified: bool,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.verifications()
                .verify(&a, AnnotationId(annotation), verified)
        })
    }

    fn images_statistics(&self, py: Python<'_>, user: u64, image: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let rows = e.annotations().statistics(&a, ImageId(image))?;
            Ok(rows.iter().map(|r| r.to_json()).collect::<Vec<_>>())
        })
    }

    fn verifications_verify_image(
        &self,
        py: Python<'_>,
        user: u64,
        image: u64,
        verified: bool,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.verifications().verify_image(&a, ImageId(image), verified)
        })
    }

    #[pyo3(signature = (user, image, image_set, annotations, name=None))]
    fn images_copy(
        &self,
        py: Python<'_>,
        user: u64,
        image: u64,
        image_set: u64,
        annotations: bool,
        name: Option<String>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let made =
                e.images()
                    .copy(&a, ImageId(image), ImageSetId(image_set), annotations, name)?;
            let mut v = serde_json::to_value(&made.image).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("annotations_copied".into(), made.annotations.len().into());
                m.insert("annotations_skipped".into(), made.skipped.into());
                m.insert("skipped_types".into(), made.skipped_types.into());
            }
            Ok(v)
        })
    }

    /// EXACT's annotation maps of `image_set` (every type, or `annotation_type`): per map
    /// `{name, image, annotations}`.
    #[pyo3(signature = (user, image_set, annotation_type=None))]
    fn annotation_maps_create(
        &self,
        py: Python<'_>,
        user: u64,
        image_set: u64,
        annotation_type: Option<u64>,
    ) -> PyResult<String> {
        let e = self.handle()?;
        let made = crate::runtime::block_on(py, async move {
            let a = actor(&e, user)?;
            e.annotation_maps()
                .create(
                    &a,
                    ImageSetId(image_set),
                    annotation_type.map(AnnotationTypeId),
                )
                .await
        })?
        .map_err(errors::core)?;
        let rows: Vec<Value> = made
            .iter()
            .map(|m| json!({"name": m.image.name, "image": m.image.id.0, "annotations": m.annotations}))
            .collect();
        to_json(&rows).map_err(errors::core)
    }

    /// The classes given on `image_set`'s maps pushed back to the originals: `{id: change}`.
    fn annotation_maps_sync(&self, py: Python<'_>, user: u64, image_set: u64) -> PyResult<String> {
        let e = self.handle()?;
        let updates = crate::runtime::block_on(py, async move {
            let a = actor(&e, user)?;
            e.annotation_maps().sync(&a, ImageSetId(image_set)).await
        })?
        .map_err(errors::core)?;
        let updates: serde_json::Map<String, Value> = updates
            .into_iter()
            .map(|(id, text)| (id.0.to_string(), Value::String(text)))
            .collect();
        to_json(&updates).map_err(errors::core)
    }

    /// Estimates and stores the registration of `source` onto `target` from their pixels.
    fn images_register(
        &self,
        py: Python<'_>,
        user: u64,
        source: u64,
        target: u64,
        inverse: bool,
    ) -> PyResult<String> {
        let e = self.handle()?;
        let done = crate::runtime::block_on(py, async move {
            let a = actor(&e, user)?;
            let opts = exact_store::registration::RegisterOptions::default();
            e.register_images(&a, ImageId(source), ImageId(target), opts, inverse)
                .await
        })?
        .map_err(errors::core)?;
        let mut v = serde_json::to_value(&done.registration).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("created".into(), done.created.into());
        }
        to_json(&v).map_err(errors::core)
    }

    fn registrations_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.image_registrations().list(&a))
    }

    /// `vector` (JSON) in the target image's coordinates of registration `id`.
    fn registrations_convert(
        &self,
        py: Python<'_>,
        user: u64,
        id: u64,
        vector: String,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let v = Vector::from_json(&parse(&vector)?)?
                .ok_or_else(|| Error::invalid("vector", "a vector with at least one node"))?;
            let out = e
                .image_registrations()
                .convert(&a, exact_core::RegistrationId(id), &v)?;
            Ok(out.to_json())
        })
    }

    fn verifications_list(&self, py: Python<'_>, user: u64, annotation: u64) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            e.verifications()
                .of_annotation(&a, AnnotationId(annotation))
        })
    }

    fn versions_create(
        &self,
        py: Python<'_>,
        user: u64,
        name: String,
        imagesets: Vec<u64>,
    ) -> PyResult<String> {
        self.json(py, user, move |e, a| {
            let sets: Vec<ImageSetId> = imagesets.into_iter().map(ImageSetId).collect();
            e.versions().create(&a, &name, &sets)
        })
    }

    fn versions_list(&self, py: Python<'_>, user: u64) -> PyResult<String> {
        self.json(py, user, |e, a| e.versions().list(&a))
    }

    /// Annotations of `image` matching `query` (JSON) as columns `[(name, buffer)]` (see
    /// [`rows::COLUMNS`]); each buffer is a [`NativeBuffer`] numpy adopts without copying.
    fn annotation_columns(
        &self,
        py: Python<'_>,
        user: u64,
        image: u64,
        query: String,
    ) -> PyResult<Vec<(&'static str, NativeBuffer)>> {
        let e = self.handle()?;
        let (n, nodes, columns) = run(py, move || {
            let mut list = wire::annotation_list(&strict(
                &query,
                &[wire::ANNOTATION_FILTERS, wire::WINDOW].concat(),
            )?)?;
            list.images = vec![ImageId(image)];
            let a = actor(&e, user)?;
            let mut cols = rows::ColumnBuilder::default();
            let plain = list.is_plain_query();
            if plain {
                // Streamed: a million annotations never exist as a million structs.
                e.annotations()
                    .query_each(&a, ImageId(image), &list.query, |a| cols.push(&a))?;
            } else {
                for a in e.annotations().list(&a, &list)?.items {
                    cols.push(&a);
                }
            }
            Ok(cols.finish())
        })?;
        Ok(rows::COLUMNS
            .iter()
            .zip(columns)
            .map(|(name, data)| {
                let shape = match *name {
                    "offsets" => vec![n + 1],
                    "coords" => vec![nodes, 2],
                    _ => vec![n],
                };
                (*name, NativeBuffer { data, shape })
            })
            .collect())
    }

    /// Creates annotations on `image` from columns: `types` (int64, one per annotation),
    /// `offsets` (int64, N + 1) and `coords` (float64 x, y pairs). Returns the new ids (int64).
    #[allow(clippy::too_many_arguments)]
    fn add_columns<'py>(
        &self,
        py: Python<'py>,
        user: u64,
        image: u64,
        types: Vec<u8>,
        offsets: Vec<u8>,
        coords: Vec<u8>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let e = self.handle()?;
        let ids = run(py, move || {
            let types = rows::i64s("annotation_type", &types)?;
            let offsets = rows::i64s("offsets", &offsets)?;
            let coords = rows::f64s("coords", &coords)?;
            if offsets.len() != types.len() + 1 {
                return Err(Error::invalid(
                    "offsets",
                    format!(
                        "{} offsets for {} annotations (need N + 1)",
                        offsets.len(),
                        types.len()
                    ),
                ));
            }
            let mut news = Vec::with_capacity(types.len());
            for (i, t) in types.iter().enumerate() {
                let (a, b) = (offsets[i], offsets[i + 1]);
                if a < 0 || b < a || (b as usize) * 2 > coords.len() {
                    return Err(Error::invalid(
                        format!("[{i}].offsets"),
                        format!("{a}..{b} is not a node range of {} nodes", coords.len() / 2),
                    ));
                }
                let t = u64::try_from(*t).map_err(|_| {
                    Error::invalid(
                        format!("[{i}].annotation_type"),
                        format!("{t} is not an id"),
                    )
                })?;
                let points: Vec<Point> = coords[a as usize * 2..b as usize * 2]
                    .chunks_exact(2)
                    .map(|c| Point::new(c[0], c[1]))
                    .collect();
                let vector = (!points.is_empty()).then(|| Vector::new(points));
                news.push(exact_core::catalog::NewAnnotation::new(
                    exact_core::AnnotationTypeId(t),
                    ImageId(image),
                    vector,
                ));
            }
            let created = e.annotations().create_many(&actor(&e, user)?, news)?;
            let mut out = Vec::with_capacity(created.len() * 8);
            for a in created {
                out.extend_from_slice(&(a.id.0 as i64).to_le_bytes());
            }
            Ok(out)
        })?;
        Ok(PyBytes::new(py, &ids))
    }

    fn __repr__(&self) -> String {
        format!("NativeStore({:?})", self.exact.config().meta_url())
    }
}

/// A JSON object of EXACT's fields, refusing names outside `known` (a misspelt keyword
/// argument is an error in Python, not silently ignored).
fn strict(text: &str, known: &[&str]) -> Result<Obj> {
    let o = Obj::of(parse(text)?, "arguments")?;
    o.only(known)?;
    Ok(o)
}

fn rows_of(text: &str) -> Result<Vec<Value>> {
    match parse(text)? {
        Value::Array(a) => Ok(a),
        _ => Err(Error::invalid("rows", "expected a list")),
    }
}

/// Row `i` of a bulk call as an object of annotation fields.
fn row(v: Value, i: usize) -> Result<Obj> {
    let o = Obj::of(v, &format!("[{i}]"))?;
    o.only(wire::ANNOTATION_FIELDS).map_err(|e| at(i, e))?;
    Ok(o)
}

/// Prefixes a bulk row's error with its index.
fn at(i: usize, e: Error) -> Error {
    match e {
        Error::InvalidInput { field, reason } if !field.starts_with('[') => Error::InvalidInput {
            field: format!("[{i}].{field}"),
            reason,
        },
        Error::NotFound { what } if !what.starts_with('[') => Error::NotFound {
            what: format!("[{i}] {what}"),
        },
        other => other,
    }
}

/// A column owned by Rust that numpy adopts without a copy: `numpy.asarray(buffer)` reads
/// `__array_interface__` and keeps the buffer alive as the array's base. (The buffer protocol
/// is not in the stable ABI before Python 3.11; this works on every version the wheel serves.)
#[pyclass(frozen, module = "exact_wsi._native")]
pub struct NativeBuffer {
    data: rows::Column,
    shape: Vec<usize>,
}

#[pymethods]
impl NativeBuffer {
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", pyo3::types::PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", self.data.typestr())?;
        // Read-only: the array is a view of memory this object owns and never changes.
        d.set_item("data", (self.data.addr(), true))?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.data.byte_len()
    }

    fn __repr__(&self) -> String {
        format!(
            "NativeBuffer({}, shape={:?})",
            self.data.typestr(),
            self.shape
        )
    }
}
