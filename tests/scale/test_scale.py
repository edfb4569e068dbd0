"""Three `exact serve` on one PostgreSQL and one S3 bucket (moto), as issue 15 asks: the EXACT-Sync
client's flow round-robined over them; a write on one is read on the others at once and reaches
their live events; tokens work on every server; two PATCHes with the same
If-Match race to exactly one winner; a conversion whose server is killed (-9) finishes on
another; killing one server during 10,000 concurrent annotation writes loses no acknowledged
write; `exact migrate` of a populated sled store gives the same API answers on PostgreSQL.
Run by scripts/test-scale (PostgreSQL URL in EXACT_TEST_POSTGRES, the binary in EXACT_BIN)."""

import http.server
import io
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

PASSWORD = "scale-secret"
LEASE_SECS = 3


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(url, proc, what):
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


class Server:
    def __init__(self, n, env, meta, blobs):
        self.n = n
        self.data = Path(tempfile.mkdtemp(prefix=f"exact-scale-{n}-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data / "serve.log"
        self.proc = subprocess.Popen(
            [os.environ["EXACT_BIN"], "serve", "--data", str(self.data / "d"), "--meta", meta,
             "--blobs", blobs, "--bind", f"127.0.0.1:{self.port}"],
            env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        wait_for(self.url + "/healthz", self.proc, f"server {n}")
        self.http = requests.Session()
        self.http.auth = ("exact", PASSWORD)

    def ok(self, method, path, status=200, **kw):
        r = self.http.request(method, self.url + path, timeout=60, **kw)
        assert r.status_code == status, f"server {self.n}: {method} {path}: {r.status_code} {r.text}"
        return r

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def cluster():
    import boto3
    from botocore.config import Config
    moto_port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                             "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{moto_port}/", moto, "moto_server")
    s3env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "scale",
             "AWS_SECRET_ACCESS_KEY": "scale", "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
    boto3.client("s3", endpoint_url=s3env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="scale", aws_secret_access_key="scale",
                 config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket="scale")
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD, EXACT_LOG="info",
               EXACT_CONVERSION_LEASE_SECS=str(LEASE_SECS), **s3env)
    env.pop("AWS_PROFILE", None)
    meta, blobs = os.environ["EXACT_TEST_POSTGRES"], "s3://scale/exact"
    # The first one creates the schema and the admin; then the others join.
    servers = [Server(0, env, meta, blobs)]
    servers += [Server(n, env, meta, blobs) for n in (1, 2)]
    yield servers
    for s in servers:
        s.stop()
        shutil.rmtree(s.data, ignore_errors=True)
    moto.terminate()
    moto.wait(10)


@pytest.fixture(scope="module")
def world(cluster):
    a = cluster[0]
    team = a.ok("POST", "/api/v1/users/teams/", 201, json={"name": "scale"}).json()["id"]
    set_id = a.ok("POST", "/api/v1/images/image_sets/", 201,
                  json={"name": "scale set", "team": team}).json()["id"]
    product = a.ok("POST", "/api/v1/administration/products/", 201,
                   json={"name": "scale product", "team": team, "imagesets": [set_id]}).json()["id"]
    kind = a.ok("POST", "/api/v1/annotations/annotation_types/", 201,
                json={"name": "cell", "vector_type": 1, "product": product}).json()["id"]
    image = a.ok("POST", "/api/v1/images/images/", 201,
                 json={"name": "slide.svs", "image_set": set_id, "width": 100000,
                       "height": 80000}).json()["id"]
    return {"set": set_id, "type": kind, "image": image}


def box(world, x, y=10):
    return {"annotation_type": world["type"], "image": world["image"],
            "vector": {"x1": x, "y1": y, "x2": x + 20, "y2": y + 20}}


def test_a_write_on_one_is_read_on_the_others_at_once(cluster, world):
    for writer in cluster:
        made = writer.ok("POST", "/api/v1/annotations/annotations/", 201,
                         json=box(world, 100 * writer.n)).json()
        for reader in cluster:
            got = reader.ok("GET", f"/api/v1/annotations/annotations/{made['id']}/").json()
            assert got["vector"] == made["vector"], (writer.n, reader.n)


def test_tokens_and_revocations_work_on_every_server(cluster):
    minted = cluster[0].ok("POST", "/users/api/tokens/", 201, json={"name": "scale"}).json()
    headers = {"Authorization": f"Token {minted['token']}"}
    for s in cluster:
        r = requests.get(s.url + "/api/v1/users/users/", headers=headers, timeout=30)
        assert r.status_code == 200, (s.n, r.text)
    cluster[1].ok("POST", f"/users/api/tokens/{minted['id']}/revoke/")
    for s in cluster:
        r = requests.get(s.url + "/api/v1/users/users/", headers=headers, timeout=30)
        assert r.status_code == 401, (s.n, r.status_code)


def test_same_if_match_on_two_servers_has_one_winner(cluster, world):
    made = cluster[0].ok("POST", "/api/v1/annotations/annotations/", 201,
                         json=box(world, 5000)).json()
    uri = f"/api/v1/annotations/annotations/{made['id']}/"
    for round_ in range(5):
        etag = cluster[0].ok("GET", uri).headers["ETag"]
        barrier = threading.Barrier(2)

        def patch(s):
            barrier.wait()
            return s.http.patch(s.url + uri, json={"description": f"{round_} by {s.n}"},
                                headers={"If-Match": etag}, timeout=60)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(patch, cluster[1:]))
        assert sorted(r.status_code for r in answers) == [200, 412], [r.text for r in answers]
        lost = next(r for r in answers if r.status_code == 412).json()
        assert "changed" in lost["detail"]
        won = next(r for r in answers if r.status_code == 200).json()
        assert cluster[0].ok("GET", uri).json()["description"] == won["description"]


def test_live_events_carry_writes_made_on_other_servers(cluster, world):
    listener = cluster[1]
    stream = listener.http.get(listener.url + f"/api/v1/events/?image={world['image']}",
                               headers={"Accept": "text/event-stream"}, stream=True, timeout=20)
    assert stream.status_code == 200, stream.text
    made = cluster[0].ok("POST", "/api/v1/annotations/annotations/", 201,
                         json=box(world, 7777)).json()
    wanted, seen, deadline = f'"id":{made["id"]},', "", time.time() + 15
    for chunk in stream.iter_content(chunk_size=None, decode_unicode=True):
        seen += chunk
        if wanted in seen.replace(" ", "") or time.time() > deadline:
            break
    stream.close()
    assert wanted in seen.replace(" ", ""), seen[-2000:]
    assert "event: annotation" in seen


class RoundRobin(http.server.BaseHTTPRequestHandler):
    """A minimal load balancer: each request to the next server in turn."""
    backends = []
    turn = itertools.count()

    def forward(self):
        backend = self.backends[next(self.turn) % len(self.backends)]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "content-length", "connection")}
        r = requests.request(self.command, backend + self.path, headers=headers, data=body,
                             timeout=60, allow_redirects=False)
        self.send_response(r.status_code)
        for k, v in r.headers.items():
            if k.lower() not in ("transfer-encoding", "connection", "content-length",
                                 "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    def log_message(self, *args):
        pass


def test_the_exact_sync_client_round_robined_over_three_servers(cluster):
    pytest.importorskip("exact_sync")
    RoundRobin.backends = [s.url for s in cluster]
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RoundRobin)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        script = Path(__file__).resolve().parents[1] / "http" / "exact_sync_test.py"
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        run = subprocess.run([sys.executable, str(script), url, "exact", PASSWORD],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert next(RoundRobin.turn) > 20, "the flow went through the balancer"
    finally:
        proxy.shutdown()


def test_a_conversion_whose_server_is_killed_finishes_on_another(cluster, world):
    from PIL import Image
    # Big enough that the conversion is still running when its server dies.
    img = Image.linear_gradient("L").resize((6000, 6000)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG")
    victim = cluster[2]
    up = victim.ok("POST", "/api/v1/images/images/", 201,
                   files={"file_path": ("noise.png", buf.getvalue())},
                   data={"image_type": "0", "image_set": str(world["set"])}).json()
    image = up["results"][0]["id"]
    time.sleep(0.5)
    victim.kill()
    survivors = cluster[:2]
    deadline = time.time() + 90
    state = None
    while time.time() < deadline:
        state = survivors[0].ok("GET", f"/api/v1/images/images/{image}/").json()["state"]
        if state != "converting":
            break
        time.sleep(0.25)
    assert state == "ready", state
    # The victim died holding the lease; a survivor claimed it once it expired.
    taken = [s.n for s in survivors
             if any(f"image={image}" in line and "converting" in line
                    for line in s.log.read_text().splitlines())]
    assert taken, "no survivor logged taking the conversion over"
    print(f"conversion of image {image} taken over by server(s) {taken}")


def test_killing_a_server_during_10000_writes_loses_no_acknowledged_write(cluster, world):
    alive = [s for s in cluster if s.proc.poll() is None]
    assert len(alive) >= 2
    victim = alive[-1]
    per_request, requests_total = 20, 500  # 10,000 annotations
    acknowledged, lock = [], threading.Lock()

    def write(i):
        s = alive[i % len(alive)]
        items = [box(world, (i * per_request + k) % 99000, 20000 + i) for k in range(per_request)]
        try:
            r = s.http.post(s.url + "/api/v1/annotations/annotations/", json=items, timeout=60)
        except requests.ConnectionError:
            return
        if r.status_code == 201:
            with lock:
                acknowledged.extend(a["id"] for a in r.json())

    killer = threading.Timer(2.0, victim.kill)
    killer.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(requests_total)))
    killer.join()
    assert victim.proc.poll() is not None, "the victim was killed during the writes"
    reader = alive[0]
    stored = set()
    url = f"/api/v1/annotations/annotations/?image={world['image']}&limit=100000&fields=id"
    for a in reader.ok("GET", url).json()["results"]:
        stored.add(a["id"])
    missing = set(acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged writes lost"
    assert len(acknowledged) > per_request * requests_total // 3, len(acknowledged)
    print(f"{len(acknowledged)} of {per_request * requests_total} writes acknowledged, all stored")


def test_exact_migrate_from_sled_gives_the_same_answers_on_postgresql(cluster):
    """A populated sled store, migrated by `exact migrate`, served from PostgreSQL: the same
    API answers (annotations with soft-deleted ones, trash, sets, images, types, users)."""
    base = Path(tempfile.mkdtemp(prefix="exact-scale-migrate-"))
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    env.pop("EXACT_META", None)

    def serve(*args):
        port = free_port()
        proc = subprocess.Popen([os.environ["EXACT_BIN"], "serve", "--bind", f"127.0.0.1:{port}",
                                 *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", proc, "exact serve")
        return proc, url

    http = requests.Session()
    http.auth = ("exact", PASSWORD)

    def ok(url, method, path, status=200, **kw):
        r = http.request(method, url + path, timeout=60, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    sled_proc, url = serve("--data", str(base / "d"))
    team = ok(url, "POST", "/api/v1/users/teams/", 201, json={"name": "migrated"})["id"]
    set_id = ok(url, "POST", "/api/v1/images/image_sets/", 201,
                json={"name": "m set", "team": team})["id"]
    product = ok(url, "POST", "/api/v1/administration/products/", 201,
                 json={"name": "m product", "team": team, "imagesets": [set_id]})["id"]
    kind = ok(url, "POST", "/api/v1/annotations/annotation_types/", 201,
              json={"name": "m", "vector_type": 1, "product": product})["id"]
    image = ok(url, "POST", "/api/v1/images/images/", 201,
               json={"name": "m.svs", "image_set": set_id, "width": 50000, "height": 50000})["id"]
    made = ok(url, "POST", "/api/v1/annotations/annotations/", 201,
              json=[{"annotation_type": kind, "image": image,
                     "vector": {"x1": 300 * i, "y1": 40, "x2": 300 * i + 30, "y2": 90}}
                    for i in range(150)])
    for a in made[:5]:
        ok(url, "PATCH", f"/api/v1/annotations/annotations/{a['id']}/",
           json={"description": f"edited {a['id']}"})
    ok(url, "PATCH", f"/api/v1/annotations/annotations/{made[5]['id']}/", json={"deleted": True})
    ok(url, "DELETE", f"/api/v1/annotations/annotations/{made[6]['id']}/", 204)
    paths = [f"/api/v1/annotations/annotations/?image={image}&limit=1000",
             f"/api/v1/annotations/annotations/?image={image}&deleted=true&limit=1000",
             f"/api/v1/annotations/annotations/trash/?image={image}&limit=1000",
             f"/api/v1/annotations/annotations/{made[0]['id']}/",
             "/api/v1/images/image_sets/?limit=1000", "/api/v1/images/images/?limit=1000",
             "/api/v1/annotations/annotation_types/?limit=1000", "/api/v1/users/users/?limit=1000"]
    before = [ok(url, "GET", p) for p in paths]
    sled_proc.terminate()
    sled_proc.wait(10)

    target = os.environ["EXACT_TEST_POSTGRES"].rsplit("/", 1)[0] + "/migrated"
    subprocess.run(["psql", "-q", os.environ["EXACT_TEST_POSTGRES"], "-c",
                    "CREATE DATABASE migrated"], check=True)
    run = subprocess.run([os.environ["EXACT_BIN"], "migrate", "--from", f"sled://{base}/d/db",
                          "--to", target], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "checksums" in run.stdout and "match" in run.stdout, run.stdout

    pg_proc, url = serve("--data", str(base / "pg"), "--meta", target, "--blobs",
                         f"file://{base}/d/blobs")
    try:
        after = [ok(url, "GET", p) for p in paths]
        for p, b, a in zip(paths, before, after):
            assert a == b, p
        # The copy goes on from the source's ids.
        new = ok(url, "POST", "/api/v1/annotations/annotations/", 201,
                 json={"annotation_type": kind, "image": image,
                       "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}})
        assert new["id"] > max(a["id"] for a in made)
    finally:
        pg_proc.terminate()
        pg_proc.wait(10)
        shutil.rmtree(base, ignore_errors=True)
