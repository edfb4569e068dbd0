//! The header of one DICOM Part 10 file, parsed from a byte prefix: the File Meta group, then
//! the data set (explicit VR little endian) up to the Pixel Data element, keeping the tags a
//! whole-slide reader needs and skipping the rest without copying.

use std::ops::Range;

use crate::error::{Error, Result};

/// The most frames one instance may declare (1,000,000 frames of 256 px make a 256k × 256k
/// level; more is a hostile header).
pub const MAX_FRAMES: u32 = 1_000_000;

/// The most bytes of header (everything before the pixel data) read to open one instance.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;

/// Deepest sequence nesting followed.
const MAX_DEPTH: usize = 12;

/// VL Whole Slide Microscopy Image Storage.
pub const WSI_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.77.1.6";

/// What one instance's header says.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// Transfer Syntax UID (0002,0010).
    pub transfer_syntax: String,
    /// SOP Class UID (0008,0016).
    pub sop_class: String,
    /// SOP Instance UID (0008,0018).
    pub sop_instance: String,
    /// Study Instance UID (0020,000D).
    pub study: String,
    /// Series Instance UID (0020,000E).
    pub series: String,
    /// Image Type (0008,0008) values, e.g. `ORIGINAL`, `PRIMARY`, `VOLUME`, `NONE`.
    pub image_type: Vec<String>,
    /// Dimension Organization Type (0020,9311): `TILED_FULL`, `TILED_SPARSE` or empty.
    pub dimension_organization: String,
    /// Rows (0028,0010): tile height.
    pub rows: u32,
    /// Columns (0028,0011): tile width.
    pub columns: u32,
    /// Total Pixel Matrix Columns (0048,0006); `columns` when absent.
    pub total_columns: u32,
    /// Total Pixel Matrix Rows (0048,0007); `rows` when absent.
    pub total_rows: u32,
    /// Number of Frames (0028,0008), 1 when absent.
    pub frames: u32,
    /// Samples per Pixel (0028,0002).
    pub samples: u16,
    /// Bits Allocated (0028,0100).
    pub bits_allocated: u16,
    /// Bits Stored (0028,0101).
    pub bits_stored: u16,
    /// Photometric Interpretation (0028,0004).
    pub photometric: String,
    /// Planar Configuration (0028,0006).
    pub planar: u16,
    /// Total Pixel Matrix Focal Planes (0048,0303), 1 when absent.
    pub focal_planes: u32,
    /// Items of the Optical Path Sequence (0048,0105).
    pub optical_paths: u32,
    /// Pixel Spacing (0028,0030) of the shared functional groups, in mm (row, column).
    pub pixel_spacing: Option<(f64, f64)>,
    /// Objective Lens Power (0048,0112) of the first optical path.
    pub objective_power: Option<f64>,
    /// Length of the ICC Profile (0028,2000) of the first optical path.
    pub icc_size: Option<u64>,
    /// Manufacturer (0008,0070).
    pub manufacturer: String,
    /// Per frame (TILED_SPARSE): 1-based column and row of its top-left pixel in the total
    /// pixel matrix, and whether it belongs to the first focal plane and optical path.
    pub positions: Vec<FramePosition>,
    /// Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002).
    pub extended_offsets: Option<(Vec<u64>, Vec<u64>)>,
    /// Where the Pixel Data element's value starts and how long it is (`None`: undefined
    /// length, i.e. encapsulated fragments).
    pub pixel_data: Option<(u64, Option<u64>)>,
}

/// The place of one frame of a TILED_SPARSE instance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FramePosition {
    /// Column Position In Total Image Pixel Matrix (0048,021E), 1-based.
    pub column: i64,
    /// Row Position In Total Image Pixel Matrix (0048,021F), 1-based.
    pub row: i64,
    /// Z Offset In Slide Coordinate System (0040,074A), if given.
    pub z: Option<f64>,
    /// Hash of the Optical Path Identifier (0048,0106) of the frame, if given.
    pub path: Option<u64>,
}

/// Why a prefix could not be parsed.
#[derive(Debug)]
pub enum Stop {
    /// The prefix ends before the header does: at least this many bytes from the start are
    /// needed.
    Need(u64),
    /// The header is damaged or unsupported.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

type Parse<T> = std::result::Result<T, Stop>;

const SQ: [u8; 2] = *b"SQ";
const ITEM: u32 = 0xFFFE_E000;
const ITEM_END: u32 = 0xFFFE_E00D;
const SEQ_END: u32 = 0xFFFE_E0DD;
const UNDEFINED: u32 = 0xFFFF_FFFF;

const SHARED_GROUPS: u32 = 0x5200_9229;
const PER_FRAME_GROUPS: u32 = 0x5200_9230;
const PIXEL_MEASURES: u32 = 0x0028_9110;
const PLANE_POSITION_SLIDE: u32 = 0x0048_021A;
const OPTICAL_PATH_ID_SEQ: u32 = 0x0048_0207;
const OPTICAL_PATHS: u32 = 0x0048_0105;
const PIXEL_DATA: u32 = 0x7FE0_0010;

fn long_form(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"SV"
            | b"UV"
    )
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    name: &'a str,
}

impl<'a> Cursor<'a> {
    fn need(&self, n: usize) -> Parse<()> {
        if self.pos.saturating_add(n) > self.buf.len() {
            return Err(Stop::Need(self.pos as u64 + n as u64));
        }
        Ok(())
    }
    fn bytes(&mut self, n: usize) -> Parse<&'a [u8]> {
        self.need(n)?;
        let b = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(b)
    }
    fn u16(&mut self) -> Parse<u16> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Parse<u32> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn tag(&mut self) -> Parse<u32> {
        let g = self.u16()?;
        let e = self.u16()?;
        Ok((u32::from(g) << 16) | u32::from(e))
    }
    fn corrupt(&self, detail: String) -> Stop {
        Stop::Failed(Error::corrupt(
            self.name,
            format!("DICOM header at byte {}: {detail}", self.pos),
        ))
    }
}

/// One element header: tag, VR and length (`UNDEFINED` for undefined length).
fn element(c: &mut Cursor<'_>) -> Parse<(u32, [u8; 2], u32)> {
    let tag = c.tag()?;
    if tag >> 16 == 0xFFFE {
        let len = c.u32()?;
        return Ok((tag, [0, 0], len));
    }
    let vr = c.bytes(2)?;
    let vr = [vr[0], vr[1]];
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return Err(c.corrupt(format!(
            "element ({:04X},{:04X}) has no valid VR (is the data set implicit VR?)",
            tag >> 16,
            tag & 0xFFFF
        )));
    }
    let len = if long_form(vr) {
        c.bytes(2)?;
        c.u32()?
    } else {
        u32::from(c.u16()?)
    };
    Ok((tag, vr, len))
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v)
        .trim_matches(|c: char| c == ' ' || c == '\0')
        .to_string()
}

fn uint(vr: [u8; 2], v: &[u8]) -> Option<u64> {
    match &vr {
        b"US" if v.len() >= 2 => Some(u64::from(u16::from_le_bytes([v[0], v[1]]))),
        b"UL" if v.len() >= 4 => Some(u64::from(u32::from_le_bytes([v[0], v[1], v[2], v[3]]))),
        b"IS" => text(v).split('\\').next()?.trim().parse().ok(),
        _ => None,
    }
}

fn sint(vr: [u8; 2], v: &[u8]) -> Option<i64> {
    match &vr {
        b"SL" if v.len() >= 4 => Some(i64::from(i32::from_le_bytes([v[0], v[1], v[2], v[3]]))),
        b"UL" | b"US" | b"IS" => uint(vr, v).map(|u| u as i64),
        _ => None,
    }
}

fn decimals(v: &[u8]) -> Vec<f64> {
    text(v)
        .split('\\')
        .filter_map(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite())
        .collect()
}

fn hash(v: &[u8]) -> u64 {
    // FNV-1a: optical path identifiers only need telling apart.
    text(v).bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn u64s(v: &[u8]) -> Vec<u64> {
    v.chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect()
}

/// Where an element sits: the sequences it is nested in (outermost first).
struct Ctx<'h> {
    header: &'h mut Header,
    path: Vec<u32>,
    /// The per-frame item being read, if inside the Per-Frame Functional Groups.
    frame: Option<usize>,
}

impl Ctx<'_> {
    fn value(&mut self, tag: u32, vr: [u8; 2], v: &[u8]) -> Parse<()> {
        let h = &mut *self.header;
        match (self.path.as_slice(), tag) {
            ([], 0x0008_0016) => h.sop_class = text(v),
            ([], 0x0008_0018) => h.sop_instance = text(v),
            ([], 0x0008_0008) => h.image_type = text(v).split('\\').map(text_of).collect(),
            ([], 0x0008_0070) => h.manufacturer = text(v),
            ([], 0x0020_000D) => h.study = text(v),
            ([], 0x0020_000E) => h.series = text(v),
            ([], 0x0020_9311) => h.dimension_organization = text(v),
            ([], 0x0028_0002) => h.samples = uint(vr, v).unwrap_or(0).min(0xFFFF) as u16,
            ([], 0x0028_0004) => h.photometric = text(v),
            ([], 0x0028_0006) => h.planar = uint(vr, v).unwrap_or(0).min(0xFFFF) as u16,
            ([], 0x0028_0008) => {
                let n = uint(b"IS".to_owned(), v).unwrap_or(0);
                h.frames = n.min(u64::from(u32::MAX)) as u32;
            }
            ([], 0x0028_0010) => h.rows = uint(vr, v).unwrap_or(0) as u32,
            ([], 0x0028_0011) => h.columns = uint(vr, v).unwrap_or(0) as u32,
            ([], 0x0028_0100) => h.bits_allocated = uint(vr, v).unwrap_or(0).min(0xFFFF) as u16,
            ([], 0x0028_0101) => h.bits_stored = uint(vr, v).unwrap_or(0).min(0xFFFF) as u16,
            ([], 0x0048_0006) => {
                h.total_columns = uint(vr, v).unwrap_or(0).min(u64::from(u32::MAX)) as u32
            }
            ([], 0x0048_0007) => {
                h.total_rows = uint(vr, v).unwrap_or(0).min(u64::from(u32::MAX)) as u32
            }
            ([], 0x0048_0303) => {
                h.focal_planes = uint(vr, v).unwrap_or(1).min(u64::from(u32::MAX)) as u32
            }
            ([], 0x7FE0_0001) => {
                let lens = h.extended_offsets.take().map(|e| e.1).unwrap_or_default();
                h.extended_offsets = Some((u64s(v), lens));
            }
            ([], 0x7FE0_0002) => {
                let offs = h.extended_offsets.take().map(|e| e.0).unwrap_or_default();
                h.extended_offsets = Some((offs, u64s(v)));
            }
            ([SHARED_GROUPS, PIXEL_MEASURES], 0x0028_0030) => {
                if let [r, c, ..] = decimals(v)[..] {
                    h.pixel_spacing = Some((r, c));
                }
            }
            ([OPTICAL_PATHS], 0x0048_0112) if h.objective_power.is_none() => {
                h.objective_power = decimals(v).first().copied();
            }
            ([PER_FRAME_GROUPS, PLANE_POSITION_SLIDE], t) => {
                if let Some(p) = self.frame.and_then(|i| h.positions.get_mut(i)) {
                    match t {
                        0x0048_021E => p.column = sint(vr, v).unwrap_or(0),
                        0x0048_021F => p.row = sint(vr, v).unwrap_or(0),
                        0x0040_074A => p.z = decimals(v).first().copied(),
                        _ => {}
                    }
                }
            }
            ([PER_FRAME_GROUPS, OPTICAL_PATH_ID_SEQ], 0x0048_0106) => {
                if let Some(p) = self.frame.and_then(|i| h.positions.get_mut(i)) {
                    p.path = Some(hash(v));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn text_of(s: &str) -> String {
    s.trim().to_string()
}

/// Parse the items of a sequence whose value starts at `c.pos` (`len` bytes, or up to its
/// delimiter).
fn sequence(c: &mut Cursor<'_>, ctx: &mut Ctx<'_>, tag: u32, len: u32) -> Parse<()> {
    if ctx.path.len() >= MAX_DEPTH {
        return Err(c.corrupt(format!("sequences nested deeper than {MAX_DEPTH}")));
    }
    let end = (len != UNDEFINED).then(|| c.pos.saturating_add(len as usize));
    ctx.path.push(tag);
    let top_per_frame = ctx.path == [PER_FRAME_GROUPS];
    let mut index = 0usize;
    loop {
        if end.is_some_and(|e| c.pos >= e) {
            break;
        }
        let (t, _, ilen) = element(c)?;
        match t {
            SEQ_END if end.is_none() => break,
            ITEM => {
                if top_per_frame {
                    if index >= ctx.header.positions.len() {
                        if index >= MAX_FRAMES as usize {
                            return Err(c.corrupt("more per-frame items than frames".into()));
                        }
                        ctx.header.positions.push(FramePosition::default());
                    }
                    ctx.frame = Some(index);
                }
                if ctx.path == [OPTICAL_PATHS] {
                    ctx.header.optical_paths = ctx.header.optical_paths.saturating_add(1);
                }
                dataset(c, ctx, (ilen != UNDEFINED).then_some(ilen))?;
                index += 1;
            }
            _ => {
                return Err(c.corrupt(format!(
                    "expected a sequence item, found ({:04X},{:04X})",
                    t >> 16,
                    t & 0xFFFF
                )));
            }
        }
    }
    if end.is_some_and(|e| c.pos != e) {
        return Err(c.corrupt("sequence items overrun the sequence length".into()));
    }
    if top_per_frame {
        ctx.frame = None;
    }
    ctx.path.pop();
    Ok(())
}

/// Parse elements until `len` bytes are consumed, an item delimiter (nested, undefined
/// length), or the Pixel Data element (top level).
fn dataset(c: &mut Cursor<'_>, ctx: &mut Ctx<'_>, len: Option<u32>) -> Parse<()> {
    let nested = !ctx.path.is_empty();
    let end = len.map(|l| c.pos.saturating_add(l as usize));
    loop {
        if end.is_some_and(|e| c.pos >= e) {
            if end.is_some_and(|e| c.pos > e) {
                return Err(c.corrupt("an element overruns its item".into()));
            }
            return Ok(());
        }
        let start = c.pos;
        let (tag, vr, vlen) = element(c)?;
        if tag == ITEM_END && nested {
            return Ok(());
        }
        if tag == PIXEL_DATA && !nested {
            ctx.header.pixel_data =
                Some((c.pos as u64, (vlen != UNDEFINED).then_some(u64::from(vlen))));
            return Ok(());
        }
        if tag < 0x0008_0000 && !nested {
            return Err(c.corrupt("File Meta elements after the data set started".into()));
        }
        if vr == SQ || (vlen == UNDEFINED && vr == *b"UN") {
            if vr != SQ {
                return Err(Stop::Failed(Error::unsupported(format!(
                    "{}: element ({:04X},{:04X}) of VR UN with undefined length",
                    c.name,
                    tag >> 16,
                    tag & 0xFFFF
                ))));
            }
            sequence(c, ctx, tag, vlen)?;
            continue;
        }
        if vlen == UNDEFINED {
            c.pos = start;
            return Err(c.corrupt(format!(
                "element ({:04X},{:04X}) has undefined length",
                tag >> 16,
                tag & 0xFFFF
            )));
        }
        if tag == 0x0028_2000 && ctx.path == [OPTICAL_PATHS] && ctx.header.icc_size.is_none() {
            ctx.header.icc_size = Some(u64::from(vlen));
        }
        let keep = matches!(tag, 0x7FE0_0001 | 0x7FE0_0002)
            || (vlen <= 4096 && matches!(tag >> 16, 0x0008 | 0x0020 | 0x0028 | 0x0040 | 0x0048));
        if keep {
            if matches!(tag, 0x7FE0_0001 | 0x7FE0_0002)
                && u64::from(vlen) > 8 * u64::from(MAX_FRAMES)
            {
                return Err(c.corrupt("extended offset table larger than the frame limit".into()));
            }
            let v = c.bytes(vlen as usize)?;
            ctx.value(tag, vr, v)?;
        } else {
            // Skipped without reading: only its end must lie within the prefix eventually.
            c.pos = c.pos.saturating_add(vlen as usize);
            c.need(0)?;
        }
    }
}

/// Parse the header of one DICOM file from its first bytes `buf`.
///
/// [`Stop::Need`] when `buf` ends too early (read more and call again); [`Stop::Failed`] with
/// an error naming `name` for damaged or unsupported files. The pixel data itself is not
/// parsed here (see [`encapsulated_frames`] and [`super::read_instance`]).
pub fn parse_header(buf: &[u8], name: &str) -> Parse<Header> {
    let mut c = Cursor { buf, pos: 0, name };
    c.need(132)?;
    if &buf[128..132] != b"DICM" {
        return Err(Stop::Failed(Error::unsupported(format!(
            "{name}: not a DICOM file (no DICM after the 128-byte preamble)"
        ))));
    }
    c.pos = 132;
    let mut header = Header {
        frames: 1,
        focal_planes: 1,
        ..Header::default()
    };
    // File Meta group: always explicit VR little endian.
    let mut meta_end = None;
    loop {
        c.need(8)?;
        let group = u16::from_le_bytes([buf[c.pos], buf[c.pos + 1]]);
        if group != 0x0002 || meta_end.is_some_and(|e| c.pos >= e) {
            break;
        }
        let (tag, _, len) = element(&mut c)?;
        if len == UNDEFINED {
            return Err(c.corrupt("File Meta element of undefined length".into()));
        }
        let v = c.bytes(len as usize)?;
        match tag {
            0x0002_0000 if v.len() >= 4 => {
                meta_end = Some(c.pos + u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize);
            }
            0x0002_0010 => header.transfer_syntax = text(v),
            _ => {}
        }
    }
    if header.transfer_syntax.is_empty() {
        return Err(c.corrupt("no Transfer Syntax UID (0002,0010) in the File Meta group".into()));
    }
    check_transfer_syntax(&header.transfer_syntax, name)?;
    let mut ctx = Ctx {
        header: &mut header,
        path: Vec::new(),
        frame: None,
    };
    dataset(&mut c, &mut ctx, None)?;
    if header.pixel_data.is_none() {
        return Err(c.corrupt("no Pixel Data (7FE0,0010)".into()));
    }
    Ok(header)
}

/// How a transfer syntax stores frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Native pixels, explicit VR little endian.
    Native,
    /// JPEG baseline (8-bit): frames are complete JPEG streams, passed through.
    JpegBaseline,
    /// JPEG extended (decoded, not passed through).
    JpegExtended,
    /// JPEG 2000 (lossless, lossy or High-Throughput).
    Jpeg2000,
}

/// The encoding of a supported transfer syntax, or [`Error::Unsupported`] naming it.
pub fn check_transfer_syntax(uid: &str, name: &str) -> Result<Encoding> {
    Ok(match uid {
        "1.2.840.10008.1.2.1" => Encoding::Native,
        "1.2.840.10008.1.2.4.50" => Encoding::JpegBaseline,
        "1.2.840.10008.1.2.4.51" => Encoding::JpegExtended,
        "1.2.840.10008.1.2.4.90"
        | "1.2.840.10008.1.2.4.91"
        | "1.2.840.10008.1.2.4.201"
        | "1.2.840.10008.1.2.4.202"
        | "1.2.840.10008.1.2.4.203" => Encoding::Jpeg2000,
        other => {
            let what = match other {
                "1.2.840.10008.1.2" => "implicit VR little endian",
                "1.2.840.10008.1.2.2" => "explicit VR big endian",
                "1.2.840.10008.1.2.1.99" => "deflated explicit VR little endian",
                "1.2.840.10008.1.2.5" => "RLE lossless",
                "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "JPEG lossless",
                "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "JPEG-LS",
                _ => "an unknown transfer syntax",
            };
            return Err(Error::unsupported(format!(
                "{name}: DICOM transfer syntax {other} ({what}); supported: explicit VR little \
                 endian, JPEG baseline/extended, JPEG 2000 and HTJ2K"
            )));
        }
    })
}

/// The byte ranges (file offsets) of each frame's data from an encapsulated pixel data value
/// starting at `start` whose first bytes (item header and Basic Offset Table) are in `buf`
/// (which starts at file offset 0). `file_size` bounds every range.
///
/// Frames are located by the Extended Offset Table when present, else by the Basic Offset
/// Table (each frame then runs to the next frame's item; the first frame's item is checked to
/// be one fragment), else `None`: the caller must walk the fragment items.
pub fn encapsulated_frames(
    header: &Header,
    buf: &[u8],
    start: u64,
    file_size: u64,
    name: &str,
) -> Parse<Option<Vec<Range<u64>>>> {
    let mut c = Cursor {
        buf,
        pos: usize::try_from(start).map_err(|_| Stop::Need(start))?,
        name,
    };
    let (tag, _, bot_len) = element(&mut c)?;
    if tag != ITEM || bot_len == UNDEFINED || bot_len % 4 != 0 {
        return Err(c.corrupt("pixel data does not start with a Basic Offset Table item".into()));
    }
    let n = header.frames as usize;
    let corrupt = |d: String| Stop::Failed(Error::corrupt(name, d));
    if bot_len != 0 && bot_len as usize != 4 * n {
        return Err(corrupt(format!(
            "Basic Offset Table has {} entries for {n} frames",
            bot_len / 4
        )));
    }
    let bot = c.bytes(bot_len as usize)?;
    let base = c.pos as u64;
    // Without a sequence delimiter at the end, the last frame's end is unknown.
    let data_end = file_size.saturating_sub(8);
    let mut ranges = Vec::with_capacity(n.min(1 << 20));
    let check = |r: Range<u64>, i: usize| -> Parse<Range<u64>> {
        if r.start > r.end || r.end > file_size {
            return Err(corrupt(format!(
                "frame {} is stored at bytes {}..{}, past the end of the file ({file_size} bytes)",
                i + 1,
                r.start,
                r.end
            )));
        }
        Ok(r)
    };
    if let Some((offs, lens)) = &header.extended_offsets {
        if offs.len() != n || lens.len() != n {
            return Err(corrupt(format!(
                "Extended Offset Table has {} offsets and {} lengths for {n} frames",
                offs.len(),
                lens.len()
            )));
        }
        // The standard's lengths count the frame's bytes; wsidicom's include the 8-byte item
        // header (each length is then the distance to the next offset).
        let with_header =
            n > 1 && (0..n - 1).all(|i| offs[i + 1].checked_sub(offs[i]) == Some(lens[i]));
        for (i, (&o, &l)) in offs.iter().zip(lens).enumerate() {
            let s = base.saturating_add(o).saturating_add(8);
            let mut l = if with_header { l.saturating_sub(8) } else { l };
            if n == 1 && s.saturating_add(l) > data_end && l >= 8 {
                l -= 8; // a lone frame running into the sequence delimiter
            }
            ranges.push(check(s..s.saturating_add(l), i)?);
        }
        return Ok(Some(ranges));
    }
    if bot_len == 0 {
        return Ok(None);
    }
    let offs: Vec<u64> = bot
        .chunks_exact(4)
        .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .collect();
    for i in 0..n {
        let s = base + offs[i] + 8;
        let e = if i + 1 < n {
            base + offs[i + 1]
        } else {
            data_end
        };
        if i + 1 < n && offs[i + 1] < offs[i] + 8 {
            return Err(corrupt(format!(
                "Basic Offset Table entries {} and {} are out of order",
                i + 1,
                i + 2
            )));
        }
        ranges.push(check(s..e, i)?);
    }
    // The first frame must be one fragment, or the ranges would include item headers.
    c.need(8)?;
    let (t, _, flen) = element(&mut c)?;
    if t != ITEM {
        return Err(c.corrupt("expected the first fragment item".into()));
    }
    if n > 1 && u64::from(flen) + 8 != offs[1] - offs[0] {
        return Err(Stop::Failed(Error::unsupported(format!(
            "{name}: frames of several fragments each are not read"
        ))));
    }
    if n == 1 {
        ranges[0] = check(base + 8..base + 8 + u64::from(flen), 0)?;
    }
    Ok(Some(ranges))
}

/// The item header at the start of `b` (8 bytes): its length, if it is a fragment item.
pub fn fragment_length(b: &[u8]) -> Option<u32> {
    if b.len() < 8 {
        return None;
    }
    let tag = (u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
        | u32::from(u16::from_le_bytes([b[2], b[3]]));
    let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    (tag == ITEM && len != UNDEFINED).then_some(len)
}
