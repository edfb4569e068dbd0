#!/usr/bin/env bash
# Listing benchmark of `exact serve` (release build, by hand; not part of scripts/test), with wrk:
# one image holding BENCH_N annotations (default 100,000), then, in the same run, 1 connection
# for BENCH_SECONDS (default 10) each:
#  1. viewport: random 10,000 px square viewports (~1,000 annotations each) — the per-annotation
#     cost of the spatial path, the baseline;
#  2. listing: `?image=<id>&limit=1000` (the first 1,000 by id; EXACT: 2.2 s) — target p50 <= 10 ms;
#  3. listing `&offset=50000` (a page from the middle);
#  4. the same first 1,000 through a viewport covering the whole image: every annotation is
#     decoded before the page is cut, the cost the listing paid before it paged in the library.
set -euo pipefail
cd "$(dirname "$0")/../.."

n="${BENCH_N:-100000}"
seconds="${BENCH_SECONDS:-10}"
# EXACT_BIN: a binary to measure instead of this checkout's release build (e.g. the
# previous commit's, to put before and after side by side).
if [ -z "${EXACT_BIN:-}" ]; then
    cargo build --release -p exact-http --bin exact --quiet
fi
bin="${EXACT_BIN:-${CARGO_TARGET_DIR:-target}/release/exact}"
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
EXACT_ADMIN_PASSWORD=bench-secret "$bin" serve --data "$data" --bind "127.0.0.1:$port" >>"$data/serve.log" 2>&1 &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 300); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
export BENCH_AUTH="Basic $(printf 'exact:bench-secret' | base64)"
read -r image _ _ _ < <(python3 tests/http/bench_seed.py "$base" exact bench-secret "$n" 0)

p50() { sed -n 's/^ *50% *\(.*\)$/\1/p'; }
run() { # label, then wrk arguments
    local label="$1"
    shift
    local out
    out="$(wrk -t1 -c1 -d"${seconds}s" --latency -H "Authorization: $BENCH_AUTH" "$@")"
    printf '%-58s p50 %8s  p99 %8s  %s req/s\n' "$label" "$(echo "$out" | p50)" \
        "$(echo "$out" | sed -n 's/^ *99% *\(.*\)$/\1/p')" \
        "$(echo "$out" | sed -n 's/^Requests\/sec: *\(.*\)$/\1/p')"
}
list="$base/api/v1/annotations/annotations/?image=$image&limit=1000"
bytes="$(curl -fsS -H "Authorization: $BENCH_AUTH" "$list" | wc -c)"
count="$(curl -fsS -H "Authorization: $BENCH_AUTH" "$list" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], len(d["results"]))')"
echo "image $image holds $n annotations; ?limit=1000 answers count/results $count, $bytes bytes"
echo "== 1 connection, ${seconds} s each"
BENCH_IMAGE="$image" BENCH_SIDE=10000 BENCH_SIZE=100000 \
    run "viewport ~1,000 of $n (baseline: spatial path)" -s tests/http/bench_viewport.lua "$base"
run "listing ?image=&limit=1000" "$list"
run "listing ?image=&limit=1000&offset=50000" "$list&offset=50000"
run "whole-image viewport, limit=1000 (decode all, then page)" \
    "$list&vector_x_min=0&vector_x_max=100000&vector_y_min=0&vector_y_max=100000"
# The maintained counts beside the paths they replace, in the same run: a creator filter
# (`user=`, the seeding admin, so the same rows) keeps the count on the walk over every
# record head, as every listing counted before the counts existed.
me="$(curl -fsS -H "Authorization: $BENCH_AUTH" "$base/api/v1/users/users/?username=exact" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])')"
run "listing &user=<creator> (count by walking every head: before)" "$list&user=$me"
run "counts/?image= (maintained counts)" "$base/api/v1/annotations/annotations/counts/?image=$image"
run "counts/?image=&user=<creator> (scan of every head: before)" \
    "$base/api/v1/annotations/annotations/counts/?image=$image&user=$me"
run "counts/ whole-slide viewport (the viewer's open)" \
    "$base/api/v1/annotations/annotations/counts/?image=$image&deleted=false&vector_x_min=-5000&vector_x_max=105000&vector_y_min=-5000&vector_y_max=105000"
run "counts/ whole-slide viewport &user=<creator> (before)" \
    "$base/api/v1/annotations/annotations/counts/?image=$image&deleted=false&vector_x_min=-5000&vector_x_max=105000&vector_y_min=-5000&vector_y_max=105000&user=$me"
# EXACT-Sync's paging: follow `next` (limit=1000) through the whole image, once each way.
python3 - "$list" "$BENCH_AUTH" "$me" <<'PY'
import json, sys, time, urllib.request
first, auth, me = sys.argv[1], sys.argv[2], sys.argv[3]
def walk(url):
    t0, pages, rows = time.perf_counter(), 0, 0
    while url:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth})) as r:
            d = json.load(r)
        pages, rows, url = pages + 1, rows + len(d["results"]), d["next"]
    return time.perf_counter() - t0, pages, rows
for label, url in [("follow next, limit=1000 (pages continue)", first),
                   ("follow next, &user=<creator> (every page re-walks: before)", first + "&user=" + me)]:
    s, pages, rows = walk(url)
    print(f"{label:<58} {s:7.2f} s for {pages} pages, {rows} rows ({1000 * s / pages:.1f} ms/page)")
PY
