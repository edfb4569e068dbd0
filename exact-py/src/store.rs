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
    Actor, AnnotationId, Error, ImageId, ImageSetId, Point, Result, TeamId, UserId, Vector,
};
use exact_store::{Exact, ExactConfig};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use serde::Serialize;
use serde_json::{Value, json};

use crate::errors;
use crate::rows::{self, Obj};

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
            let store = e.catalog().store();
            let empty = store.scan(exact_core::store::Kind::User, 0, 1)?.is_empty();
            if empty {
                let name = username.unwrap_or_else(|| "exact".into());
                let u = e.users().register(NewUser {
                    username: name,
                    is_superuser: true,
                    ..Default::default()
                })?;
                return Ok(u.id.0);
            }
            match username {
                Some(name) => e
                    .users()
                    .by_username(&name)?
                    .map(|u| u.id.0)
                    .ok_or_else(|| Error::not_found(format!("user {name:?}"))),
                None => {
                    let mut after = 0;
                    loop {
                        let page = store.scan(exact_core::store::Kind::User, after, 256)?;
                        if page.is_empty() {
                            return Err(Error::not_found(
                                "a superuser to act as (pass user=\"name\")",
                            ));
                        }
                        for (id, _) in &page {
                            after = *id;
                            if let Ok(a) = e.actor(UserId(*id))
                                && a.superuser
                            {
                                return Ok(*id);
                            }
                        }
                    }
                }
            }
        })
    }

    /// A metadata operation: `op` names the use case, `args` is a JSON object, the result is
    /// JSON text with EXACT's field names.
    fn call(&self, py: Python<'_>, user: u64, op: String, args: String) -> PyResult<String> {
        let e = self.handle()?;
        run(py, move || dispatch(&e, user, &op, &args))
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
            let q = rows::query(&Obj::of(&parse(&query)?, "query")?)?;
            let mut cols = rows::ColumnBuilder::default();
            e.annotations()
                .query_each(&actor(&e, user)?, ImageId(image), &q, |a| cols.push(&a))?;
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

fn req_obj(args: &Value) -> Result<Obj<'_>> {
    Obj::of(args, "arguments")
}

fn items(args: &Value, key: &str) -> Result<Vec<Value>> {
    match args.get(key) {
        Some(Value::Array(a)) => Ok(a.clone()),
        _ => Err(Error::invalid(key, "expected a list")),
    }
}

/// Calls one use case by name. Arguments and results are EXACT's JSON.
fn dispatch(e: &Exact, user: u64, op: &str, args: &str) -> Result<String> {
    let args = parse(args)?;
    let o = req_obj(&args)?;
    let me = || actor(e, user);
    match op {
        "whoami" => to_json(&e.users().get(&me()?, UserId(user))?),
        "users.list" => to_json(&e.users().list(&me()?)?),
        "users.create" => {
            let new = NewUser {
                username: o.req_str("username")?,
                email: o.str("email")?.unwrap_or_default(),
                is_superuser: o.bool("is_superuser")?.unwrap_or(false),
                is_staff: o.bool("is_staff")?.unwrap_or(false),
            };
            let u = e.users().create(&me()?, new)?;
            if let Some(p) = o.str("password")? {
                set_password(e, u.id, &p)?;
            }
            to_json(&u)
        }
        "users.set_password" => {
            let a = me()?;
            let name = o.req_str("username")?;
            let target = e
                .users()
                .by_username(&name)?
                .ok_or_else(|| Error::not_found(format!("user {name:?}")))?;
            if !(a.superuser || a.user == target.id) {
                return Err(Error::denied("only superusers set other users' passwords"));
            }
            set_password(e, target.id, &o.req_str("password")?)?;
            to_json(&json!({"username": name}))
        }
        "tokens.create" => {
            let a = me()?;
            let (secret, digest) = exact_http::auth::new_token();
            let name = o.str("name")?.unwrap_or_else(|| "exact_wsi".into());
            let t = e
                .catalog()
                .credentials()
                .add_token(a.user, &name, digest, None)?;
            to_json(&json!({"id": t.id, "name": t.name, "token": secret}))
        }
        "teams.create" => {
            let t = e.teams().create(
                &me()?,
                NewTeam {
                    name: o.req_str("name")?,
                    website: o.str("website")?.unwrap_or_default(),
                },
            )?;
            to_json(&t)
        }
        "teams.list" => to_json(&e.teams().list(&me()?)?),
        "teams.members" => to_json(&e.teams().members(&me()?, TeamId(o.req_u64("team")?))?),
        "teams.add_member" => {
            let name = o.req_str("username")?;
            let target = e
                .users()
                .by_username(&name)?
                .ok_or_else(|| Error::not_found(format!("user {name:?}")))?;
            let m = e.teams().add_member(
                &me()?,
                TeamId(o.req_u64("team")?),
                target.id,
                o.bool("is_admin")?.unwrap_or(false),
            )?;
            to_json(&m)
        }
        "image_sets.create" => to_json(&e.image_sets().create(&me()?, rows::new_image_set(&o)?)?),
        "image_sets.list" => to_json(&e.image_sets().list(&me()?)?),
        "products.create" => to_json(&e.products().create(&me()?, rows::new_product(&o)?)?),
        "products.list" => to_json(&e.products().list(&me()?)?),
        "annotation_types.create" => to_json(
            &e.annotation_types()
                .create(&me()?, rows::new_annotation_type(&o)?)?,
        ),
        "annotation_types.list" => to_json(&e.annotation_types().list(&me()?)?),
        "images.add" => to_json(&e.images().add(&me()?, rows::new_image(&o)?)?),
        "images.list" => match o.u64("image_set")? {
            Some(s) => to_json(&e.image_sets().images(&me()?, ImageSetId(s))?),
            None => to_json(&e.images().list(&me()?)?),
        },
        "images.get" => to_json(&e.images().get(&me()?, ImageId(o.req_u64("id")?))?),
        "annotations.query" => {
            let image = ImageId(o.req_u64("image")?);
            let q = rows::query(&Obj::of(o.0.get("query").unwrap_or(&json!({})), "query")?)?;
            to_json(&e.annotations().query(&me()?, image, &q)?)
        }
        "annotations.get" => to_json(
            &e.annotations()
                .get(&me()?, AnnotationId(o.req_u64("id")?))?,
        ),
        "annotations.create" => {
            let image = o.u64("image")?;
            let news = items(&args, "rows")?
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    rows::new_annotation(&Obj::of(r, &format!("[{i}]"))?, image)
                        .map_err(|e| at(i, e))
                })
                .collect::<Result<Vec<_>>>()?;
            to_json(&e.annotations().create_many(&me()?, news)?)
        }
        "annotations.update" => {
            let a = me()?;
            let patches = items(&args, "rows")?
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    rows::annotation_patch(&Obj::of(r, &format!("[{i}]"))?).map_err(|e| at(i, e))
                })
                .collect::<Result<Vec<_>>>()?;
            // One atomic batch, every row checked for edit rights first (errors name `[i]`).
            let patches = patches
                .into_iter()
                .map(|(id, p)| (AnnotationId(id), p))
                .collect();
            to_json(&e.annotations().update_many(&a, patches)?)
        }
        "annotations.delete" => {
            let a = me()?;
            let ids: Vec<AnnotationId> = o
                .ids("ids")?
                .unwrap_or_default()
                .into_iter()
                .map(AnnotationId)
                .collect();
            to_json(&e.annotations().delete_many(&a, &ids)?)
        }
        "annotations.history" => {
            let revs = e
                .annotations()
                .history(&me()?, AnnotationId(o.req_u64("id")?))?;
            let out: Vec<Value> = revs
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
                .collect();
            to_json(&out)
        }
        "annotations.restore" => {
            let n = o.req_u64("revision")? as usize;
            to_json(
                &e.annotations()
                    .restore(&me()?, AnnotationId(o.req_u64("id")?), n)?,
            )
        }
        "verifications.verify" => to_json(&e.verifications().verify(
            &me()?,
            AnnotationId(o.req_u64("annotation")?),
            o.bool("verified")?.unwrap_or(true),
        )?),
        "verifications.list" => to_json(
            &e.verifications()
                .of_annotation(&me()?, AnnotationId(o.req_u64("annotation")?))?,
        ),
        "versions.create" => {
            let sets: Vec<ImageSetId> = o
                .ids("imagesets")?
                .unwrap_or_default()
                .into_iter()
                .map(ImageSetId)
                .collect();
            to_json(&e.versions().create(&me()?, &o.req_str("name")?, &sets)?)
        }
        "versions.list" => to_json(&e.versions().list(&me()?)?),
        other => Err(Error::invalid("op", format!("unknown operation {other:?}"))),
    }
}

fn set_password(e: &Exact, user: UserId, password: &str) -> Result<()> {
    let phc = exact_http::auth::hash_password(password)
        .map_err(|err| Error::invalid("password", err.to_string()))?;
    e.catalog().credentials().set_password(user, phc)?;
    Ok(())
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
