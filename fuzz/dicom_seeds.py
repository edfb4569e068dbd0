#!/usr/bin/env python3
"""Small DICOM WSI seeds for the dicom_open target (what follows the preamble and `DICM`, which
the target adds): explicit VR little endian, uncompressed 16x16 RGB frames, TILED_FULL with a
basic or extended offset table and a TILED_SPARSE one. Written without pydicom (not needed)."""
import struct
import sys
from pathlib import Path

WSI = b"1.2.840.10008.5.1.4.1.1.77.1.6"
LONG = {b"OB", b"OV", b"SQ", b"UN", b"OW"}


def el(tag, vr, v):
    if len(v) % 2:
        v += b"\0" if vr in (b"UI", b"OB") else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in LONG:
        return head + b"\0\0" + struct.pack("<I", len(v)) + v
    return head + struct.pack("<H", len(v)) + v


def item(body):
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body


def instance(table="basic", sparse=False, size=(40, 24), tile=16):
    cols, rows = -(-size[0] // tile), -(-size[1] // tile)
    frames = [bytes([(i * 40) % 256, 90, 200 - i * 10]) * (tile * tile) for i in range(cols * rows)]
    meta = el(0x00020001, b"OB", b"\0\1") + el(0x00020010, b"UI", b"1.2.840.10008.1.2.1")
    out = el(0x00020000, b"UL", struct.pack("<I", len(meta))) + meta
    out += el(0x00080008, b"CS", b"ORIGINAL\\PRIMARY\\VOLUME\\NONE")
    out += el(0x00080016, b"UI", WSI) + el(0x0020000D, b"UI", b"1.2.3") + el(0x0020000E, b"UI", b"1.2.3.4")
    if sparse:
        out += el(0x00209311, b"CS", b"TILED_SPARSE")
    out += el(0x00280002, b"US", struct.pack("<H", 3)) + el(0x00280004, b"CS", b"RGB")
    out += el(0x00280008, b"IS", str(len(frames)).encode())
    out += el(0x00280010, b"US", struct.pack("<H", tile)) + el(0x00280011, b"US", struct.pack("<H", tile))
    out += el(0x00280100, b"US", struct.pack("<H", 8))
    out += el(0x00480006, b"UL", struct.pack("<I", size[0])) + el(0x00480007, b"UL", struct.pack("<I", size[1]))
    if sparse:
        seq = b""
        for i in range(len(frames)):
            inner = el(0x0048021E, b"SL", struct.pack("<i", 1 + (i % cols) * tile))
            inner += el(0x0048021F, b"SL", struct.pack("<i", 1 + (i // cols) * tile))
            seq += item(el(0x0048021A, b"SQ", item(inner)))
        out += el(0x52009230, b"SQ", seq)
    if table == "none":
        return out + el(0x7FE00010, b"OB", b"".join(frames))
    offs, at = [], 0
    for f in frames:
        offs.append(at)
        at += 8 + len(f)
    if table == "extended":
        out += el(0x7FE00001, b"OV", b"".join(struct.pack("<Q", o) for o in offs))
        out += el(0x7FE00002, b"OV", b"".join(struct.pack("<Q", len(f)) for f in frames))
    out += struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF)
    out += item(b"".join(struct.pack("<I", o) for o in offs) if table == "basic" else b"")
    out += b"".join(item(f) for f in frames)
    return out + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


if __name__ == "__main__":
    d = Path(sys.argv[1])
    d.mkdir(parents=True, exist_ok=True)
    (d / "basic").write_bytes(instance("basic"))
    (d / "extended").write_bytes(instance("extended"))
    (d / "native").write_bytes(instance("none"))
    (d / "sparse").write_bytes(instance("basic", sparse=True))
