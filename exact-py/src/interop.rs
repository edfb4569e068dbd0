//! Annotation files in and out of the embedded store (`Store.import_file`, `Store.export`):
//! the library's import/export use cases, run with the GIL released. Reports come back as
//! JSON text the Python side turns into dicts (and a refused import into `InvalidInputError`).

use std::io::Write;
use std::path::PathBuf;

use exact_core::{Error, ImageSetId, UserId};
use exact_interop::{ExportOptions, Format, ImportOptions};
use pyo3::prelude::*;

use crate::store::{NativeStore, run};

fn io(what: &std::path::Path, e: std::io::Error) -> Error {
    Error::invalid("path", format!("{}: {e}", what.display()))
}

/// Imports the file at `path` into image set `set` as user `user`; the report as JSON.
#[pyfunction]
#[pyo3(signature = (store, user, set, path, format=None, create_missing=false, dry_run=false, image=None, verify=false))]
#[allow(clippy::too_many_arguments)]
pub fn store_import(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    set: u64,
    path: PathBuf,
    format: Option<String>,
    create_missing: bool,
    dry_run: bool,
    image: Option<String>,
    verify: bool,
) -> PyResult<String> {
    let e = store.handle()?;
    run(py, move || {
        let format = format.as_deref().map(Format::parse).transpose()?;
        let file = std::fs::File::open(&path).map_err(|err| io(&path, err))?;
        let mut input = std::io::BufReader::with_capacity(1 << 16, file);
        let actor = e.actor(UserId(user))?;
        let options = ImportOptions {
            format,
            create_missing,
            dry_run,
            image,
            verify,
            ..Default::default()
        };
        let report =
            e.interop()
                .import(&actor, ImageSetId(set), &mut input, &options, &mut |_| {})?;
        serde_json::to_string(&report).map_err(|err| Error::invalid("report", err.to_string()))
    })
}

/// Exports image set `set` to `path` (written beside it and renamed into place); the
/// summary as JSON.
#[pyfunction]
#[pyo3(signature = (store, user, set, path, format, skip_deleted=false))]
pub fn store_export(
    py: Python<'_>,
    store: &NativeStore,
    user: u64,
    set: u64,
    path: PathBuf,
    format: String,
    skip_deleted: bool,
) -> PyResult<String> {
    let e = store.handle()?;
    run(py, move || {
        // `exact:<name>` names an export format of the store; other names are `Format`s.
        let name = match format
            .trim()
            .strip_prefix(exact_interop::exact_template::PREFIX)
        {
            Some(_) => format.trim().to_owned(),
            None => Format::parse(&format)?.name().to_owned(),
        };
        let actor = e.actor(UserId(user))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_owned();
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|err| io(&dir, err))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
        let options = ExportOptions { skip_deleted };
        let s = e.interop().export_named(
            &actor,
            ImageSetId(set),
            &name,
            &options,
            &mut out,
            &mut |_| {},
        )?;
        out.flush().map_err(|err| io(&path, err))?;
        let tmp = out
            .into_inner()
            .map_err(|err| io(&path, err.into_error()))?;
        tmp.persist(&path).map_err(|err| io(&path, err.error))?;
        Ok(format!(
            "{{\"annotations\":{},\"images\":{},\"format\":{},\"path\":{}}}",
            s.annotations,
            s.images,
            serde_json::Value::from(name),
            serde_json::Value::from(path.display().to_string())
        ))
    })
}
