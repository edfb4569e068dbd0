#!/usr/bin/env bash
# Robustness under hostile load (by hand; not part of scripts/test). For ROBUST_SECONDS
# (default 300) `exact serve` (release build) holds at once:
#   - 200 wrk connections reading tiles of a real slide (both Deep Zoom flavours, 3 in 4
#     requests) and writing annotations (1 in 4);
#   - 50 slow connections dribbling header bytes, one line every 2 s (the server must close them
#     at its header timeout);
#   - one client moving an annotation between grid cells while two read it;
# while its RSS and open file handles are sampled. Then kill -9, restart, and every acknowledged
# write must be there. Prints one line per part; exits non-zero on a 5xx or a lost write.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${ROBUST_SECONDS:-300}"
cargo build --release -p exact-http --bin exact --quiet
bin="${CARGO_TARGET_DIR:-target}/release/exact"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
start() {
    EXACT_ADMIN_PASSWORD=robust-secret "$bin" serve --data "$data" --bind "127.0.0.1:$port" >>"$data/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
        curl -fsS "$base/healthz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}
trap 'kill -KILL "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
ulimit -n 65536 2>/dev/null || true
start
export ROBUST_AUTH="Basic $(printf 'exact:robust-secret' | base64)"
read -r image kind width height < <(python3 tests/http/robustness.py seed "$base" exact robust-secret \
    tests/fixtures/data/CMU-1-Small-Region.svs "$data/tiles.txt")
echo "image $image (${width}x${height}), $(wc -l <"$data/tiles.txt") tile URLs, ${seconds}s of load"

python3 tests/http/robustness.py sample "$server" "$seconds" "$data/sample.txt" &
sampler=$!
python3 tests/http/robustness.py slow "$base" "$seconds" 50 "$data/slow.txt" &
slow=$!
python3 tests/http/robustness.py mover "$base" "$ROBUST_AUTH" "$image" "$kind" "$seconds" "$data/mover.txt" &
mover=$!
ROBUST_IMAGE="$image" ROBUST_TYPE="$kind" ROBUST_WIDTH="$width" ROBUST_HEIGHT="$height" \
ROBUST_TILES="$data/tiles.txt" \
    wrk -t2 -c200 -d"${seconds}s" --timeout 30s -s tests/http/robust_mixed.lua "$base" >"$data/wrk.txt"
wait "$mover" "$slow" "$sampler"
mixed="$(grep '^MIXED' "$data/wrk.txt")"
echo "$mixed"
grep 'Requests/sec' "$data/wrk.txt"
cat "$data/slow.txt" "$data/mover.txt" "$data/sample.txt"

acked="$(echo "$mixed" | sed -n 's/.*acked=\([0-9]*\).*/\1/p')"
kill -KILL "$server"
wait "$server" 2>/dev/null || true
start
# The mover's annotation is one more than the acknowledged POSTs.
stored="$(curl -fsS -H "Authorization: $ROBUST_AUTH" "$base/api/v1/annotations/annotations/?image=$image&limit=1&fields=id" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
echo "after kill -9 and restart: acknowledged $acked (+1 moved), present $stored"
fail=0
[ "$stored" -ge $((acked + 1)) ] || { echo "LOST WRITES" >&2; fail=1; }
echo "$mixed" | grep -q ' 5xx=0 ' || { echo "5xx under load" >&2; fail=1; }
grep -q '5xx=0' "$data/mover.txt" || { echo "5xx while moving" >&2; fail=1; }
if grep -q 'panicked' "$data/serve.log"; then echo "the server panicked" >&2; fail=1; fi
exit "$fail"
