//! The `sled://PATH` backend, the embedded default: one directory, no server. Every commit is
//! one atomic `sled::Batch` followed by a flush, so an acknowledged write survives a crash.

use super::kv::{Kv, KvMetaStore};
use exact_core::{Error, Result};
use std::path::Path;

/// A sled database.
pub struct SledKv {
    db: sled::Db,
    location: String,
}

/// Opens (creating if needed) the sled database in directory `path`. A damaged or locked
/// directory fails with an error naming it.
pub fn open(path: impl AsRef<Path>) -> Result<KvMetaStore<SledKv>> {
    let path = path.as_ref();
    let location = format!("sled://{}", path.display());
    let config = sled::Config::new()
        .path(path)
        .mode(sled::Mode::HighThroughput);
    // sled may panic on some damaged files instead of returning an error; a damaged directory
    // must still fail cleanly with its name.
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
    let db = match opened {
        Ok(Ok(db)) => db,
        // sled holds an exclusive lock on its directory while open.
        Ok(Err(sled::Error::Io(e))) if e.to_string().starts_with("could not acquire lock") => {
            return Err(Error::invalid(
                "data",
                format!(
                    "the database directory {} is in use by another process (a running \
                     `exact serve`, or a Python exact_wsi.Store); stop it, or talk to it over HTTP",
                    path.display()
                ),
            ));
        }
        Ok(Err(e)) => {
            return Err(Error::corrupt(
                location,
                format!("cannot open the database directory {}: {e}", path.display()),
            ));
        }
        Err(_) => {
            return Err(Error::corrupt(
                location,
                format!("the database directory {} is damaged", path.display()),
            ));
        }
    };
    let kv = SledKv {
        db,
        location: location.clone(),
    };
    Ok(KvMetaStore::new(kv, location))
}

impl SledKv {
    fn fail(&self, e: sled::Error) -> Error {
        match e {
            sled::Error::Corruption { .. } => Error::corrupt(self.location.clone(), e.to_string()),
            other => Error::backend(self.location.clone(), other),
        }
    }
}

impl Kv for SledKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.fail(e))
    }

    fn for_each(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        for item in self.db.range(start..end) {
            let (k, v) = item.map_err(|e| self.fail(e))?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if start >= end {
            return Ok(None);
        }
        match self.db.range(start..end).next_back() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item.map_err(|e| self.fail(e))?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
        }
    }

    fn apply(&self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in ops {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.db.apply_batch(batch).map_err(|e| self.fail(e))?;
        self.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }
}
