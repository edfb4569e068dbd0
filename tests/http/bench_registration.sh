#!/usr/bin/env bash
# Benchmark of automatic registration (issue 18): two 40,000 x 30,000 JPEG pyramids of real
# tissue, the second mirrored, rotated 30 degrees, scaled 0.85 and shifted (written once by
# tests/http/make_registration_pair.py with pyvips), registered by the release `exact register
# --slides` three times. Prints the median runtime, the reported error and the largest
# deviation from the known transform over the tissue, beside a baseline from the same run:
# openslide-python reading the two 2048-px thumbnails EXACT's qt-wsi-registration starts from
# (EXACT's own SIFT pipeline is not installable here). Usage: bench_registration.sh [DIR]
# (release binary from $CARGO_TARGET_DIR or target; the venv .venv-http of scripts/test-http).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${1:-/tmp/exact-registration-bench}"
py=${PY:-.venv-http/bin/python}
truth=$("$py" tests/http/make_registration_pair.py "$dir")
exact="${CARGO_TARGET_DIR:-target}/release/exact"
[ -x "$exact" ] || cargo build --release -p exact-http --bin exact --quiet
uptime
"$py" - "$exact" "$dir" "$truth" <<'PY'
import json, statistics, subprocess, sys, time
import numpy as np, openslide
exact, d, truth = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]))
base, ours, last = [], [], None
for _ in range(3):
    t = time.perf_counter()
    for f in ("a.tif", "b.tif"):
        openslide.OpenSlide(f"{d}/{f}").get_thumbnail((2048, 2048))
    base.append(time.perf_counter() - t)
    t = time.perf_counter()
    out = subprocess.run([exact, "register", "--slides", f"{d}/a.tif", f"{d}/b.tif"],
                         capture_output=True, text=True, check=True)
    ours.append(time.perf_counter() - t)
    last = json.loads(out.stdout)
m = np.array(last["transformation_matrix"]).reshape(3, 3)
xs, ys = np.meshgrid(np.linspace(10000, 26650, 15), np.linspace(3000, 25250, 15))
p = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
dev = np.hypot(*((m @ p)[:2] - (truth @ p)[:2]))
print(f"baseline openslide-python 2 thumbnails (2048 px): median {statistics.median(base):.2f} s")
print(f"exact register (40,000 x 30,000 pair):             median {statistics.median(ours):.2f} s "
      f"(ratio {statistics.median(ours) / statistics.median(base):.2f}x the baseline)")
print(f"reported error {last['registration_error']:.3f} px over {last['matches']} patches; "
      f"largest deviation from the known transform {dev.max():.2f} px (mean {dev.mean():.2f})")
PY
