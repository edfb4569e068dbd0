#!/usr/bin/env bash
# Load benchmark of `exact serve` on PostgreSQL (issue 15; release builds, by hand, not part of
# scripts/test), each figure beside its baseline from the same run:
#  1. bulk insert through the API (bulk POSTs of 10,000) into PostgreSQL, beside sled;
#  2. viewports of ~N/1,000 annotations (3,162 px square) and empty viewports, wrk 1 connection, p50/p99, on
#     PostgreSQL beside sled — and, given BASE_BIN (an older build), that build serving the
#     same PostgreSQL database;
#  3. API throughput with 1, 2 and 3 servers on the same database (one wrk per server, 4
#     connections each, summed). On a 2-core machine this measures the overhead of sharing
#     one database, not scaling: every server and PostgreSQL compete for the same cores;
#  4. `exact migrate --from sled://… --to postgres://…` of the sled store seeded in 1, timed
#     (and with BASE_BIN too).
# Usage: tests/http/bench_postgres.sh NEW_BIN [BASE_BIN]   (N = BENCH_N, default 1,000,000;
# BENCH_SECONDS per wrk run, default 15). Needs wrk, python3, PostgreSQL (scripts/postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
new_bin="$(realpath "${1:?NEW_BIN: the exact binary to measure}")"
base_bin="${2:+$(realpath "$2")}"
n="${BENCH_N:-1000000}"
secs="${BENCH_SECONDS:-15}"
work="$(mktemp -d)"
pg="$(mktemp -d)"  # its own: scripts/postgres hands it to the postgres user
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
# start BIN META: sets `srv` to the server's base URL and appends its pid to `servers` (not
# in a command substitution: that would be a subshell, and the pid would be lost)
start() {
    local bin="$1" meta="$2" port data
    port="$(free_port)"
    data="$(mktemp -d -p "$work")"
    EXACT_ADMIN_PASSWORD=bench-secret "$bin" serve --data "$data" --meta "$meta" \
        --bind "127.0.0.1:$port" >>"$data/serve.log" 2>&1 &
    servers+=($!)
    for _ in $(seq 300); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { srv="http://127.0.0.1:$port"; return; }
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
sled_data="$(mktemp -d -p "$work")"
echo "== exact serve on PostgreSQL beside sled: $n annotations (PostgreSQL $("$psql_bin" --version | awk '{print $3}'), $(nproc) cores)"
declare -A rate img1 img3 lat
for store in sled postgres; do
    if [ "$store" = sled ]; then m="sled://$sled_data/db"; else m="$meta"; fi
    start "$new_bin" "$m"; base="$srv"
    t0=$(date +%s.%N)
    read -r i1 _i2 i3 _kind < <(python3 tests/http/bench_seed.py "$base" exact bench-secret "$n" 1000 2>/dev/null)
    t1=$(date +%s.%N)
    rate[$store]=$(python3 -c "print(f'{$n / ($t1 - $t0):,.0f}')")
    img1[$store]=$i1; img3[$store]=$i3
    read -r p50 p99 < <(wrk_latency "$base" "$i1")
    read -r e50 e99 < <(wrk_latency "$base" "$i3")
    lat[$store]="$p50 $p99 $e50 $e99"
    stop_all
done
echo "1. bulk insert through the API (bulk POSTs of 10,000): postgres ${rate[postgres]}/s, sled ${rate[sled]}/s"
echo "2. viewports 3,162 px square (~$((n / 1000)) annotations each at this N), wrk 1 connection ${secs} s each (ms): p50 p99 | empty: p50 p99"
for store in postgres sled; do echo "   $store: ${lat[$store]}"; done
if [ -n "$base_bin" ]; then
    start "$base_bin" "$meta"; base="$srv"
    read -r b50 b99 < <(wrk_latency "$base" "${img1[postgres]}")
    read -r f50 f99 < <(wrk_latency "$base" "${img3[postgres]}")
    echo "   postgres, baseline build: $b50 $b99 $f50 $f99"
    stop_all
fi

echo "3. API throughput, the same viewports, 4 connections per server (2 cores: overhead, not scaling)"
for k in 1 2 3; do
    bases=()
    for _ in $(seq "$k"); do start "$new_bin" "$meta"; bases+=("$srv"); done
    i=0
    wrks=()
    for b in "${bases[@]}"; do
        BENCH_IMAGE="${img1[postgres]}" BENCH_SIDE=3162 BENCH_SIZE=100000 \
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

echo "4. exact migrate of the sled store ($n annotations and their world) → PostgreSQL"
for which in new base; do
    bin="$new_bin"; [ "$which" = base ] && bin="$base_bin"
    [ -n "$bin" ] || continue
    createdb "mig_$which"
    t0=$(date +%s.%N)
    "$bin" migrate --from "sled://$sled_data/db" --to "$(db_url "mig_$which")" >"$work/mig_$which.log" 2>&1 ||
        { echo "migrate failed: $(tail -3 "$work/mig_$which.log")"; continue; }
    t1=$(date +%s.%N)
    echo "   $which build: $(python3 -c "print(f'{$t1 - $t0:.1f}')") s ($(python3 -c "print(f'{$n / ($t1 - $t0):,.0f}')") annotations/s)"
done
