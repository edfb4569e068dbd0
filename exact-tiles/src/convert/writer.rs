//! The streaming pyramidal TIFF writer: tiles are appended as their bands fill, IFDs and tag
//! arrays go at the end, and the header is patched last (classic TIFF, or BigTIFF when offsets
//! pass 4 GiB).

use std::io::{Seek, SeekFrom, Write};

use super::halve_rows;
use crate::error::{Error, Result};
use crate::image::Image;

struct Level {
    width: u32,
    height: u32,
    band: Vec<u8>,
    band_rows: u32,
    rows_seen: u32,
    /// Row waiting for its pair to be averaged into the next level.
    pending: Option<Vec<u8>>,
    offsets: Vec<u64>,
    counts: Vec<u64>,
}

impl Level {
    fn new(width: u32, height: u32, tile: u32) -> Self {
        let n = width.div_ceil(tile) as usize * height.div_ceil(tile) as usize;
        Self {
            width,
            height,
            band: vec![0; width as usize * 3 * tile as usize],
            band_rows: 0,
            rows_seen: 0,
            pending: None,
            offsets: Vec::with_capacity(n),
            counts: Vec::with_capacity(n),
        }
    }
}

/// Level sizes, file size, BigTIFF or not.
pub(crate) type Finished = (Vec<(u32, u32)>, u64, bool);

pub(crate) struct PyramidWriter<W: Write + Seek> {
    out: W,
    pos: u64,
    tile: u32,
    quality: u8,
    levels: Vec<Level>,
    name: String,
    /// Pages finished before the current one (a stack of frames), with their PageName.
    done: Vec<(Vec<Level>, Option<String>)>,
    /// The PageName of the current page.
    page_name: Option<String>,
}

fn pyramid_levels(width: u32, height: u32, tile: u32) -> Vec<Level> {
    let mut levels = vec![Level::new(width, height, tile)];
    let (mut w, mut h) = (width, height);
    while w > tile || h > tile {
        (w, h) = (w.div_ceil(2), h.div_ceil(2));
        levels.push(Level::new(w, h, tile));
    }
    levels
}

impl<W: Write + Seek> PyramidWriter<W> {
    pub(crate) fn new(
        mut out: W,
        width: u32,
        height: u32,
        tile: u32,
        quality: u8,
        name: String,
    ) -> Result<Self> {
        let levels = pyramid_levels(width, height, tile);
        // header placeholder, patched by finish()
        out.write_all(&[0u8; 16]).map_err(|e| io(&name, e))?;
        Ok(Self {
            out,
            pos: 16,
            tile,
            quality,
            levels,
            name,
            done: Vec::new(),
            page_name: None,
        })
    }

    /// Names the current page (its PageName tag; a stack's frame name).
    pub(crate) fn name_page(&mut self, page_name: &str) {
        self.page_name = Some(page_name.chars().filter(|c| !c.is_control()).collect());
    }

    /// Ends the current page (all its rows pushed) and starts the next one of a stack, of the
    /// same size (the frames of one image share their size).
    pub(crate) fn next_page(&mut self) -> Result<()> {
        self.check_complete()?;
        let (w, h) = (self.levels[0].width, self.levels[0].height);
        let fresh = pyramid_levels(w, h, self.tile);
        let page = std::mem::replace(&mut self.levels, fresh);
        // Bands are only needed while rows arrive.
        let page = page
            .into_iter()
            .map(|mut l| {
                l.band = Vec::new();
                l
            })
            .collect();
        self.done.push((page, self.page_name.take()));
        Ok(())
    }

    fn check_complete(&self) -> Result<()> {
        for l in &self.levels {
            if l.rows_seen != l.height {
                return Err(Error::corrupt(&self.name, "image ended early"));
            }
        }
        Ok(())
    }

    pub(crate) fn push_row(&mut self, row: &[u8]) -> Result<()> {
        self.push(0, row.to_vec())
    }

    fn push(&mut self, li: usize, row: Vec<u8>) -> Result<()> {
        let tile = self.tile;
        let has_next = li + 1 < self.levels.len();
        let l = &mut self.levels[li];
        let s = l.width as usize * 3;
        l.band[l.band_rows as usize * s..][..s].copy_from_slice(&row);
        l.band_rows += 1;
        l.rows_seen += 1;
        let last = l.rows_seen == l.height;
        // feed the next level with 2x2 averages
        let mut down = None;
        if has_next {
            match l.pending.take() {
                Some(prev) => down = Some((prev, row)),
                None if last => down = Some((row.clone(), row)),
                None => l.pending = Some(row),
            }
        }
        if l.band_rows == tile || last {
            self.flush_band(li)?;
        }
        if let Some((a, b)) = down {
            let nw = self.levels[li + 1].width as usize;
            let mut half = vec![0u8; nw * 3];
            halve_rows(&a, &b, &mut half);
            self.push(li + 1, half)?;
        }
        Ok(())
    }

    fn flush_band(&mut self, li: usize) -> Result<()> {
        let tile = self.tile as usize;
        let l = &mut self.levels[li];
        let (w, rows) = (l.width as usize, l.band_rows as usize);
        let mut img = Image::new(self.tile, self.tile, 3);
        for tx in 0..w.div_ceil(tile) {
            let x0 = tx * tile;
            let cw = tile.min(w - x0);
            for y in 0..tile {
                // edge tiles: repeat the last row/column (no seams when decoders upsample)
                let sy = y.min(rows - 1);
                let src = &l.band[(sy * w + x0) * 3..][..cw * 3];
                let dst = &mut img.data[y * tile * 3..][..tile * 3];
                dst[..cw * 3].copy_from_slice(src);
                let edge = [src[cw * 3 - 3], src[cw * 3 - 2], src[cw * 3 - 1]];
                for p in dst[cw * 3..].chunks_exact_mut(3) {
                    p.copy_from_slice(&edge);
                }
            }
            let mut jpeg = Vec::with_capacity(tile * tile / 4);
            let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, self.quality);
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            enc.encode(
                &img.data,
                self.tile as u16,
                self.tile as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .map_err(|e| Error::invalid("tile", format!("JPEG encode: {e}")))?;
            self.out.write_all(&jpeg).map_err(|e| io(&self.name, e))?;
            l.offsets.push(self.pos);
            l.counts.push(jpeg.len() as u64);
            self.pos += jpeg.len() as u64;
        }
        l.band_rows = 0;
        Ok(())
    }

    /// Write the IFDs and header; returns level sizes, file size and whether it is BigTIFF.
    pub(crate) fn finish(mut self) -> Result<Finished> {
        self.check_complete()?;
        if !self.done.is_empty() || self.page_name.is_some() {
            return self.finish_pages();
        }
        let tiles: u64 = self.levels.iter().map(|l| l.offsets.len() as u64).sum();
        let big = self.pos + tiles * 16 + 4096 * self.levels.len() as u64 > u64::from(u32::MAX);
        let mut ifd_offsets = Vec::new();
        let mut ifds = Vec::new();
        for (i, l) in self.levels.iter().enumerate() {
            let (ifd, at) = build_ifd(l, i, self.tile, big, self.pos, &[]);
            self.pos += ifd.len() as u64;
            ifd_offsets.push(at);
            ifds.push(ifd);
        }
        // chain: patch each IFD's next pointer
        for (i, ifd) in ifds.iter_mut().enumerate() {
            set_next(ifd, ifd_offsets.get(i + 1).copied().unwrap_or(0), big);
        }
        self.finish_file(&ifds, ifd_offsets[0], big)?;
        let sizes = self.levels.iter().map(|l| (l.width, l.height)).collect();
        Ok((sizes, self.pos, big))
    }
}

impl<W: Write + Seek> PyramidWriter<W> {
    /// A stack: each page's full-resolution IFD in the main chain (NewSubfileType 0, its
    /// PageName), its reduced levels behind it as SubIFDs — the layout tifffile writes and
    /// this crate reads as the frames of one image.
    fn finish_pages(mut self) -> Result<Finished> {
        let last = std::mem::take(&mut self.levels);
        let name = self.page_name.take();
        self.done.push((last, name));
        let tiles: u64 = self
            .done
            .iter()
            .flat_map(|(p, _)| p.iter())
            .map(|l| l.offsets.len() as u64)
            .sum();
        let ifds: u64 = self.done.iter().map(|(p, _)| p.len() as u64).sum();
        let big = self.pos + tiles * 16 + 4096 * ifds > u64::from(u32::MAX);
        // IFDs in file order; pages' next pointers are patched once every page is placed.
        let mut written: Vec<Vec<u8>> = Vec::new();
        let mut page_offsets = Vec::new();
        let mut page_slots = Vec::new();
        let pages = std::mem::take(&mut self.done);
        for (n, (levels, page_name)) in pages.iter().enumerate() {
            // Reduced levels first (their next pointer stays 0), then the page naming them.
            let mut subs = Vec::new();
            for (i, l) in levels.iter().enumerate().skip(1) {
                let (ifd, at) = build_ifd(l, i, self.tile, big, self.pos, &[]);
                self.pos += ifd.len() as u64;
                written.push(ifd);
                subs.push(at);
            }
            let mut extra = Vec::new();
            if let Some(p) = page_name {
                extra.push((285, Val::Ascii(p.clone())));
            }
            if !subs.is_empty() {
                extra.push((
                    330,
                    if big {
                        Val::Long8(subs)
                    } else {
                        Val::Long(subs.iter().map(|&o| o as u32).collect())
                    },
                ));
            }
            let index = if n == 0 { 0 } else { usize::MAX };
            let (ifd, at) = build_ifd(&levels[0], index, self.tile, big, self.pos, &extra);
            self.pos += ifd.len() as u64;
            page_offsets.push(at);
            page_slots.push(written.len());
            written.push(ifd);
        }
        for (i, &slot) in page_slots.iter().enumerate() {
            let next = page_offsets.get(i + 1).copied().unwrap_or(0);
            set_next(&mut written[slot], next, big);
        }
        self.finish_file(&written, page_offsets[0], big)?;
        let sizes = pages[0].0.iter().map(|l| (l.width, l.height)).collect();
        Ok((sizes, self.pos, big))
    }
}

impl<W: Write + Seek> PyramidWriter<W> {
    /// Writes the IFDs (chained already) at the end, then the header pointing at the first
    /// (classic TIFF, or BigTIFF when `big`), and flushes.
    fn finish_file(&mut self, ifds: &[Vec<u8>], first: u64, big: bool) -> Result<()> {
        for ifd in ifds {
            self.out.write_all(ifd).map_err(|e| io(&self.name, e))?;
        }
        let mut header = Vec::with_capacity(16);
        if big {
            header.extend_from_slice(b"II\x2b\x00\x08\x00\x00\x00");
            header.extend_from_slice(&first.to_le_bytes());
        } else {
            header.extend_from_slice(b"II\x2a\x00");
            header.extend_from_slice(&(first as u32).to_le_bytes());
            header.extend_from_slice(&[0u8; 8]);
        }
        self.out
            .seek(SeekFrom::Start(0))
            .map_err(|e| io(&self.name, e))?;
        self.out.write_all(&header).map_err(|e| io(&self.name, e))?;
        self.out.flush().map_err(|e| io(&self.name, e))
    }
}

/// Points an IFD's next-IFD field (its last 4 or 8 bytes) at `next`.
fn set_next(ifd: &mut [u8], next: u64, big: bool) {
    let at = ifd.len() - if big { 8 } else { 4 };
    if big {
        ifd[at..at + 8].copy_from_slice(&next.to_le_bytes());
    } else {
        ifd[at..at + 4].copy_from_slice(&(next as u32).to_le_bytes());
    }
}

fn io(name: &str, source: std::io::Error) -> Error {
    Error::Io {
        source_name: name.to_string(),
        source,
    }
}

#[derive(Clone)]
enum Val {
    Short(Vec<u16>),
    Long(Vec<u32>),
    Long8(Vec<u64>),
    Ascii(String),
}

/// One IFD with its out-of-line values, laid out to start at `base`: (bytes, IFD offset).
/// The IFD itself comes after its values, so the next-IFD pointer is the last field.
/// `index`: 0 for the first page (which carries the ImageDescription), a level number for a
/// reduced level, `usize::MAX` for a later page of a stack; `extra`: further tags, in order.
fn build_ifd(
    l: &Level,
    index: usize,
    tile: u32,
    big: bool,
    base: u64,
    extra: &[(u16, Val)],
) -> (Vec<u8>, u64) {
    let reduced = index > 0 && index != usize::MAX;
    let arr = |v: &[u64]| {
        if big {
            Val::Long8(v.to_vec())
        } else {
            Val::Long(v.iter().map(|&x| x as u32).collect())
        }
    };
    let mut tags: Vec<(u16, Val)> = vec![
        (254, Val::Long(vec![u32::from(reduced)])),
        (256, Val::Long(vec![l.width])),
        (257, Val::Long(vec![l.height])),
        (258, Val::Short(vec![8, 8, 8])),
        (259, Val::Short(vec![7])),
        (262, Val::Short(vec![6])),
    ];
    if index == 0 {
        tags.push((270, Val::Ascii("exact-rs pyramid".into())));
    }
    tags.extend([(277, Val::Short(vec![3])), (284, Val::Short(vec![1]))]);
    tags.extend(
        extra
            .iter()
            .filter(|(t, _)| *t < 305)
            .map(|(t, v)| (*t, v.clone())),
    );
    tags.extend([
        (
            305,
            Val::Ascii(format!("exact-rs {}", env!("CARGO_PKG_VERSION"))),
        ),
        (322, Val::Long(vec![tile])),
        (323, Val::Long(vec![tile])),
        (324, arr(&l.offsets)),
        (325, arr(&l.counts)),
    ]);
    tags.extend(
        extra
            .iter()
            .filter(|(t, _)| (326..530).contains(t))
            .map(|(t, v)| (*t, v.clone())),
    );
    tags.push((530, Val::Short(vec![2, 2])));
    let inline = if big { 8 } else { 4 };
    let mut data = Vec::new();
    let mut entries = Vec::new();
    for (tag, v) in &tags {
        let (typ, count, bytes): (u16, u64, Vec<u8>) = match v {
            Val::Short(v) => (
                3,
                v.len() as u64,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Val::Long(v) => (
                4,
                v.len() as u64,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Val::Long8(v) => (
                16,
                v.len() as u64,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Val::Ascii(s) => {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                (2, b.len() as u64, b)
            }
        };
        let field = if bytes.len() <= inline {
            let mut f = bytes.clone();
            f.resize(inline, 0);
            f
        } else {
            if data.len() % 2 == 1 {
                data.push(0);
            }
            let at = base + data.len() as u64;
            data.extend_from_slice(&bytes);
            if big {
                at.to_le_bytes().to_vec()
            } else {
                (at as u32).to_le_bytes().to_vec()
            }
        };
        entries.push((*tag, typ, count, field));
    }
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let at = base + data.len() as u64;
    let mut out = data;
    if big {
        out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    } else {
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    }
    for (tag, typ, count, field) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&typ.to_le_bytes());
        if big {
            out.extend_from_slice(&count.to_le_bytes());
        } else {
            out.extend_from_slice(&(count as u32).to_le_bytes());
        }
        out.extend_from_slice(&field);
    }
    out.extend_from_slice(&vec![0u8; inline]); // next IFD, patched later
    (out, at)
}
