//! Range-based TIFF and BigTIFF directory (IFD) parsing.
//!
//! [`read_directories`] walks the IFD chain (and SubIFDs, for OME-TIFF pyramids) through a
//! [`Source`](crate::source::Source), fetching only the bytes it needs: the header chunk, the
//! entry tables, and the out-of-line tag values, which are collected and fetched in one coalesced
//! batch. Every size read from the file is capped, IFD loops are detected, and offsets past the
//! end of the file are errors naming the file.

pub mod ome;
mod parse;

pub use parse::{Limits, read_directories};

use bytes::Bytes;

/// TIFF compression codes this crate knows by name.
pub mod compression {
    /// No compression.
    pub const NONE: u16 = 1;
    /// LZW.
    pub const LZW: u16 = 5;
    /// Old-style JPEG (not supported).
    pub const OJPEG: u16 = 6;
    /// JPEG ("new-style", with JPEGTables).
    pub const JPEG: u16 = 7;
    /// Adobe Deflate.
    pub const ADOBE_DEFLATE: u16 = 8;
    /// Deflate (old code).
    pub const DEFLATE: u16 = 32946;
    /// Aperio JPEG 2000, YCbCr.
    pub const APERIO_J2K_YCBCR: u16 = 33003;
    /// Aperio JPEG 2000, RGB.
    pub const APERIO_J2K_RGB: u16 = 33005;
    /// JPEG 2000 (tifffile/imagecodecs).
    pub const JPEG2000: u16 = 34712;
}

/// TIFF photometric interpretations used here.
pub mod photometric {
    /// 0 is black.
    pub const MIN_IS_BLACK: u16 = 1;
    /// RGB.
    pub const RGB: u16 = 2;
    /// YCbCr.
    pub const YCBCR: u16 = 6;
}

/// The name of a compression code, as OpenSlide and libtiff print it.
pub fn compression_name(code: u16) -> &'static str {
    match code {
        compression::NONE => "none",
        compression::LZW => "LZW",
        compression::OJPEG => "old JPEG",
        compression::JPEG => "JPEG",
        compression::ADOBE_DEFLATE | compression::DEFLATE => "Deflate",
        compression::APERIO_J2K_YCBCR => "JPEG 2000 (Aperio YCbCr)",
        compression::APERIO_J2K_RGB => "JPEG 2000 (Aperio RGB)",
        compression::JPEG2000 => "JPEG 2000",
        _ => "unknown",
    }
}

/// One image file directory, with the tags this crate uses decoded.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// File offset of the IFD.
    pub offset: u64,
    /// Index in the main IFD chain; SubIFDs carry their parent's index.
    pub index: usize,
    /// True for an IFD reached through a parent's SubIFDs tag.
    pub is_subifd: bool,
    /// ImageWidth.
    pub width: u32,
    /// ImageLength.
    pub height: u32,
    /// TileWidth and TileLength, for tiled images.
    pub tile_size: Option<(u32, u32)>,
    /// RowsPerStrip (defaults to the image height).
    pub rows_per_strip: u32,
    /// Compression.
    pub compression: u16,
    /// PhotometricInterpretation.
    pub photometric: u16,
    /// SamplesPerPixel.
    pub samples_per_pixel: u16,
    /// BitsPerSample (first sample).
    pub bits_per_sample: u16,
    /// PlanarConfiguration (1 = chunky).
    pub planar_config: u16,
    /// Predictor (1 = none, 2 = horizontal differencing).
    pub predictor: u16,
    /// SampleFormat (1 = unsigned integer).
    pub sample_format: u16,
    /// NewSubfileType.
    pub subfile_type: u32,
    /// YCbCrSubsampling.
    pub ycbcr_subsampling: (u16, u16),
    /// ImageDescription.
    pub description: Option<String>,
    /// PageName (what a multi-page writer calls the page; the frame's name in a stack).
    pub page_name: Option<String>,
    /// The other ASCII tags OpenSlide reports as `tiff.*` properties, by tag.
    pub strings: Vec<(u16, String)>,
    /// XResolution, YResolution, XPosition, YPosition as libtiff reports them (float).
    pub rationals: Vec<(u16, f64)>,
    /// ResolutionUnit, if present.
    pub resolution_unit: Option<u16>,
    /// Length of the ICC profile, if present.
    pub icc_size: Option<u64>,
    /// JPEGTables (an abbreviated JPEG stream: SOI, tables, EOI).
    pub jpeg_tables: Option<Bytes>,
    /// TileOffsets or StripOffsets.
    pub offsets: Vec<u64>,
    /// TileByteCounts or StripByteCounts.
    pub byte_counts: Vec<u64>,
    /// SubIFD offsets.
    pub subifds: Vec<u64>,
    /// The file's byte order is big-endian (`MM`): how samples wider than 8 bits are stored.
    pub big_endian: bool,
}

impl Directory {
    /// True if the image is tiled.
    pub fn is_tiled(&self) -> bool {
        self.tile_size.is_some()
    }

    /// The `tiff.*` property name of an ASCII or rational tag OpenSlide reports.
    pub fn property_name(tag: u16) -> Option<&'static str> {
        Some(match tag {
            tag::IMAGE_DESCRIPTION => "tiff.ImageDescription",
            tag::MAKE => "tiff.Make",
            tag::MODEL => "tiff.Model",
            tag::SOFTWARE => "tiff.Software",
            tag::DATE_TIME => "tiff.DateTime",
            tag::ARTIST => "tiff.Artist",
            tag::HOST_COMPUTER => "tiff.HostComputer",
            tag::COPYRIGHT => "tiff.Copyright",
            tag::DOCUMENT_NAME => "tiff.DocumentName",
            tag::X_RESOLUTION => "tiff.XResolution",
            tag::Y_RESOLUTION => "tiff.YResolution",
            tag::X_POSITION => "tiff.XPosition",
            tag::Y_POSITION => "tiff.YPosition",
            _ => return None,
        })
    }
}

/// TIFF tag numbers.
pub mod tag {
    #![allow(missing_docs)]
    pub const NEW_SUBFILE_TYPE: u16 = 254;
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const BITS_PER_SAMPLE: u16 = 258;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const DOCUMENT_NAME: u16 = 269;
    pub const IMAGE_DESCRIPTION: u16 = 270;
    pub const MAKE: u16 = 271;
    pub const MODEL: u16 = 272;
    pub const STRIP_OFFSETS: u16 = 273;
    pub const SAMPLES_PER_PIXEL: u16 = 277;
    pub const ROWS_PER_STRIP: u16 = 278;
    pub const STRIP_BYTE_COUNTS: u16 = 279;
    pub const X_RESOLUTION: u16 = 282;
    pub const Y_RESOLUTION: u16 = 283;
    pub const PLANAR_CONFIG: u16 = 284;
    pub const PAGE_NAME: u16 = 285;
    pub const X_POSITION: u16 = 286;
    pub const Y_POSITION: u16 = 287;
    pub const RESOLUTION_UNIT: u16 = 296;
    pub const SOFTWARE: u16 = 305;
    pub const DATE_TIME: u16 = 306;
    pub const ARTIST: u16 = 315;
    pub const HOST_COMPUTER: u16 = 316;
    pub const PREDICTOR: u16 = 317;
    pub const TILE_WIDTH: u16 = 322;
    pub const TILE_LENGTH: u16 = 323;
    pub const TILE_OFFSETS: u16 = 324;
    pub const TILE_BYTE_COUNTS: u16 = 325;
    pub const SUB_IFDS: u16 = 330;
    pub const SAMPLE_FORMAT: u16 = 339;
    pub const JPEG_TABLES: u16 = 347;
    pub const YCBCR_SUBSAMPLING: u16 = 530;
    pub const COPYRIGHT: u16 = 33432;
    pub const ICC_PROFILE: u16 = 34675;
}
