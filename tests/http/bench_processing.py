"""Model job benchmark (issue 16): a job of the example model (examples/colour_model.py) over a
slide run by `exact serve`'s job worker, beside a plain Python loop doing the same in the same run
(openslide-python read_region → PNG → requests.post to the same model → parse the answer).

    CARGO_TARGET_DIR=/work/bench-target cargo build --release -p exact-http --bin exact
    .venv-http/bin/python tests/http/bench_processing.py --exact PATH/exact [--slide PATH]
        [--tile 512] [--region X,Y,W,H]

Default slide: the libvips 40,000 x 30,001 JPEG pyramid of the tile-engine tests
(`.venv-tiles/bin/python tests/tiles/fixtures.py big`). Needs openslide-python and openslide-bin
in the venv. Prints tiles, seconds, tiles/s for both and the ratio. The loop only collects the
model's objects; exact-rs also stores them as annotations (one batch per tile).
"""

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "bench-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(url, proc):
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def tiles_of(region, step):
    x, y, w, h = region
    for ty in range(y, y + h, step):
        for tx in range(x, x + w, step):
            yield tx, ty, min(step, x + w - tx), min(step, y + h - ty)


def python_loop(slide_path, model_url, region, tile):
    import openslide

    slide = openslide.OpenSlide(str(slide_path))
    http = requests.Session()
    objects = n = 0
    t0 = time.perf_counter()
    for x, y, w, h in tiles_of(region, tile):
        img = slide.read_region((x, y), 0, (w, h)).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        r = http.post(f"{model_url}?x={x}&y={y}&w={w}&h={h}", data=buf.getvalue(),
                      headers={"Content-Type": "image/png"})
        r.raise_for_status()
        objects += len(r.json()["features"])
        n += 1
    return n, time.perf_counter() - t0, objects


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exact", default=str(REPO / "exact-rel"))
    ap.add_argument("--slide", default=str(REPO / "tests/fixtures/cache/bench-40000x30001.tif"))
    ap.add_argument("--tile", type=int, default=512)
    ap.add_argument("--region", default=None, help="x,y,w,h in level-0 pixels (default: all)")
    ap.add_argument("--runs", type=int, default=1, help="runs of each; medians are printed")
    args = ap.parse_args()
    slide = Path(args.slide)
    tmp = Path(tempfile.mkdtemp(prefix="exact-bench-processing-"))
    mport, port = free_port(), free_port()
    model = subprocess.Popen([sys.executable, str(REPO / "examples/colour_model.py"), str(mport)])
    model_url = f"http://127.0.0.1:{mport}/"
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD, EXACT_MODEL_HOSTS=model_url)
    log = open(tmp / "serve.log", "w")
    server = subprocess.Popen([args.exact, "serve", "--data", str(tmp / "d"), "--bind",
                               f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait(base + "/healthz", server)
        wait(model_url, model)
        http = requests.Session()
        http.auth = ("exact", PASSWORD)
        team = http.post(base + "/api/v1/users/teams/", json={"name": "bench"}).json()["id"]
        set_id = http.post(base + "/api/v1/images/image_sets/",
                           json={"name": "bench", "team": team}).json()["id"]
        product = http.post(base + "/api/v1/administration/products/",
                            json={"name": "bench", "team": team, "imagesets": [set_id]}).json()["id"]
        tissue = http.post(base + "/api/v1/annotations/annotation_types/",
                           json={"name": "tissue", "vector_type": 5, "product": product}).json()["id"]
        with open(slide, "rb") as f:
            r = http.post(base + "/api/v1/images/images/", files={"file_path": (slide.name, f)},
                          data={"image_type": "0", "image_set": str(set_id)})
        r.raise_for_status()
        image = r.json()["results"][0]
        region = ([int(v) for v in args.region.split(",")] if args.region
                  else [0, 0, image["width"], image["height"]])
        plugin = http.post(base + "/api/v1/processing/plugins/", json={
            "name": "colour", "products": [product], "model_url": model_url,
            "model_tile_size": args.tile, "model_classes": {"tissue": tissue}}).json()
        print(f"slide {slide.name} {image['width']} x {image['height']}, region {region}, "
              f"tile {args.tile}", flush=True)

        ours, theirs = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            job = http.post(base + "/api/v1/processing/pluginjobs/",
                            json={"plugin": plugin["id"], "image": image["id"], "region": region}).json()
            while job["state"] not in ("done", "failed"):
                time.sleep(0.2)
                job = http.get(f"{base}/api/v1/processing/pluginjobs/{job['id']}/").json()
            assert job["state"] == "done", job
            ours.append(time.perf_counter() - t0)
            n, secs, objects = python_loop(slide, model_url, region, args.tile)
            theirs.append(secs)
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        print(json.dumps({
            "runs": args.runs,
            "exact_rs_job": {"tiles": job["tiles_total"], "median_seconds": round(ours_s, 2),
                             "tiles_per_s": round(job["tiles_total"] / ours_s, 2),
                             "proposals_stored": job["proposals"]},
            "python_loop_openslide_requests": {"tiles": n, "median_seconds": round(theirs_s, 2),
                                               "tiles_per_s": round(n / theirs_s, 2),
                                               "objects_collected": objects},
            "ratio_tiles_per_s": round((job["tiles_total"] / ours_s) / (n / theirs_s), 2),
        }, indent=2))
    finally:
        server.terminate()
        model.terminate()
        server.wait(10)
        model.wait(10)
        log.close()


if __name__ == "__main__":
    main()
