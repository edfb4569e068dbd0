#!/usr/bin/env bash
# Peak memory (VmHWM) of `exact serve` while it answers 4 parallel low-zoom tile requests on
# three slides (by hand; not part of scripts/test):
#  - tiny16k.tif: issue 10 item 7's hostile file, here 1.2 KB declaring 16,384 x 16,384 RGB
#    pixels (32 Deflate strips of 512 rows, each a 26-byte stream that decodes to 4,096 zeros);
#  - sparse16k.tif: a plausible large single-level slide, 16,384 x 16,384 in Deflate strips of
#    256 rows (12 MiB decoded: under the 16 MiB a served strip may have), one band of content,
#    the rest sparse (empty strips);
#  - dense16k.tif: the same with content in every strip (805 MB of pixels).
# Each slide gets a fresh server, so the peak is that slide's. Usage:
#   tests/http/bench_hostile.sh [path/to/exact]   (default: this checkout's debug binary)
#   BENCH_SLIDES="tiny16k.tif dense16k.tif" picks the slides (default: all three).
# Compare two builds by passing each binary (e.g. one built from main, one from this branch).
set -euo pipefail
cd "$(dirname "$0")/../.."

bin="${1:-}"
if [ -z "$bin" ]; then
    cargo build -q -p exact-http --bin exact
    bin="${CARGO_TARGET_DIR:-target}/debug/exact"
fi
work="$(mktemp -d)"
server=""
stop() {
    if [ -n "$server" ]; then
        kill -TERM "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
trap 'stop; rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import struct, sys, zlib

def tiff(width, height, rows, blocks):
    """A one-IFD little-endian TIFF: RGB, 8 bits, Deflate strips of `rows` rows."""
    out = bytearray(b"II*\0\0\0\0\0")
    offsets, counts = [], []
    for b in blocks:
        offsets.append(len(out)); counts.append(len(b)); out += b
    if len(out) % 2:
        out += b"\0"
    entries = sorted([
        (256, 4, [width]), (257, 4, [height]), (258, 3, [8, 8, 8]), (259, 3, [8]),
        (262, 3, [2]), (273, 4, offsets), (277, 3, [3]), (278, 4, [rows]),
        (279, 4, counts), (284, 3, [1]),
    ])
    ifd = len(out)
    out[4:8] = struct.pack("<I", ifd)
    extra_at = ifd + 2 + 12 * len(entries) + 4
    table, extra = bytearray(), bytearray()
    for tag, typ, vals in entries:
        data = b"".join(struct.pack("<H" if typ == 3 else "<I", v) for v in vals)
        table += struct.pack("<HHI", tag, typ, len(vals))
        if len(data) <= 4:
            table += data.ljust(4, b"\0")
        else:
            table += struct.pack("<I", extra_at + len(extra)); extra += data
    out += struct.pack("<H", len(entries)) + table + b"\0\0\0\0" + extra
    return bytes(out)

work = sys.argv[1]
zeros = zlib.compress(bytes(4096))
open(f"{work}/tiny16k.tif", "wb").write(tiff(16384, 16384, 512, [zeros] * 32))
row = bytes((x * 7 + (x // 97) * 31) % 256 for x in range(16384 * 3))
band = zlib.compress(row * 256, 6)
blocks = [band if i == 5 else b"" for i in range(64)]
open(f"{work}/sparse16k.tif", "wb").write(tiff(16384, 16384, 256, blocks))
open(f"{work}/dense16k.tif", "wb").write(tiff(16384, 16384, 256, [band] * 64))
PY
ls -l "$work"/*.tif | awk '{print $5, $9}'

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
auth="Authorization: Basic $(printf 'exact:bench-secret' | base64)"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

for slide in ${BENCH_SLIDES:-tiny16k.tif sparse16k.tif dense16k.tif}; do
    rm -rf "$work/data"
    EXACT_ADMIN_PASSWORD=bench-secret "$bin" serve --data "$work/data" --bind "127.0.0.1:$port" \
        >>"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 600); do curl -fsS "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
    team="$(curl -fsS -H "$auth" -H 'Content-Type: application/json' -d '{"name":"bench","image_sets":[],"product_set":[]}' "$base/api/v1/users/teams/" | json '["id"]')"
    set="$(curl -fsS -H "$auth" -H 'Content-Type: application/json' -d "{\"name\":\"bench set\",\"team\":$team,\"images\":[],\"set_tags\":[]}" "$base/api/v1/images/image_sets/" | json '["id"]')"
    up="$(curl -sS -H "$auth" -F "files[]=@$work/$slide" "$base/images/image/upload/$set/")"
    id="$(printf '%s' "$up" | json '["files"][0]["id"]')"
    hwm0="$(awk '/VmHWM/ {print $2}' "/proc/$server/status")"
    echo "== $slide: upload -> $(printf '%s' "$up" | json '["files"][0].get("error", "accepted")')"
    if [ "$id" != "-1" ]; then
        t0="$(date +%s.%N)"
        for level in 0 1 2 3; do
            curl -sS -o /dev/null -w "level $level: %{http_code} %{time_total}s\n" -H "$auth" \
                "$base/images/image/$id/1/1/tile_files/$level/0_0.jpeg" &
        done
        wait $(jobs -p | grep -v "^$server$") 2>/dev/null || true
        echo "4 parallel low-zoom tiles in $(python3 -c "import time; print(round(time.time() - $t0, 2))") s"
    fi
    hwm="$(awk '/VmHWM/ {print $2}' "/proc/$server/status")"
    echo "peak RSS: $((hwm0 / 1024)) MiB before the tiles, $((hwm / 1024)) MiB after"
    stop
done
