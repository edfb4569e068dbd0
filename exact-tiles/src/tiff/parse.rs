//! The IFD walker: header, entry tables, deferred values, SubIFDs.

use std::collections::HashSet;
use std::ops::Range;

use bytes::Bytes;

use super::{Directory, tag};
use crate::error::{Error, Result};
use crate::source::Source;

/// Caps on what a file may ask for; anything beyond is [`Error::Corrupt`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Directories in the file, SubIFDs included.
    pub max_directories: usize,
    /// Entries in one IFD.
    pub max_entries: u64,
    /// Bytes of one out-of-line tag value.
    pub max_value_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_directories: 4096,
            max_entries: 4096,
            max_value_bytes: 128 << 20,
        }
    }
}

/// Bytes fetched so far, by file offset.
struct Chunks {
    chunks: Vec<(u64, Bytes)>,
}

impl Chunks {
    fn find(&self, r: &Range<u64>) -> Option<Bytes> {
        self.chunks.iter().find_map(|(start, b)| {
            let end = start + b.len() as u64;
            (r.start >= *start && r.end <= end)
                .then(|| b.slice((r.start - start) as usize..(r.end - start) as usize))
        })
    }

    /// `r`, fetching `r` widened to `window` bytes when it is not cached yet.
    async fn get(&mut self, src: &Source, r: Range<u64>, window: u64) -> Result<Bytes> {
        if r.end > src.size() {
            return Err(Error::corrupt(
                src.name(),
                format!(
                    "offset {} lies past the end of the file ({} bytes)",
                    r.start,
                    src.size()
                ),
            ));
        }
        if let Some(b) = self.find(&r) {
            return Ok(b);
        }
        let end = r.end.max(r.start.saturating_add(window)).min(src.size());
        let b = src.read(r.start..end).await?;
        self.chunks.push((r.start, b.clone()));
        Ok(b.slice(0..(r.end - r.start) as usize))
    }
}

#[derive(Clone, Copy)]
struct Layout {
    big_endian: bool,
    bigtiff: bool,
}

impl Layout {
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    fn u64(&self, b: &[u8]) -> u64 {
        let a: [u8; 8] = b[..8].try_into().unwrap_or([0; 8]);
        if self.big_endian {
            u64::from_be_bytes(a)
        } else {
            u64::from_le_bytes(a)
        }
    }
    fn offset(&self, b: &[u8]) -> u64 {
        if self.bigtiff {
            self.u64(b)
        } else {
            u64::from(self.u32(b))
        }
    }
    fn entry_size(&self) -> u64 {
        if self.bigtiff { 20 } else { 12 }
    }
    fn inline_size(&self) -> u64 {
        if self.bigtiff { 8 } else { 4 }
    }
}

fn type_size(typ: u16) -> Option<u64> {
    Some(match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

/// A tag we keep, with its value bytes (inline) or where to find them.
struct Entry {
    tag: u16,
    typ: u16,
    count: u64,
    value: Option<Bytes>,
    range: Range<u64>,
}

const WANTED: &[u16] = &[
    tag::NEW_SUBFILE_TYPE,
    tag::IMAGE_WIDTH,
    tag::IMAGE_LENGTH,
    tag::BITS_PER_SAMPLE,
    tag::COMPRESSION,
    tag::PHOTOMETRIC,
    tag::DOCUMENT_NAME,
    tag::IMAGE_DESCRIPTION,
    tag::MAKE,
    tag::MODEL,
    tag::STRIP_OFFSETS,
    tag::SAMPLES_PER_PIXEL,
    tag::ROWS_PER_STRIP,
    tag::STRIP_BYTE_COUNTS,
    tag::X_RESOLUTION,
    tag::Y_RESOLUTION,
    tag::PLANAR_CONFIG,
    tag::PAGE_NAME,
    tag::X_POSITION,
    tag::Y_POSITION,
    tag::RESOLUTION_UNIT,
    tag::SOFTWARE,
    tag::DATE_TIME,
    tag::ARTIST,
    tag::HOST_COMPUTER,
    tag::PREDICTOR,
    tag::TILE_WIDTH,
    tag::TILE_LENGTH,
    tag::TILE_OFFSETS,
    tag::TILE_BYTE_COUNTS,
    tag::SUB_IFDS,
    tag::SAMPLE_FORMAT,
    tag::JPEG_TABLES,
    tag::YCBCR_SUBSAMPLING,
    tag::COPYRIGHT,
    tag::ICC_PROFILE,
];

/// Window fetched around an IFD that is not cached yet: the entry table and, with most
/// writers, the tag arrays that follow it.
const IFD_WINDOW: u64 = 256 * 1024;

/// Parse every directory of the TIFF in `src`: the main chain in order, then SubIFDs.
/// `head`, if given, holds the first bytes of the file already fetched.
pub async fn read_directories(
    src: &Source,
    head: Option<Bytes>,
    limits: &Limits,
) -> Result<Vec<Directory>> {
    let name = src.name().to_string();
    let corrupt = |detail: String| Error::corrupt(&name, detail);
    let mut cache = Chunks { chunks: Vec::new() };
    if let Some(h) = head {
        cache.chunks.push((0, h));
    }
    let header = cache.get(src, 0..8.min(src.size()), IFD_WINDOW).await?;
    if header.len() < 8 {
        return Err(corrupt("file too short for a TIFF header".into()));
    }
    let big_endian = match &header[0..2] {
        b"II" => false,
        b"MM" => true,
        _ => return Err(Error::unsupported(format!("{name}: not a TIFF file"))),
    };
    let mut layout = Layout {
        big_endian,
        bigtiff: false,
    };
    let first = match layout.u16(&header[2..4]) {
        42 => u64::from(layout.u32(&header[4..8])),
        43 => {
            layout.bigtiff = true;
            let h = cache.get(src, 0..16, IFD_WINDOW).await?;
            if layout.u16(&h[4..6]) != 8 {
                return Err(corrupt("BigTIFF offset size is not 8".into()));
            }
            layout.u64(&h[8..16])
        }
        v => return Err(Error::unsupported(format!("{name}: TIFF version {v}"))),
    };

    let mut dirs: Vec<(Directory, Vec<Entry>)> = Vec::new();
    let mut visited = HashSet::new();
    // (offset, main-chain index, is SubIFD, follow the chain)
    let mut pending: Vec<(u64, usize, bool)> = vec![(first, 0, false)];
    while !pending.is_empty() {
        let start = dirs.len();
        for (mut offset, index, is_subifd) in std::mem::take(&mut pending) {
            let mut index = index;
            while offset != 0 {
                if !visited.insert(offset) {
                    return Err(corrupt(format!("IFD loop at offset {offset}")));
                }
                if dirs.len() >= limits.max_directories {
                    return Err(corrupt(format!(
                        "more than {} IFDs",
                        limits.max_directories
                    )));
                }
                let (entries, next) = read_ifd(src, &mut cache, layout, offset, limits).await?;
                let dir = Directory {
                    offset,
                    index,
                    is_subifd,
                    big_endian: layout.big_endian,
                    ..Default::default()
                };
                dirs.push((dir, entries));
                // SubIFD chains: the first SubIFD of each parent is followed by its own chain.
                offset = if is_subifd { 0 } else { next };
                index += 1;
            }
        }
        // Fetch the out-of-line values of the new directories in one coalesced batch.
        let mut missing = Vec::new();
        for (_, entries) in &dirs[start..] {
            for e in entries {
                if e.value.is_none() && e.tag != tag::ICC_PROFILE && cache.find(&e.range).is_none()
                {
                    if e.range.end > src.size() {
                        return Err(corrupt(format!(
                            "tag {} value at {}..{} lies past the end of the file ({} bytes)",
                            e.tag,
                            e.range.start,
                            e.range.end,
                            src.size()
                        )));
                    }
                    missing.push(e.range.clone());
                }
            }
        }
        if !missing.is_empty() {
            let got = src.read_many(&missing).await?;
            for (r, b) in missing.into_iter().zip(got) {
                cache.chunks.push((r.start, b));
            }
        }
        for (dir, entries) in &mut dirs[start..] {
            for e in entries.iter_mut() {
                if e.value.is_none() && e.tag != tag::ICC_PROFILE {
                    e.value = cache.find(&e.range);
                }
            }
            decode(dir, entries, layout, &name)?;
            if !dir.is_subifd {
                for &sub in &dir.subifds {
                    pending.push((sub, dir.index, true));
                }
            }
        }
    }
    Ok(dirs.into_iter().map(|(d, _)| d).collect())
}

async fn read_ifd(
    src: &Source,
    cache: &mut Chunks,
    layout: Layout,
    offset: u64,
    limits: &Limits,
) -> Result<(Vec<Entry>, u64)> {
    let name = src.name();
    let count_size = if layout.bigtiff { 8 } else { 2 };
    let c = cache
        .get(src, offset..offset.saturating_add(count_size), IFD_WINDOW)
        .await?;
    let n = if layout.bigtiff {
        layout.u64(&c)
    } else {
        u64::from(layout.u16(&c))
    };
    if n == 0 || n > limits.max_entries {
        return Err(Error::corrupt(
            name,
            format!("IFD at {offset} has {n} entries"),
        ));
    }
    let table_start = offset + count_size;
    let table_len = n * layout.entry_size() + layout.inline_size();
    let table = cache
        .get(
            src,
            table_start..table_start.saturating_add(table_len),
            IFD_WINDOW,
        )
        .await?;
    let mut entries = Vec::new();
    for i in 0..n as usize {
        let e = &table[i * layout.entry_size() as usize..][..layout.entry_size() as usize];
        let tag = layout.u16(&e[0..2]);
        if !WANTED.contains(&tag) {
            continue;
        }
        let typ = layout.u16(&e[2..4]);
        let Some(size) = type_size(typ) else { continue };
        let (count, field) = if layout.bigtiff {
            (layout.u64(&e[4..12]), &e[12..20])
        } else {
            (u64::from(layout.u32(&e[4..8])), &e[8..12])
        };
        let total = count
            .checked_mul(size)
            .filter(|t| *t <= limits.max_value_bytes)
            .ok_or_else(|| {
                Error::corrupt(
                    name,
                    format!("tag {tag} in IFD at {offset} has {count} values"),
                )
            })?;
        if total <= layout.inline_size() {
            let value = Bytes::copy_from_slice(&field[..total as usize]);
            entries.push(Entry {
                tag,
                typ,
                count,
                value: Some(value),
                range: 0..0,
            });
        } else {
            let at = layout.offset(field);
            let end = at
                .checked_add(total)
                .ok_or_else(|| Error::corrupt(name, format!("tag {tag} offset overflows")))?;
            entries.push(Entry {
                tag,
                typ,
                count,
                value: None,
                range: at..end,
            });
        }
    }
    let next = layout.offset(&table[(n * layout.entry_size()) as usize..]);
    Ok((entries, next))
}

fn numbers(e: &Entry, layout: Layout) -> Vec<u64> {
    let Some(v) = &e.value else { return Vec::new() };
    let Some(size) = type_size(e.typ) else {
        return Vec::new();
    };
    v.chunks_exact(size as usize)
        .take(e.count as usize)
        .map(|c| match e.typ {
            1 | 6 | 7 | 2 => u64::from(c[0]),
            3 | 8 => u64::from(layout.u16(c)),
            4 | 9 | 13 => u64::from(layout.u32(c)),
            16..=18 => layout.u64(c),
            _ => 0,
        })
        .collect()
}

fn first(e: &Entry, layout: Layout) -> Option<u64> {
    numbers(e, layout).first().copied()
}

fn rational(e: &Entry, layout: Layout) -> Option<f64> {
    let v = e.value.as_ref()?;
    let f = match e.typ {
        5 if v.len() >= 8 => {
            let (n, d) = (layout.u32(&v[0..4]), layout.u32(&v[4..8]));
            if d == 0 {
                return None;
            }
            f64::from(n) / f64::from(d)
        }
        10 if v.len() >= 8 => {
            let (n, d) = (layout.u32(&v[0..4]) as i32, layout.u32(&v[4..8]) as i32);
            if d == 0 {
                return None;
            }
            f64::from(n) / f64::from(d)
        }
        11 if v.len() >= 4 => f64::from(f32::from_bits(layout.u32(&v[0..4]))),
        12 if v.len() >= 8 => f64::from_bits(layout.u64(&v[0..8])),
        _ => return None,
    };
    // libtiff hands these tags out as C floats; OpenSlide prints that float.
    Some(f64::from(f as f32))
}

fn ascii(e: &Entry) -> Option<String> {
    let v = e.value.as_ref()?;
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    Some(String::from_utf8_lossy(&v[..end]).into_owned())
}

fn decode(dir: &mut Directory, entries: &[Entry], layout: Layout, name: &str) -> Result<()> {
    let u32_of = |v: u64, what: &str| {
        u32::try_from(v).map_err(|_| Error::corrupt(name, format!("{what} {v} is too large")))
    };
    let (mut tw, mut th) = (None, None);
    let (mut tile_off, mut tile_cnt, mut strip_off, mut strip_cnt) = (None, None, None, None);
    dir.compression = 1;
    dir.samples_per_pixel = 1;
    dir.bits_per_sample = 1;
    dir.planar_config = 1;
    dir.predictor = 1;
    dir.sample_format = 1;
    dir.ycbcr_subsampling = (2, 2);
    dir.rows_per_strip = u32::MAX;
    for e in entries {
        let small = || first(e, layout).unwrap_or(0);
        match e.tag {
            tag::NEW_SUBFILE_TYPE => dir.subfile_type = small() as u32,
            tag::IMAGE_WIDTH => dir.width = u32_of(small(), "width")?,
            tag::IMAGE_LENGTH => dir.height = u32_of(small(), "height")?,
            tag::BITS_PER_SAMPLE => dir.bits_per_sample = small() as u16,
            tag::COMPRESSION => dir.compression = small() as u16,
            tag::PHOTOMETRIC => dir.photometric = small() as u16,
            tag::SAMPLES_PER_PIXEL => dir.samples_per_pixel = small() as u16,
            tag::ROWS_PER_STRIP => dir.rows_per_strip = u32_of(small(), "RowsPerStrip")?,
            tag::PLANAR_CONFIG => dir.planar_config = small() as u16,
            tag::PREDICTOR => dir.predictor = small() as u16,
            tag::SAMPLE_FORMAT => dir.sample_format = small() as u16,
            tag::RESOLUTION_UNIT => dir.resolution_unit = Some(small() as u16),
            tag::TILE_WIDTH => tw = Some(u32_of(small(), "tile width")?),
            tag::TILE_LENGTH => th = Some(u32_of(small(), "tile height")?),
            tag::TILE_OFFSETS => tile_off = Some(numbers(e, layout)),
            tag::TILE_BYTE_COUNTS => tile_cnt = Some(numbers(e, layout)),
            tag::STRIP_OFFSETS => strip_off = Some(numbers(e, layout)),
            tag::STRIP_BYTE_COUNTS => strip_cnt = Some(numbers(e, layout)),
            tag::SUB_IFDS => dir.subifds = numbers(e, layout),
            tag::YCBCR_SUBSAMPLING => {
                let v = numbers(e, layout);
                if v.len() >= 2 {
                    dir.ycbcr_subsampling = (v[0] as u16, v[1] as u16);
                }
            }
            tag::JPEG_TABLES => dir.jpeg_tables = e.value.clone(),
            tag::ICC_PROFILE => dir.icc_size = Some(e.count),
            tag::IMAGE_DESCRIPTION => {
                dir.description = ascii(e);
                if let Some(s) = &dir.description {
                    dir.strings.push((e.tag, s.clone()));
                }
            }
            tag::PAGE_NAME => {
                dir.page_name = ascii(e).map(|s| s.chars().take(1024).collect());
            }
            tag::X_RESOLUTION | tag::Y_RESOLUTION | tag::X_POSITION | tag::Y_POSITION => {
                if let Some(f) = rational(e, layout) {
                    dir.rationals.push((e.tag, f));
                }
            }
            t if Directory::property_name(t).is_some() => {
                if let Some(s) = ascii(e) {
                    dir.strings.push((t, s));
                }
            }
            _ => {}
        }
    }
    if dir.width == 0 || dir.height == 0 {
        return Err(Error::corrupt(
            name,
            format!("IFD at {} has no image size", dir.offset),
        ));
    }
    // Every reader divides by these: a file declaring none is damaged, not an empty image.
    if dir.samples_per_pixel == 0 {
        return Err(Error::corrupt(
            name,
            format!("IFD at {} has 0 samples per pixel", dir.offset),
        ));
    }
    if dir.rows_per_strip == 0 || dir.rows_per_strip > dir.height {
        dir.rows_per_strip = dir.height;
    }
    let (offsets, counts, expected) = match (tw, th) {
        (Some(w), Some(h)) => {
            if w == 0 || h == 0 || w > 65536 || h > 65536 {
                return Err(Error::corrupt(name, format!("tile size {w}x{h}")));
            }
            dir.tile_size = Some((w, h));
            let n =
                u64::from(dir.width.div_ceil(w)).saturating_mul(u64::from(dir.height.div_ceil(h)));
            (tile_off, tile_cnt, n)
        }
        _ => (
            strip_off,
            strip_cnt,
            u64::from(dir.height.div_ceil(dir.rows_per_strip)),
        ),
    };
    let planes = if dir.planar_config == 2 {
        u64::from(dir.samples_per_pixel)
    } else {
        1
    };
    let (offsets, counts) = (offsets.unwrap_or_default(), counts.unwrap_or_default());
    // Saturating: 1-pixel tiles of a 4-billion-pixel-wide image in 65,535 planes overflow.
    let expected = expected.saturating_mul(planes.max(1));
    if (offsets.len() as u64) < expected || offsets.len() != counts.len() {
        return Err(Error::corrupt(
            name,
            format!(
                "IFD at {} needs {} tile/strip offsets and byte counts, has {} and {}",
                dir.offset,
                expected,
                offsets.len(),
                counts.len()
            ),
        ));
    }
    dir.offsets = offsets;
    dir.byte_counts = counts;
    Ok(())
}
