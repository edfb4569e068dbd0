#!/usr/bin/env bash
# The UI performance benchmark of issue 12, run by hand (not in CI):
#   tests/ui/bench_ui.sh                # 1,000,000 annotations on a 100,000 x 100,000 slide
#   N=50000 SIZE=20000 PROFILE=debug tests/ui/bench_ui.sh   # a quick check of the harness
# Builds `exact` (release unless PROFILE=debug), installs the npm deps from the lockfile and
# pyvips in .venv-ui, makes the slide (cached in tests/fixtures/cache), starts `exact serve` on
# a data directory (DATA=dir keeps and reuses a seeded one), seeds it and runs bench_ui.mjs in
# headless chromium. Prints our figures beside EXACT's Paper.js baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
SIZE=${SIZE:-100000}
PROFILE=${PROFILE:-release}
PORT=${PORT:-8765}
PASSWORD=bench-$RANDOM-secret

step() { printf '\n== %s\n' "$*" >&2; }

step "build exact ($PROFILE)"
if [ "$PROFILE" = release ]; then cargo build -q --release -p exact-http --bin exact
else cargo build -q -p exact-http --bin exact; fi
BIN="${CARGO_TARGET_DIR:-$(pwd)/target}/$PROFILE/exact"

step "npm deps (lockfile)"
(cd tests/ui && npm ci --no-audit --no-fund --silent)

step "slide ${SIZE} x ${SIZE} (pyvips)"
if [ ! -x .venv-ui/bin/python ]; then python3 -m venv .venv-ui; fi
.venv-ui/bin/python -c 'import pyvips' 2>/dev/null ||
  .venv-ui/bin/pip install -q --disable-pip-version-check pyvips pyvips-binary
mkdir -p tests/fixtures/cache
SLIDE="$(pwd)/tests/fixtures/cache/ui-bench-${SIZE}.tif"
.venv-ui/bin/python tests/ui/make_slide.py "$SLIDE" "$SIZE" >/dev/null

DATA=${DATA:-$(mktemp -d)}
mkdir -p "$DATA"
step "serve on 127.0.0.1:$PORT (data in $DATA)"
if [ -f "$DATA/seed.json" ]; then PASSWORD=$(cat "$DATA/password"); fi
EXACT_ADMIN_PASSWORD="$PASSWORD" "$BIN" serve --data "$DATA" --bind "127.0.0.1:$PORT" \
  >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do
  kill -0 $SERVER 2>/dev/null || { cat "$DATA/serve.log"; exit 1; }
  sleep 0.2
done

if [ ! -f "$DATA/seed.json" ]; then
  step "seed $N annotations"
  t0=$(date +%s)
  python3 tests/ui/seed_ui.py "http://127.0.0.1:$PORT" exact "$PASSWORD" "$SLIDE" "$SIZE" "$N" \
    >"$DATA/seed.json.tmp"
  mv "$DATA/seed.json.tmp" "$DATA/seed.json"
  echo "$PASSWORD" >"$DATA/password"
  echo "seeded in $(( $(date +%s) - t0 )) s" >&2
fi

step "benchmark (headless chromium)"
node tests/ui/bench_ui.mjs "http://127.0.0.1:$PORT" exact "$PASSWORD" "$DATA/seed.json"
