//! JPEG stream surgery for zero-copy tiles: TIFF JPEG tiles are abbreviated streams whose
//! Huffman and quantisation tables live in the directory's JPEGTables tag. A servable tile is
//! `SOI, [Adobe APP14], tables, tile-without-SOI`; the prefix is built once per level and the
//! tile's own bytes are never copied until the caller concatenates the two parts.

use bytes::{Bytes, BytesMut};

/// Adobe APP14 with transform 0: "the three components are RGB, not YCbCr". Without it decoders
/// (browsers, libjpeg) convert Aperio's RGB-coded tiles as YCbCr and show wrong colours.
pub const APP14_RGB: [u8; 16] = [
    0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Why a JPEG stream could not be spliced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpliceError(pub &'static str);

/// The bytes to put in front of every tile of a level: SOI, APP14 when `rgb`, and the body of
/// `tables` (JPEGTables without its SOI and EOI).
pub fn tile_prefix(tables: Option<&[u8]>, rgb: bool) -> Result<Bytes, SpliceError> {
    let mut out = BytesMut::with_capacity(2 + 16 + tables.map_or(0, <[u8]>::len));
    out.extend_from_slice(&[0xFF, 0xD8]);
    if rgb {
        out.extend_from_slice(&APP14_RGB);
    }
    if let Some(t) = tables {
        out.extend_from_slice(table_body(t)?);
    }
    Ok(out.freeze())
}

/// JPEGTables without SOI and EOI (an empty table stream is allowed).
pub fn table_body(tables: &[u8]) -> Result<&[u8], SpliceError> {
    if tables.len() < 4 || tables[..2] != [0xFF, 0xD8] {
        return Err(SpliceError("JPEGTables does not start with SOI"));
    }
    let end = if tables[tables.len() - 2..] == [0xFF, 0xD9] {
        tables.len() - 2
    } else {
        tables.len()
    };
    Ok(&tables[2..end])
}

/// The tile without its SOI, to follow a [`tile_prefix`]. Zero-copy.
pub fn tile_body(tile: &Bytes) -> Result<Bytes, SpliceError> {
    if tile.len() < 4 || tile[..2] != [0xFF, 0xD8] {
        return Err(SpliceError("tile does not start with a JPEG SOI marker"));
    }
    Ok(tile.slice(2..))
}

/// `prefix` followed by `tile` minus its SOI, in one buffer.
pub fn splice(prefix: &[u8], tile: &Bytes) -> Result<Bytes, SpliceError> {
    let body = tile_body(tile)?;
    let mut out = BytesMut::with_capacity(prefix.len() + body.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(&body);
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_puts_tables_and_app14_after_soi() {
        let tables = [0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0xFF, 0xD9];
        let tile = Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xC0, 0x01, 0xFF, 0xD9]);
        let prefix = tile_prefix(Some(&tables), true).unwrap();
        let out = splice(&prefix, &tile).unwrap();
        let mut want = vec![0xFF, 0xD8];
        want.extend_from_slice(&APP14_RGB);
        want.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x02]);
        want.extend_from_slice(&[0xFF, 0xC0, 0x01, 0xFF, 0xD9]);
        assert_eq!(&out[..], &want[..]);
        let plain = splice(&tile_prefix(None, false).unwrap(), &tile).unwrap();
        assert_eq!(&plain[..], &tile[..]);
    }

    #[test]
    fn bad_streams_are_errors_not_panics() {
        assert!(tile_prefix(Some(&[0xFF]), false).is_err());
        assert!(tile_prefix(Some(&[0, 0, 0, 0]), false).is_err());
        assert!(tile_body(&Bytes::from_static(&[0xFF, 0xD8])).is_err());
        assert!(tile_body(&Bytes::from_static(b"PNG....")).is_err());
    }
}
