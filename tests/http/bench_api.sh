#!/usr/bin/env bash
# Load benchmark of `exact serve` (release build, by hand; not part of scripts/test), with wrk:
#  1. viewport: random 3,162 px square viewports (~1,000 annotations each) on an image holding
#     1,000,000 annotations, 1 then 8 connections for 30 s each — target p99 <= 20 ms;
#  2. listing: 100,000 annotations of one image paged by 10,000 — target <= 1.5 s for all pages;
#  3. writers: 200 connections POSTing one annotation each for 60 s — target zero errors, and
#     after a restart every acknowledged (201) write is there.
# Sizes: BENCH_N1 (default 1,000,000), BENCH_N2 (100,000), BENCH_WRITE_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/../.."

n1="${BENCH_N1:-1000000}"
n2="${BENCH_N2:-100000}"
write_seconds="${BENCH_WRITE_SECONDS:-60}"
# EXACT_BIN: a binary to measure instead of this checkout's release build (e.g. the
# previous commit's, to put before and after side by side).
if [ -z "${EXACT_BIN:-}" ]; then
    cargo build --release -p exact-http --bin exact --quiet
fi
bin="${EXACT_BIN:-${CARGO_TARGET_DIR:-target}/release/exact}"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
start() {
    EXACT_ADMIN_PASSWORD=bench-secret "$bin" serve --data "$data" --bind "127.0.0.1:$port" >>"$data/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 300); do
        curl -fsS "$base/healthz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}
stop() {
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap 'stop; rm -rf "$data"' EXIT
start
export BENCH_AUTH="Basic $(printf 'exact:bench-secret' | base64)"
read -r image1 image2 image3 kind < <(python3 tests/http/bench_seed.py "$base" exact bench-secret "$n1" "$n2")

echo "== 1. viewport of ~1,000 annotations on an image with $n1 (wrk 30 s, 1 then 8 connections)"
count="$(curl -fsS -H "Authorization: $BENCH_AUTH" "$base/api/v1/annotations/annotations/?image=$image1&vector_x_min=50000&vector_x_max=53162&vector_y_min=50000&vector_y_max=53162&limit=1&fields=id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
echo "one sample viewport holds $count annotations"
for c in 1 8; do
    echo "-- $c connection(s)"
    BENCH_IMAGE="$image1" BENCH_SIDE=3162 BENCH_SIZE=100000 \
        wrk -t1 -c"$c" -d30s --latency -s tests/http/bench_viewport.lua "$base" | sed -n '/Latency Distribution/,/Requests\/sec/p'
done

echo "== 2. listing $n2 annotations paged by 10,000 (5 runs)"
python3 - "$base" "$image2" <<'PY'
import json, os, statistics, sys, time, urllib.request
base, image = sys.argv[1], sys.argv[2]
auth = os.environ["BENCH_AUTH"]
def get(url):
    req = urllib.request.Request(url, headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())
runs = []
for _ in range(5):
    t0 = time.time()
    url, seen = f"{base}/api/v1/annotations/annotations/?image={image}&limit=10000&offset=0", 0
    while url:
        page = get(url)
        seen += len(page["results"])
        url = page["next"]
    runs.append(time.time() - t0)
    assert seen == page["count"], (seen, page["count"])
print(f"{seen} annotations in {len(runs)} runs: median {statistics.median(runs):.3f} s, "
      f"min {min(runs):.3f} s, max {max(runs):.3f} s")
PY

if [ "$write_seconds" -eq 0 ]; then
    exit 0
fi
echo "== 3. 200 concurrent writers for ${write_seconds}s, then a restart"
out="$(BENCH_IMAGE="$image3" BENCH_TYPE="$kind" \
    wrk -t2 -c200 -d"${write_seconds}s" --latency -s tests/http/bench_writers.lua "$base")"
echo "$out" | sed -n '/Latency Distribution/,$p'
acked="$(echo "$out" | sed -n 's/^ACKED \([0-9]*\) .*/\1/p')"
stop
start
stored="$(curl -fsS -H "Authorization: $BENCH_AUTH" "$base/api/v1/annotations/annotations/?image=$image3&limit=1&fields=id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
echo "acknowledged $acked, present after restart $stored"
if [ "$stored" -lt "$acked" ]; then
    echo "LOST WRITES" >&2
    exit 1
fi
