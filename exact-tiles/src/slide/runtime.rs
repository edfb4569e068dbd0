//! OpenSlide loaded at run time (libloading; no link-time dependency, in the default build)
//! for the formats only it reads: MRXS, NDPI, SCN, BIF, VMS/VMU (and whatever else the pure
//! readers refuse that OpenSlide recognises). Local files only.
//!
//! The library is looked for, first found wins: the file named by `EXACT_OPENSLIDE_LIB`; the
//! `openslide_bin` package (the `openslide-bin` wheel) of the active Python environment
//! (`VIRTUAL_ENV`, `CONDA_PREFIX`) or of the environment the running executable is installed
//! in; then the system's `libopenslide.so.1` / `.so.0`. Without one, those formats are
//! refused with a message saying how to enable them. Levels and properties are OpenSlide's;
//! pixels come from `openslide_read_region` (premultiplied ARGB made straight RGBA); there are
//! no passthrough tiles.
//!
//! The only `unsafe` code of the crate is here: calling a C library found at run time cannot
//! be checked by the compiler. Each call states what it relies on.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_double, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::{Associated, Level, Slide};
use crate::cache::ByteCache;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::source::Source;
use crate::tiff::Directory;

/// File extensions of formats only OpenSlide reads here.
pub const OPENSLIDE_ONLY: [&str; 6] = ["mrxs", "ndpi", "scn", "bif", "vms", "vmu"];

/// The environment variable naming the OpenSlide library file.
pub const LIB_ENV: &str = "EXACT_OPENSLIDE_LIB";

type Osr = *mut c_void;

/// The OpenSlide C API functions used.
struct Api {
    _lib: libloading::Library,
    path: String,
    version: String,
    open: unsafe extern "C" fn(*const c_char) -> Osr,
    close: unsafe extern "C" fn(Osr),
    get_error: unsafe extern "C" fn(Osr) -> *const c_char,
    level_count: unsafe extern "C" fn(Osr) -> i32,
    level_dimensions: unsafe extern "C" fn(Osr, i32, *mut i64, *mut i64),
    level_downsample: unsafe extern "C" fn(Osr, i32) -> c_double,
    read_region: unsafe extern "C" fn(Osr, *mut u32, i64, i64, i32, i64, i64),
    property_names: unsafe extern "C" fn(Osr) -> *const *const c_char,
    property_value: unsafe extern "C" fn(Osr, *const c_char) -> *const c_char,
    associated_names: unsafe extern "C" fn(Osr) -> *const *const c_char,
    associated_dimensions: unsafe extern "C" fn(Osr, *const c_char, *mut i64, *mut i64),
    read_associated: unsafe extern "C" fn(Osr, *const c_char, *mut u32),
}

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os(LIB_ENV) {
        out.push(PathBuf::from(p));
        return out;
    }
    let mut envs: Vec<PathBuf> = ["VIRTUAL_ENV", "CONDA_PREFIX"]
        .iter()
        .filter_map(std::env::var_os)
        .map(PathBuf::from)
        .collect();
    if let Some(env) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent().map(Path::to_path_buf))
    {
        envs.push(env);
    }
    for env in envs {
        let Ok(rd) = std::fs::read_dir(env.join("lib")) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("python") {
                out.push(
                    e.path()
                        .join("site-packages/openslide_bin/libopenslide.so.1"),
                );
            }
        }
    }
    for name in [
        "libopenslide.so.1",
        "libopenslide.so.0",
        "libopenslide.1.dylib",
    ] {
        out.push(PathBuf::from(name));
    }
    out
}

fn load() -> std::result::Result<Api, String> {
    let mut tried = Vec::new();
    for c in candidates() {
        // A bare name goes through the system's search; a path must exist.
        if c.components().count() > 1 && !c.exists() {
            tried.push(c.display().to_string());
            continue;
        }
        // SAFETY: loading OpenSlide runs its initialisers, which have no preconditions.
        match unsafe { libloading::Library::new(&c) } {
            Ok(lib) => return bind(lib, c.display().to_string()),
            Err(_) => tried.push(c.display().to_string()),
        }
    }
    Err(tried.join(", "))
}

fn bind(lib: libloading::Library, path: String) -> std::result::Result<Api, String> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol has this C signature in every OpenSlide since 3.4.
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("{path}: {e}"))?
        };
    }
    let get_version: unsafe extern "C" fn() -> *const c_char = sym!("openslide_get_version");
    // SAFETY: returns a static NUL-terminated string.
    let version = unsafe { cstr(get_version()) }.unwrap_or_default();
    Ok(Api {
        open: sym!("openslide_open"),
        close: sym!("openslide_close"),
        get_error: sym!("openslide_get_error"),
        level_count: sym!("openslide_get_level_count"),
        level_dimensions: sym!("openslide_get_level_dimensions"),
        level_downsample: sym!("openslide_get_level_downsample"),
        read_region: sym!("openslide_read_region"),
        property_names: sym!("openslide_get_property_names"),
        property_value: sym!("openslide_get_property_value"),
        associated_names: sym!("openslide_get_associated_image_names"),
        associated_dimensions: sym!("openslide_get_associated_image_dimensions"),
        read_associated: sym!("openslide_read_associated_image"),
        _lib: lib,
        path,
        version,
    })
}

static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();

fn api() -> std::result::Result<&'static Api, &'static str> {
    API.get_or_init(load).as_ref().map_err(String::as_str)
}

/// The OpenSlide library found (path and version), or where it was looked for.
pub fn library() -> std::result::Result<(String, String), String> {
    api()
        .map(|a| (a.path.clone(), a.version.clone()))
        .map_err(|tried| tried.to_string())
}

/// # Safety
/// `p` is null or a NUL-terminated string that outlives the call.
unsafe fn cstr(p: *const c_char) -> Option<String> {
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// # Safety
/// `p` is null or a NULL-terminated array of NUL-terminated strings.
unsafe fn cstrs(p: *const *const c_char) -> Vec<String> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    let mut i = 0;
    loop {
        let s = unsafe { *p.add(i) };
        if s.is_null() || i > 100_000 {
            return out;
        }
        out.extend(unsafe { cstr(s) });
        i += 1;
    }
}

/// One open OpenSlide handle. OpenSlide's handles are thread-safe.
pub(crate) struct Handle {
    api: &'static Api,
    osr: Osr,
}

// SAFETY: OpenSlide documents every function on one handle as safe to call from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `osr` came from openslide_open and is closed once.
        unsafe { (self.api.close)(self.osr) }
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSlide")
            .field("library", &self.api.path)
            .finish()
    }
}

impl Handle {
    fn error(&self) -> Option<String> {
        // SAFETY: valid handle; the string lives as long as the handle.
        unsafe { cstr((self.api.get_error)(self.osr)) }
    }

    fn check(&self, name: &str) -> Result<()> {
        match self.error() {
            Some(e) => Err(Error::corrupt(name, format!("OpenSlide: {e}"))),
            None => Ok(()),
        }
    }
}

fn how_to_enable(name: &str, tried: &str) -> Error {
    Error::unsupported(format!(
        "{name}: this format is read through OpenSlide, which was not found (looked for: \
         {tried}); install it (`pip install openslide-bin` in the Python environment, or the \
         system package libopenslide1) or set {LIB_ENV} to the path of libopenslide.so.1"
    ))
}

/// True if `path` has the extension of a format only OpenSlide reads.
pub(crate) fn openslide_only(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| OPENSLIDE_ONLY.contains(&e.to_ascii_lowercase().as_str()))
}

impl Slide {
    /// Open a local file with the OpenSlide library found at run time (see the module doc);
    /// [`Error::Unsupported`] saying how to enable it when there is none.
    pub async fn open_with_runtime_openslide(path: &Path) -> Result<Slide> {
        let source = Source::from_file(path)?;
        let name = source.name().to_string();
        let api = api().map_err(|tried| how_to_enable(&name, tried))?;
        let c = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::invalid("path", format!("{name}: contains NUL")))?;
        let handle = crate::cpu::run(move || {
            // SAFETY: `c` is a valid C string; a null result means "not recognised".
            let osr = unsafe { (api.open)(c.as_ptr()) };
            (!osr.is_null()).then(|| Handle { api, osr })
        })
        .await
        .ok_or_else(|| Error::unsupported(format!("{name}: not a format OpenSlide reads")))?;
        handle.check(&name)?;
        let h = &handle;
        let mut properties = BTreeMap::new();
        // SAFETY: valid handle; names and values live as long as it.
        for k in unsafe { cstrs((api.property_names)(h.osr)) } {
            let ck = CString::new(k.clone()).unwrap_or_default();
            if let Some(v) = unsafe { cstr((api.property_value)(h.osr, ck.as_ptr())) } {
                properties.insert(k, v);
            }
        }
        // SAFETY: valid handle.
        let count = unsafe { (api.level_count)(h.osr) };
        handle.check(&name)?;
        let num = |k: String| properties.get(&k).and_then(|v| v.parse::<u32>().ok());
        let mut levels = Vec::new();
        for i in 0..count.clamp(0, 64) {
            let (mut w, mut hh) = (0i64, 0i64);
            // SAFETY: valid handle, level in range, out-pointers valid.
            let ds = unsafe {
                (api.level_dimensions)(h.osr, i, &mut w, &mut hh);
                (api.level_downsample)(h.osr, i)
            };
            let (Ok(w), Ok(hh)) = (u32::try_from(w), u32::try_from(hh)) else {
                return Err(Error::unsupported(format!(
                    "{name}: level {i} is {w}x{hh} pixels"
                )));
            };
            let tw = num(format!("openslide.level[{i}].tile-width"))
                .unwrap_or(256)
                .max(1);
            let th = num(format!("openslide.level[{i}].tile-height"))
                .unwrap_or(256)
                .max(1);
            levels.push(Level {
                width: u64::from(w),
                height: u64::from(hh),
                downsample: ds,
                tile_width: tw,
                tile_height: th,
                tiles_across: w.div_ceil(tw),
                tiles_down: hh.div_ceil(th),
                compression: 0,
                dir: Arc::new(Directory::default()),
                codec: Err("tiles are read through OpenSlide".to_string()),
                passthrough_prefix: None,
                channel_dirs: Vec::new(),
            });
        }
        if levels.is_empty() || levels[0].width == 0 {
            return Err(Error::corrupt(&name, "OpenSlide reports no levels"));
        }
        let vendor = properties
            .get("openslide.vendor")
            .cloned()
            .unwrap_or_else(|| "openslide".into());
        // SAFETY: valid handle.
        let associated = unsafe { cstrs((api.associated_names)(h.osr)) }
            .into_iter()
            .map(|n| {
                let a = Associated {
                    dir: Arc::new(Directory::default()),
                };
                (n, a)
            })
            .collect();
        Ok(Slide {
            source,
            vendor,
            levels,
            properties,
            associated,
            tiles: ByteCache::new(0),
            budget: None,
            #[cfg(feature = "openslide")]
            osr: None,
            runtime: Some(Arc::new(handle)),
            planes: None,
            display: None,
            series: Vec::new(),
            series_name: None,
        })
    }
}

fn argb_to_rgba(buf: &[u32], w: u32, h: u32) -> Image {
    let mut out = Image::new(w, h, 4);
    for (d, &v) in out.data.chunks_exact_mut(4).zip(buf) {
        let a = (v >> 24) & 0xFF;
        if a == 0 {
            continue;
        }
        for (i, shift) in [16, 8, 0].into_iter().enumerate() {
            let c = (v >> shift) & 0xFF;
            d[i] = ((c * 255 + a / 2) / a).min(255) as u8;
        }
        d[3] = a as u8;
    }
    out
}

/// A region through OpenSlide (negative corners as OpenSlide handles them). The caller has
/// bounded `w` × `h`.
pub(super) async fn read_region(
    h: Arc<Handle>,
    x: i64,
    y: i64,
    level: usize,
    w: u32,
    hh: u32,
    name: &str,
) -> Result<Image> {
    let name = name.to_string();
    crate::cpu::run(move || {
        let mut buf = vec![0u32; w as usize * hh as usize];
        // SAFETY: `buf` holds w*h pixels; valid handle.
        unsafe {
            (h.api.read_region)(
                h.osr,
                buf.as_mut_ptr(),
                x,
                y,
                level as i32,
                i64::from(w),
                i64::from(hh),
            )
        };
        h.check(&name)?;
        Ok(argb_to_rgba(&buf, w, hh))
    })
    .await
}

/// An associated image through OpenSlide, as RGB on white.
pub(super) async fn associated(h: Arc<Handle>, which: &str, name: &str) -> Result<Image> {
    let (which, name) = (which.to_string(), name.to_string());
    crate::cpu::run(move || {
        let c = CString::new(which.clone()).map_err(|_| Error::not_found(which.clone()))?;
        let (mut w, mut hh) = (-1i64, -1i64);
        // SAFETY: valid handle and C string, out-pointers valid.
        unsafe { (h.api.associated_dimensions)(h.osr, c.as_ptr(), &mut w, &mut hh) };
        let (Ok(w), Ok(hh)) = (u32::try_from(w), u32::try_from(hh)) else {
            return Err(Error::not_found(format!(
                "associated image {which:?} in {name}"
            )));
        };
        if (w as usize).saturating_mul(hh as usize).saturating_mul(4)
            > crate::codec::MAX_DECODED_BYTES
        {
            return Err(Error::unsupported(format!(
                "{name}: associated image {which:?} of {w}x{hh} is too large"
            )));
        }
        let mut buf = vec![0u32; w as usize * hh as usize];
        // SAFETY: `buf` holds w*h pixels.
        unsafe { (h.api.read_associated)(h.osr, c.as_ptr(), buf.as_mut_ptr()) };
        h.check(&name)?;
        Ok(argb_to_rgba(&buf, w, hh).to_rgb([255, 255, 255]))
    })
    .await
}
