#!/usr/bin/env bash
# Load benchmark of `exact serve` on PostgreSQL (issue 15; release builds, by hand, not part of
# scripts/test), each figure beside its baseline from the same run:
#  1. bulk insert through the API (bulk POSTs of 10,000) into PostgreSQL;
#  2. viewports of ~1,000 of N annotations and empty viewports, wrk 1 connection, p50/p99 —
#     with BASE_BIN (an older build) also serving the same database, as the baseline;
#  3. API throughput with 1, 2 and 3 servers on the same database (one wrk per server, 4
#     connections each, summed). On a 2-core machine this measures the overhead of sharing
#     one database, not scaling: every server and PostgreSQL compete for the same cores;
#  4. `exact migrate --from sled://… --to postgres://…` of the seeded store, timed (and with
#     BASE_BIN, as the baseline).
# Usage: tests/http/bench_postgres.sh NEW_BIN [BASE_BIN]   (N = BENCH_N, default 1,000,000;
# BENCH_SECONDS per wrk run, default 15). Needs wrk, python3, PostgreSQL (scripts/postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
new_bin="$(realpath "${1:?NEW_BIN: the exact binary to measure}")"
base_bin="${2:+$(realpath "$2")}"
n="${BENCH_N:-1000000}"
secs="${BENCH_SECONDS:-15}"
work="$(mktemp -d)"
pg="$work/pg"
url="$(scripts/postgres start "$pg")"
psql_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/psql"
servers=()
cleanup() {
    for p in "${servers[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    scripts/postgres stop "$pg" || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port="$(echo "$url" | sed -E 's|.*:([0-9]+)/.*|\1|')"
createdb() { "$psql_bin" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $1" >/dev/null; }
db_url() { echo "${url%/*}/$1"; }
# start BIN META -> the server's base URL on stdout (its pid appended to `servers`)
start() {
    local bin="$1" meta="$2" port data
    port="$(free_port)"
    data="$(mktemp -d -p "$work")"
    EXACT_ADMIN_PASSWORD=bench-secret "$bin" serve --data "$data" --meta "$meta" \
        --bind "127.0.0.1:$port" >>"$data/serve.log" 2>&1 &
    servers+=($!)
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { echo "http://127.0.0.1:$port"; return; }
        sleep 0.1
    done
    echo "server did not start: $(tail -5 "$data/serve.log")" >&2
    exit 1
}
stop_all() {
    for p in "${servers[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    servers=()
}
export BENCH_AUTH="Basic $(printf 'exact:bench-secret' | base64)"
# wrk_latency BASE IMAGE -> "p50 p99" in ms
wrk_latency() {
    BENCH_IMAGE="$2" BENCH_SIDE=3162 BENCH_SIZE=100000 \
        wrk -t1 -c1 -d"${secs}s" --latency -s tests/http/bench_viewport.lua "$1" >"$work/wrk.txt"
    python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(p):
    v, u = re.search(rf"^\s+{p}%\s+([\d.]+)(\w+)", t, re.M).groups()
    return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
print(f"{ms(50):.2f} {ms(99):.2f}")
PY
}
rps() { sed -n 's/^Requests\/sec: *//p' "$1"; }

createdb bench
meta="$(db_url bench)"
echo "== exact serve on PostgreSQL: $n annotations (PostgreSQL $("$psql_bin" --version | awk '{print $3}'), $(nproc) cores)"
base="$(start "$new_bin" "$meta")"
t0=$(date +%s.%N)
read -r image1 _image2 image3 _kind < <(python3 tests/http/bench_seed.py "$base" exact bench-secret "$n" 1000 2>"$work/seed.txt")
t1=$(date +%s.%N)
echo "1. bulk insert through the API: $(python3 -c "print(f'{$n / ($t1 - $t0):,.0f}')") annotations/s ($(head -1 "$work/seed.txt"))"

echo "2. viewports (wrk, 1 connection, ${secs} s each)      p50 ms  p99 ms"
read -r p50 p99 < <(wrk_latency "$base" "$image1")
read -r e50 e99 < <(wrk_latency "$base" "$image3")
echo "   ~1,000 of $n, this build:                  $p50  $p99"
echo "   empty viewport, this build:                  $e50  $e99"
stop_all
if [ -n "$base_bin" ]; then
    base="$(start "$base_bin" "$meta")"
    read -r b50 b99 < <(wrk_latency "$base" "$image1")
    read -r f50 f99 < <(wrk_latency "$base" "$image3")
    echo "   ~1,000 of $n, baseline build:              $b50  $b99   → p99 $(python3 -c "print(f'{$b99 / $p99:.1f}')")× lower now"
    echo "   empty viewport, baseline build:              $f50  $f99"
    stop_all
fi

echo "3. API throughput, viewports of ~1,000, 4 connections per server (2 cores: overhead, not scaling)"
for k in 1 2 3; do
    bases=()
    for _ in $(seq "$k"); do bases+=("$(start "$new_bin" "$meta")"); done
    i=0
    wrks=()
    for b in "${bases[@]}"; do
        BENCH_IMAGE="$image1" BENCH_SIDE=3162 BENCH_SIZE=100000 \
            wrk -t1 -c4 -d"${secs}s" --latency -s tests/http/bench_viewport.lua "$b" >"$work/wrk$i.txt" &
        wrks+=($!)
        i=$((i + 1))
    done
    wait "${wrks[@]}"
    total=0
    for j in $(seq 0 $((k - 1))); do total=$(python3 -c "print($total + $(rps "$work/wrk$j.txt"))"); done
    echo "   $k server(s): $(python3 -c "print(f'{$total:,.0f}')") requests/s in total"
    stop_all
done

echo "4. exact migrate of $n annotations, sled → PostgreSQL"
sled_data="$(mktemp -d -p "$work")"
port="$(free_port)"
EXACT_ADMIN_PASSWORD=bench-secret "$new_bin" serve --data "$sled_data" --bind "127.0.0.1:$port" >>"$work/sled.log" 2>&1 &
servers+=($!)
for _ in $(seq 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
python3 tests/http/bench_seed.py "http://127.0.0.1:$port" exact bench-secret "$n" 0 >/dev/null 2>&1
stop_all
for which in new base; do
    bin="$new_bin"; [ "$which" = base ] && bin="$base_bin"
    [ -n "$bin" ] || continue
    createdb "mig_$which"
    t0=$(date +%s.%N)
    "$bin" migrate --from "sled://$sled_data/db" --to "$(db_url "mig_$which")" >"$work/mig_$which.log" 2>&1
    t1=$(date +%s.%N)
    echo "   $which build: $(python3 -c "print(f'{$t1 - $t0:.1f}')") s ($(python3 -c "print(f'{$n / ($t1 - $t0):,.0f}')") annotations/s)"
done
