"""Tile and upload benchmark of `exact serve` on loopback, with its baselines in the same run.

    cargo build --release -p exact-http --bin exact
    .venv-http/bin/python tests/http/bench_tiles.py [--slide PATH] [--runs 3] [--duration 10]
        [--skip-upload] [--native-only]
    EXACT_BIN=… EXACT_BIN_BEFORE=… bench_tiles.py --native-only   # before/after, same run
    .venv-http/bin/python tests/http/bench_tiles.py --dicom --skip-upload   # a DICOM WSI series

Needs wrk and nginx (apt-get install wrk nginx-light) and the venv of scripts/test-http.
The default slide is the libvips 40,000 x 30,001 JPEG pyramid of the tile-engine tests
(`.venv-tiles/bin/python tests/tiles/fixtures.py big` makes it). With --dicom the slide is a
DICOM WSI series that wsidicomizer converts from a 16,800 x 12,000 Aperio SVS
(`.venv-tiles/bin/python tests/tiles/fixtures.py big-dicom` makes it; --slide may name another
series' folder): exact gets a zip of its instances (one image), the reference server opens its
level-0 instance with OpenSlide 4 (openslide-bin), which finds the other instances beside it.

Measures, each as the median of --runs wrk runs at 32 connections:
1. native tiles from native.dzi (random level-0 tiles, passthrough) — exact vs nginx serving
   the same tile bytes as static files vs a reference server wrapping openslide-python's
   DeepZoomGenerator as EXACT does (254/1, JPEG q90; full-resolution tiles);
2. rendered tiles (EXACT's 254/1 grid one level below full resolution, a 2x reduction; every
   request a distinct tile, so no cache helps) — exact vs the same reference;
3. upload of a 1 GiB slide (uncompressed tiled TIFF) through the API: MB/s and the server's
   RSS growth (peak minus before).
With --native-only, part 1 also prints the CPU time per request of each server (all its
threads; nginx's master and workers) and of wrk, from /proc and getrusage: on a loaded
2-core machine requests/s follows the share of CPU the scheduler leaves each server, while
CPU per request compares the work each does for the same answer.
"""

import argparse
import base64
import os
import random
import re
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
PASSWORD = "bench-secret"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait(url, proc, headers=None):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1, headers=headers)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


LUA = r"""
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end
local mode = os.getenv("WRK_MODE")
local n, counter, tid = #paths, 0, 0
local threads = {}
setup = function(thread) thread:set("tid", tid); tid = tid + 1 end
request = function()
  counter = counter + 1
  local i
  if mode == "distinct" then
    -- each of the 2 threads walks its own half, so no tile is asked twice
    i = ((tid or 0) * math.floor(n / 2) + counter) % n + 1
  else
    i = math.random(n)
  end
  return wrk.format("GET", paths[i])
end
"""


def cpu_seconds(pids):
    """User + system CPU time of processes (all their threads) and their children, in s."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the name
        total += sum(int(x) for x in fields[11:15])
    return total / tick


def family(pid):
    """A process and its children (nginx's workers)."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def wrk(url_base, paths, duration, auth=None, mode="random", conns=32, pids=()):
    tmp = Path(tempfile.mkdtemp())
    (tmp / "paths.txt").write_text("\n".join(paths) + "\n")
    (tmp / "s.lua").write_text(LUA)
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{duration}s", "--latency", "-s", str(tmp / "s.lua")]
    if auth:
        cmd += ["-H", f"Authorization: {auth}"]
    cmd.append(url_base)
    env = dict(os.environ, WRK_PATHS=str(tmp / "paths.txt"), WRK_MODE=mode)
    pids = [q for p in pids for q in family(p)]
    server0, load0 = cpu_seconds(pids), os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60).stdout
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = cpu_seconds(pids) - server0
    wrk_cpu = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    shutil.rmtree(tmp)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    sock = re.search(r"Socket errors: (.*)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    reqs = rps * duration
    # CPU per request of the server and of wrk: less sensitive to other load on the machine
    # than requests/s (the server's share of both cores is what wrk leaves it).
    return {"rps": rps, "non2xx": errors, "socket_errors": sock.group(1) if sock else "",
            "p99": p99.group(1) if p99 else "?",
            "server_us": server / reqs * 1e6 if pids and reqs else 0.0,
            "wrk_us": wrk_cpu / reqs * 1e6 if reqs else 0.0,
            "server_cores": server / duration, "wrk_cores": wrk_cpu / duration, "load": load0}


def med(results, key="rps"):
    return statistics.median(r[key] for r in results)


def write_big_tiff(path, side=18432, tile=256):
    """An uncompressed tiled RGB TIFF of side x side pixels (~1 GiB), written tile by tile."""
    tiles = (side // tile) ** 2
    tile_bytes = tile * tile * 3
    header = 8
    ifd_entries = 11
    ifd_size = 2 + ifd_entries * 12 + 4
    offsets_at = header + ifd_size + 8  # after the IFD and the BitsPerSample array
    counts_at = offsets_at + 4 * tiles
    data_at = counts_at + 4 * tiles
    row = bytes(x % 256 for x in range(tile * 3))
    block = b"".join(bytes((b + y) % 256 for b in row) for y in range(tile))
    with open(path, "wb") as f:
        f.write(b"II*\x00" + struct.pack("<I", header))
        entries = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 3, header + ifd_size),
                   (259, 3, 1, 1), (262, 3, 1, 2), (277, 3, 1, 3), (284, 3, 1, 1),
                   (322, 3, 1, tile), (323, 3, 1, tile), (324, 4, tiles, offsets_at),
                   (325, 4, tiles, counts_at)]
        f.write(struct.pack("<H", len(entries)))
        for tag, typ, count, value in entries:
            if typ == 3 and count == 1:
                f.write(struct.pack("<HHIHH", tag, typ, count, value, 0))
            else:
                f.write(struct.pack("<HHII", tag, typ, count, value))
        f.write(struct.pack("<I", 0))
        f.write(struct.pack("<HHHH", 8, 8, 8, 0))
        f.write(struct.pack(f"<{tiles}I", *(data_at + i * tile_bytes for i in range(tiles))))
        f.write(struct.pack(f"<{tiles}I", *([tile_bytes] * tiles)))
        for _ in range(tiles):
            f.write(block)
    return path.stat().st_size


def rss_kb(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_report(rows):
    """Server and wrk CPU per request (medians), the cores each used, the load average."""
    print("   CPU per request (median): " + ", ".join(
        f"{name} {med(rs, 'server_us'):.1f} us (wrk {med(rs, 'wrk_us'):.1f} us; "
        f"server {med(rs, 'server_cores'):.2f} + wrk {med(rs, 'wrk_cores'):.2f} cores)"
        for name, rs in rows))
    nginx = dict(rows).get("nginx")
    if nginx:
        n = med(nginx, "server_us")
        print("   server CPU per request vs nginx: " + ", ".join(
            f"{name} {med(rs, 'server_us') / n:.2f}x" for name, rs in rows if name != "nginx"))
    print(f"   load average at the runs' starts: "
          f"{[round(r['load'], 1) for _, rs in rows for r in rs]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slide", default=str(REPO / "tests/fixtures/cache/bench-40000x30001.tif"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--skip-upload", action="store_true")
    ap.add_argument("--native-only", action="store_true",
                    help="only part 1 against nginx (no openslide-python reference, no renders)")
    ap.add_argument("--dicom", action="store_true",
                    help="a DICOM WSI series (a folder of instances) instead of a TIFF")
    args = ap.parse_args()
    if args.dicom and args.slide == ap.get_default("slide"):
        args.slide = str(REPO / "tests/fixtures/cache/bench-dicom-16800x12000")
    slide = Path(args.slide)
    if not slide.exists():
        what = "big-dicom" if args.dicom else "big"
        raise SystemExit(f"{slide} is missing: run .venv-tiles/bin/python tests/tiles/fixtures.py {what}")
    for tool in ["wrk", "nginx"]:
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"{tool} is missing: apt-get install wrk nginx-light")
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    # EXACT_BIN: a binary to measure instead of this checkout's release build.
    exact = Path(os.environ.get("EXACT_BIN") or target / "release" / "exact")
    work = Path(tempfile.mkdtemp(prefix="exact-bench-"))
    procs = []
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"

        def start_exact():
            env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
            p = subprocess.Popen([str(exact), "serve", "--data", str(work / "data"), "--bind",
                                  f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=open(work / "serve.log", "a"))
            procs.append(p)
            wait(base + "/healthz", p)
            return p

        def restart_exact(p):
            p.terminate()
            p.wait(30)
            return start_exact()

        srv = start_exact()
        http = requests.Session()
        http.auth = ("exact", PASSWORD)
        auth = "Basic " + base64.b64encode(f"exact:{PASSWORD}".encode()).decode()
        team = http.post(base + "/api/v1/users/teams/", json={"name": "bench team"}).json()["id"]
        set_id = http.post(base + "/api/v1/images/image_sets/",
                           json={"name": "bench", "team": team}).json()["id"]

        print(f"exact-rs tile benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"slide {slide.name}, wrk -t2 -c32 -d{args.duration}s, medians of {args.runs} runs")

        if not args.skip_upload:
            big = work / "big-1gib.tif"
            size = write_big_tiff(big)
            before = rss_kb(srv.pid, "VmRSS")
            t = time.perf_counter()
            p = subprocess.run(["curl", "-sS", "-o", str(work / "up.json"), "-w", "%{http_code}",
                                "-u", f"exact:{PASSWORD}", "-F", f"file_path=@{big}",
                                "-F", f"image_set={set_id}", base + "/api/v1/images/images/"],
                               capture_output=True, text=True)
            dt = time.perf_counter() - t
            peak = rss_kb(srv.pid, "VmHWM")
            big.unlink()
            print(f"\nupload of a {size / 2**30:.2f} GiB slide: HTTP {p.stdout}, {dt:.1f} s, "
                  f"{size / dt / 1e6:.0f} MB/s, server RSS {before / 1024:.0f} MB before, peak "
                  f"{peak / 1024:.0f} MB (growth {(peak - before) / 1024:.0f} MB)")

        # A DICOM series goes up as a zip of its instances (one image); OpenSlide opens its
        # level-0 instance and finds the others beside it.
        upload = slide
        if slide.is_dir():
            instances = sorted(slide.glob("*.dcm"))
            upload = work / (slide.name + ".zip")
            with zipfile.ZipFile(upload, "w", zipfile.ZIP_STORED) as z:
                for f in instances:
                    z.write(f, f.name)
            slide = max(instances, key=lambda f: f.stat().st_size)
        with open(upload, "rb") as f:
            r = http.post(base + "/api/v1/images/images/", files={"file_path": (upload.name, f)},
                          data={"image_set": str(set_id)})
        image = r.json()["results"][0]["id"]
        dzi = http.get(f"{base}/api/v1/images/images/{image}/native.dzi").text
        w, h = int(re.search(r'Width="(\d+)"', dzi).group(1)), int(re.search(r'Height="(\d+)"', dzi).group(1))
        ts = int(re.search(r'TileSize="(\d+)"', dzi).group(1))
        top = max(w, h).bit_length() if max(w, h) & (max(w, h) - 1) else max(w, h).bit_length() - 1
        cols, rows = w // ts, h // ts  # whole tiles only (edge tiles are rendered)
        rng = random.Random(7)
        sample = [(rng.randrange(cols), rng.randrange(rows)) for _ in range(2000)]
        native = [f"/api/v1/images/images/{image}/native_files/{top}/{c}_{r}.jpeg" for c, r in sample]

        # nginx serving the very same bytes as static files.
        root = work / "www"
        for (c, r), path in zip(sample, native):
            d = root / "t"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{c}_{r}.jpeg").write_bytes(http.get(base + path).content)
        nport = free_port()
        (work / "nginx.conf").write_text(f"""
worker_processes 2; pid {work}/nginx.pid; error_log {work}/nginx.err; daemon off;
events {{ worker_connections 1024; }}
http {{ access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 100000;
  client_body_temp_path {work}/nb; proxy_temp_path {work}/np; fastcgi_temp_path {work}/nf;
  uwsgi_temp_path {work}/nu; scgi_temp_path {work}/ns;
  server {{ listen 127.0.0.1:{nport}; root {root}; location / {{ }} }} }}
""")
        ng = subprocess.Popen(["nginx", "-c", str(work / "nginx.conf")], stderr=subprocess.DEVNULL)
        procs.append(ng)
        wait(f"http://127.0.0.1:{nport}/", ng)
        static = [f"/t/{c}_{r}.jpeg" for c, r in sample]

        if args.native_only:
            # EXACT_BIN_BEFORE: an older binary measured in the same run (its own data dir,
            # the same slide), interleaved with ours and nginx, for a before/after figure.
            before_bin = os.environ.get("EXACT_BIN_BEFORE")
            before_base = None
            if before_bin:
                bport = free_port()
                before_base = f"http://127.0.0.1:{bport}"
                env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
                bp = subprocess.Popen([before_bin, "serve", "--data", str(work / "data-before"),
                                       "--bind", f"127.0.0.1:{bport}"], env=env,
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(work / "serve-before.log", "a"))
                procs.append(bp)
                wait(before_base + "/healthz", bp)
                bt = http.post(before_base + "/api/v1/users/teams/", json={"name": "bench team"}).json()["id"]
                bs = http.post(before_base + "/api/v1/images/image_sets/",
                               json={"name": "bench", "team": bt}).json()["id"]
                with open(upload, "rb") as f:
                    r = http.post(before_base + "/api/v1/images/images/",
                                  files={"file_path": (upload.name, f)}, data={"image_set": str(bs)})
                bimage = r.json()["results"][0]["id"]
                before_paths = [p.replace(f"/images/{image}/", f"/images/{bimage}/") for p in native]
                assert http.get(before_base + before_paths[0]).content == http.get(base + native[0]).content
            ours, ngx, old = [], [], []
            for _ in range(args.runs):
                if before_base:
                    old.append(wrk(before_base, before_paths, args.duration, auth, pids=[bp.pid]))
                ours.append(wrk(base, native, args.duration, auth, pids=[srv.pid]))
                ngx.append(wrk(f"http://127.0.0.1:{nport}", static, args.duration, pids=[ng.pid]))
            o, n = med(ours), med(ngx)
            print("\n1. native level-0 tiles, random among 2,000 (requests/s)")
            if old:
                b = med(old)
                print(f"   before ({Path(before_bin).name}), same requests:                 {b:9.0f}  "
                      f"p99 {old[-1]['p99']}, non-2xx {sum(r['non2xx'] for r in old)}  "
                      f"-> {b / n:.0%} of nginx")
            print(f"   exact native.dzi (passthrough, auth + permission check each): {o:9.0f}  "
                  f"p99 {ours[-1]['p99']}, non-2xx {sum(r['non2xx'] for r in ours)}")
            print(f"   nginx, same bytes as static files:                          {n:9.0f}  "
                  f"-> exact = {o / n:.0%} of nginx")
            print(f"   runs: exact {[round(r['rps']) for r in ours]}, nginx {[round(r['rps']) for r in ngx]}"
                  + (f", before {[round(r['rps']) for r in old]}" if old else ""))
            cpu_report([("exact", ours), ("nginx", ngx)] + ([("before", old)] if old else []))
            return
        rport = free_port()
        ref = subprocess.Popen([sys.executable, str(HERE / "ref_openslide_server.py"), str(slide),
                                str(rport)], stderr=subprocess.DEVNULL)
        procs.append(ref)
        wait(f"http://127.0.0.1:{rport}/tile_files/0/0_0.jpeg", ref)
        dz_top = top  # the 254 grid has the same level count
        ref_cols, ref_rows = -(-w // 254), -(-h // 254)
        ref_paths = [f"/tile_files/{dz_top}/{rng.randrange(ref_cols - 1)}_{rng.randrange(ref_rows - 1)}.jpeg"
                     for _ in range(2000)]

        ours, ngx, base_ref = [], [], []
        for _ in range(args.runs):
            ours.append(wrk(base, native, args.duration, auth))
            ngx.append(wrk(f"http://127.0.0.1:{nport}", static, args.duration))
            base_ref.append(wrk(f"http://127.0.0.1:{rport}", ref_paths, args.duration))
        o, n, b = med(ours), med(ngx), med(base_ref)
        print("\n1. native level-0 tiles, random among 2,000 (requests/s)")
        print(f"   exact native.dzi (passthrough, auth + permission check each): {o:9.0f}  "
              f"p99 {ours[-1]['p99']}, non-2xx {sum(r['non2xx'] for r in ours)}")
        print(f"   nginx, same bytes as static files:                          {n:9.0f}  -> exact = {o / n:.0%} of nginx")
        print(f"   reference openslide-python DeepZoomGenerator (254/1, q90):   {b:9.0f}  -> exact = {o / b:.0f}x")
        print(f"   runs: exact {[round(r['rps']) for r in ours]}, nginx {[round(r['rps']) for r in ngx]}, "
              f"reference {[round(r['rps']) for r in base_ref]}")

        # Rendered: EXACT's 254/1 grid one level below full resolution, each tile once.
        lvl = dz_top - 1
        lc, lr = -(-(w // 2) // 254), -(-(h // 2) // 254)
        order = [(c, r) for r in range(lr) for c in range(lc)]
        rng.shuffle(order)
        ours_r = [f"/images/image/{image}/1/1/tile_files/{lvl}/{c}_{r}.jpeg" for c, r in order]
        ref_r = [f"/tile_files/{lvl}/{c}_{r}.jpeg" for c, r in order]
        rend, rend_ref = [], []
        for _ in range(args.runs):
            # A restarted server has empty caches; within a run no tile is asked twice.
            srv = restart_exact(srv)
            rend.append(wrk(base, ours_r, args.duration, auth, mode="distinct"))
            rend_ref.append(wrk(f"http://127.0.0.1:{rport}", ref_r, args.duration, mode="distinct"))
        ro, rb = med(rend), med(rend_ref)
        print(f"\n2. rendered tiles, EXACT grid level {lvl} (2x reduction), distinct tiles (requests/s)")
        print(f"   exact:     {ro:7.0f}  non-2xx {sum(r['non2xx'] for r in rend)}")
        print(f"   reference: {rb:7.0f}  -> exact = {ro / rb:.1f}x")
        print(f"   runs: exact {[round(r['rps']) for r in rend]}, reference {[round(r['rps']) for r in rend_ref]}")
        m = http.get(base + "/metrics").text
        print("\n" + "\n".join(line for line in m.splitlines() if line.startswith("exact_tiles")))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
