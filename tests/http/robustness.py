"""Helpers of tests/http/robustness.sh (standard library only):
  seed BASE USER PASSWORD SLIDE TILES_FILE  -> uploads SLIDE, writes every tile URL of both DZI
                                               flavours to TILES_FILE, prints
                                               `image type width height`
  slow BASE SECONDS N OUT                   -> N connections that dribble header bytes; prints
                                               how long the server let each one live
  mover BASE AUTH IMAGE TYPE SECONDS OUT    -> one annotation moved back and forth between grid
                                               cells while it is read; counts statuses
  sample PID SECONDS OUT                    -> RSS and open file handles of PID every 2 s
"""
import base64
import json
import math
import os
import re
import socket
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid


def call(base, auth, method, path, body=None, headers=None, raw=None):
    h = {"Authorization": auth}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def seed(base, user, password, slide, tiles_file):
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    post = lambda p, b: json.loads(call(base, auth, "POST", p, b)[1])
    team = post("/api/v1/users/teams/", {"name": "robust"})["id"]
    iset = post("/api/v1/images/image_sets/", {"name": "robust set", "team": team})["id"]
    product = post("/api/v1/administration/products/",
                   {"name": "robust product", "team": team, "imagesets": [iset]})["id"]
    kind = post("/api/v1/annotations/annotation_types/",
                {"name": "cell", "vector_type": 1, "product": product})["id"]
    boundary = uuid.uuid4().hex
    name = os.path.basename(slide)
    with open(slide, "rb") as f:
        payload = f.read()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    status, out = call(base, auth, "POST", f"/images/image/upload/{iset}/", raw=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status < 300, (status, out)
    image = json.loads(out)["files"][0]["id"]
    info = json.loads(call(base, auth, "GET", f"/api/v1/images/images/{image}/")[1])
    urls = []
    for dzi, files in ((f"/api/v1/images/images/{image}/native.dzi", f"/api/v1/images/images/{image}/native_files"),
                       (f"/images/image/{image}/1/1/tile/", f"/images/image/{image}/1/1/tile_files")):
        xml = call(base, auth, "GET", dzi)[1].decode()
        size = int(re.search(r'TileSize="(\d+)"', xml).group(1))
        w = int(re.search(r'Width="(\d+)"', xml).group(1))
        h = int(re.search(r'Height="(\d+)"', xml).group(1))
        top = math.ceil(math.log2(max(w, h)))
        for level in range(top + 1):
            scale = 2 ** (top - level)
            lw, lh = math.ceil(w / scale), math.ceil(h / scale)
            for c in range(math.ceil(lw / size)):
                for r in range(math.ceil(lh / size)):
                    urls.append(f"{files}/{level}/{c}_{r}.jpeg")
    with open(tiles_file, "w") as f:
        f.write("\n".join(urls) + "\n")
    print(image, kind, info["width"], info["height"])


def slow(base, seconds, n, out):
    host, port = base.split("//")[1].split(":")
    lives, lock = [], threading.Lock()
    end = time.time() + seconds

    def one():
        while time.time() < end:
            s = socket.create_connection((host, int(port)))
            s.settimeout(1)
            t0 = time.time()
            try:
                s.sendall(b"GET /api/v1/ HTTP/1.1\r\nHost: x\r\n")
                i = 0
                while time.time() < end:
                    s.sendall(f"X-Slow-{i}: y\r\n".encode())
                    i += 1
                    try:
                        s.recv(1024)  # an answer (408) or the close both end the connection's life
                        break
                    except socket.timeout:
                        pass
                    time.sleep(1)
                else:
                    s.close()
                    return
            except OSError:
                pass
            with lock:
                lives.append(time.time() - t0)
            s.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with open(out, "w") as f:
        if lives:
            f.write(f"SLOW {n} connections dribbling headers: {len(lives)} closed by the server, "
                    f"lifetime median {statistics.median(lives):.1f} s, max {max(lives):.1f} s\n")
        else:
            f.write(f"SLOW {n} connections dribbling headers: none closed by the server in {seconds} s\n")


def mover(base, auth, image, kind, seconds, out):
    a = json.loads(call(base, auth, "POST", "/api/v1/annotations/annotations/",
                        {"annotation_type": kind, "image": image,
                         "vector": {"x1": 10, "y1": 10, "x2": 50, "y2": 50}})[1])["id"]
    counts, lock = {}, threading.Lock()
    end = time.time() + seconds

    def count(status):
        with lock:
            counts[status] = counts.get(status, 0) + 1

    def move():
        i = 0
        while time.time() < end:
            x = 10 if i % 2 == 0 else 2100
            y = 10 if i % 2 == 0 else 2500
            count(call(base, auth, "PATCH", f"/api/v1/annotations/annotations/{a}/",
                       {"vector": {"x1": x, "y1": y, "x2": x + 40, "y2": y + 40}})[0])
            i += 1

    def read():
        while time.time() < end:
            count(call(base, auth, "GET", f"/api/v1/annotations/annotations/{a}/")[0])

    threads = [threading.Thread(target=move), threading.Thread(target=read), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = sum(v for k, v in counts.items() if k >= 500)
    with open(out, "w") as f:
        f.write(f"MOVER statuses {dict(sorted(counts.items()))}; 5xx={bad}\n")


def sample(pid, seconds, out):
    rss, fds = [], []
    end = time.time() + seconds
    while time.time() < end:
        try:
            with open(f"/proc/{pid}/status") as f:
                kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            rss.append(kb / 1024)
            fds.append(len(os.listdir(f"/proc/{pid}/fd")))
        except (OSError, AttributeError):
            break
        time.sleep(2)
    with open(out, "w") as f:
        f.write(f"SAMPLE {len(rss)} samples: RSS MiB first {rss[0]:.0f}, median {statistics.median(rss):.0f}, "
                f"max {max(rss):.0f}, last {rss[-1]:.0f}; open files median {statistics.median(fds):.0f}, "
                f"max {max(fds)}, last {fds[-1]}\n")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "seed":
        seed(*args)
    elif cmd == "slow":
        slow(args[0], float(args[1]), int(args[2]), args[3])
    elif cmd == "mover":
        mover(args[0], args[1], int(args[2]), int(args[3]), float(args[4]), args[5])
    elif cmd == "sample":
        sample(int(args[0]), float(args[1]), args[2])
