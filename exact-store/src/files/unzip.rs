//! Zip archives: unpacked next to the upload, within limits that real slide bundles need and
//! zip bombs exceed.

use super::receive::{hex, io_error, local_copy, put_file};
use super::{Received, blob_name, safe_name};
use crate::Blobs;
use exact_core::{Error, Result};
use sha2::{Digest, Sha512};
use std::path::{Path, PathBuf};

/// Most entries a zip archive may have. A MIRAX (`.mrxs`) bundle, the largest kind of slide
/// that comes zipped, has its index, `Slidedat.ini` and some tens to a few hundred `Data*.dat`
/// files; a zip of pictures for one set has some hundreds. 2,000 leaves room for both while
/// bounding the per-entry work (a file, a hash, a probe each).
const MAX_ZIP_ENTRIES: usize = 2_000;
/// Largest expansion of a zip archive over its compressed size (zip bombs). Slide data is
/// JPEG or JPEG 2000 already and expands about 1×; uncompressed TIFF or BMP pictures with
/// white background reach 10–30×. Deflate itself stops near 1,032×, so 50× refuses every
/// bomb built from it while accepting real bundles.
const MAX_ZIP_RATIO: u64 = 50;
/// Deepest directory nesting in an archive (MIRAX needs 2: `slide/Data0000.dat`).
const MAX_ZIP_DEPTH: usize = 16;
/// Unpacks an archive next to itself, refusing entries that climb out of it, too many
/// entries, and expansion beyond [`MAX_ZIP_RATIO`] or the upload limit.
pub(super) async fn unzip(blobs: &Blobs, got: &Received, limit: u64) -> Result<Vec<Received>> {
    let (zip_path, _guard) = local_copy(blobs, &got.key).await?;
    let dir_key = got
        .key
        .rsplit_once('/')
        .map(|(d, _)| d.to_owned())
        .unwrap_or_default();
    // Extract into the blob directory itself when local, else into a temporary one.
    let staging = tempfile::tempdir().map_err(io_error)?;
    let out_dir = match blobs.local_path(&format!("{dir_key}/x"))? {
        Some(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
        None => staging.path().to_path_buf(),
    };
    let budget = got.size.saturating_mul(MAX_ZIP_RATIO).min(limit);
    let name = got.name.clone();
    // On failure the caller removes the whole upload directory, with whatever was extracted.
    let files = tokio::task::spawn_blocking(move || extract(&zip_path, &out_dir, budget, &name))
        .await
        .map_err(|e| Error::backend("unzip", std::io::Error::other(e)))??;
    let mut out = Vec::with_capacity(files.len());
    for (rel, display, path, size, checksum) in files {
        let key = format!("{dir_key}/{rel}");
        put_file(blobs, &path, &key).await?;
        out.push(Received {
            name: display,
            key,
            size,
            checksum,
            marker: got.marker.clone(),
        });
    }
    Ok(out)
}

/// An extracted entry: (relative blob key, display name, file, size, sha512).
type Extracted = (String, String, PathBuf, u64, String);

/// Extracts regular files of `zip` under `out`, refusing archives beyond the limits before
/// writing anything when their directory says so, and while writing when it lied.
fn extract(zip: &Path, out: &Path, budget: u64, name: &str) -> Result<Vec<Extracted>> {
    let bad = |reason: String| Error::invalid("file", format!("{name}: {reason}"));
    let f = std::fs::File::open(zip).map_err(io_error)?;
    let mut archive =
        zip::ZipArchive::new(f).map_err(|e| bad(format!("not a readable zip archive: {e}")))?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(bad(format!(
            "{} entries; at most {MAX_ZIP_ENTRIES} are accepted",
            archive.len()
        )));
    }
    // The central directory's sizes are only claims, but a claim beyond the budget is
    // refused before a byte is written.
    let mut declared = 0u64;
    for i in 0..archive.len() {
        if let Ok(e) = archive.by_index_raw(i) {
            declared = declared.saturating_add(e.size());
        }
    }
    if declared > budget {
        return Err(bad(format!(
            "expands beyond {budget} bytes (its entries declare {declared}; at most {MAX_ZIP_RATIO}× its size and the upload limit are accepted)"
        )));
    }
    let mut left = budget;
    let mut files = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| bad(format!("entry {i}: {e}")))?;
        let raw = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let Some(rel) = entry.enclosed_name() else {
            return Err(bad(format!("entry {raw:?} escapes the archive")));
        };
        if entry.is_dir() || raw.starts_with("__MACOSX/") {
            continue;
        }
        if entry.is_symlink() {
            return Err(bad(format!("entry {raw:?} is a symbolic link")));
        }
        let parts: Vec<String> = rel
            .components()
            .filter_map(|c| match c {
                std::path::Component::Normal(p) => p.to_str().map(safe_name),
                _ => None,
            })
            .collect();
        let Some(display) = parts.last().cloned() else {
            continue;
        };
        if parts.len() > MAX_ZIP_DEPTH {
            return Err(bad(format!(
                "entry {raw:?} is nested {} deep; at most {MAX_ZIP_DEPTH} levels are accepted",
                parts.len()
            )));
        }
        let rel = parts
            .iter()
            .map(|p| blob_name(p))
            .collect::<Vec<_>>()
            .join("/");
        if !keys.insert(rel.clone()) {
            return Err(bad(format!(
                "entry {raw:?} has the same stored name as an earlier entry ({rel:?})"
            )));
        }
        let path = out.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        let mut file = std::fs::File::create(&path).map_err(io_error)?;
        let mut hash = Sha512::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            use std::io::{Read, Write};
            let n = entry
                .read(&mut buf)
                .map_err(|e| bad(format!("entry {raw:?}: {e}")))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > left {
                drop(file);
                let _ = std::fs::remove_file(&path);
                return Err(bad(format!(
                    "expands beyond {budget} bytes (at most {MAX_ZIP_RATIO}× its size and the upload limit)"
                )));
            }
            hash.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(io_error)?;
        }
        left -= size;
        file.sync_all().map_err(io_error)?;
        files.push((rel, display, path, size, hex(&hash.finalize())));
    }
    Ok(files)
}
