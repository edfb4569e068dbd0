"""A running `exact serve` (temporary data directory, 127.0.0.1) beside a real S3-protocol
server (moto) for the HTTP tests, plus small request helpers."""

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "fixtures" / "data"
CMU = DATA / "CMU-1-Small-Region.svs"
PASSWORD = "images-secret"
# The test server's upload limit (EXACT_MAX_UPLOAD), small enough to test.
MAX_UPLOAD = 48 << 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(url, proc, what):
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def exact_bin():
    if os.environ.get("EXACT_BIN"):
        return os.environ["EXACT_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    return str(Path(target) / "debug" / "exact")


@pytest.fixture(scope="session")
def s3_env():
    """moto on 127.0.0.1 and the AWS_* variables pointing at it."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/", proc, "moto_server")
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "exacttest",
           "AWS_SECRET_ACCESS_KEY": "exacttest", "AWS_REGION": "us-east-1",
           "AWS_ALLOW_HTTP": "true"}
    yield env
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def s3(s3_env):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="exacttest", aws_secret_access_key="exacttest",
                        config=Config(s3={"addressing_style": "path"}))


class Server:
    def __init__(self, url, data):
        self.url = url
        self.data = data
        self.http = requests.Session()
        self.http.auth = ("exact", PASSWORD)

    def get(self, path, **kw):
        return self.http.get(self.url + path, **kw)

    def post(self, path, **kw):
        return self.http.post(self.url + path, **kw)

    def delete(self, path, **kw):
        return self.http.delete(self.url + path, **kw)

    def ok(self, r, status=200):
        assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
        return r

    def new_set(self, name, team=None):
        if team is None:
            team = self.ok(self.post("/api/v1/users/teams/", json={"name": f"team {name}"}),
                           201).json()["id"]
        return self.ok(self.post("/api/v1/images/image_sets/",
                                 json={"name": name, "team": team}), 201).json()["id"]

    def upload(self, set_id, path, name=None, status=201):
        with open(path, "rb") as f:
            r = self.post("/api/v1/images/images/",
                          files={"file_path": (name or Path(path).name, f)},
                          data={"image_type": "0", "image_set": str(set_id)})
        self.ok(r, status)
        return r.json()

    def wait_ready(self, image_id, timeout=120):
        for _ in range(timeout * 10):
            i = self.ok(self.get(f"/api/v1/images/images/{image_id}/")).json()
            if i["state"] != "converting":
                return i
            time.sleep(0.1)
        raise AssertionError(f"image {image_id} still converting")


@pytest.fixture(scope="session")
def server(s3_env):
    data = Path(tempfile.mkdtemp(prefix="exact-http-test-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD, EXACT_MAX_UPLOAD=str(MAX_UPLOAD),
               **s3_env)
    env.pop("AWS_PROFILE", None)
    # OpenSlide for the formats only it reads (MRXS): this venv's openslide-bin, loaded by
    # the server at run time as a user's `pip install openslide-bin` would be.
    import openslide_bin
    env["EXACT_OPENSLIDE_LIB"] = str(Path(openslide_bin.__file__).parent / "libopenslide.so.1")
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data / "d"), "--bind",
                             f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/healthz", proc, "exact serve")
    yield Server(url, data)
    proc.terminate()
    proc.wait(10)
    log.close()


def gradient_png(path, w, h):
    """A smooth picture (JPEG-friendly, so pixel comparisons are meaningful)."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                    ((x + y) * 127 // max(w + h - 2, 1))], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


def decode(content):
    return Image.open(io.BytesIO(content))


def mae(a, b):
    a = np.asarray(a, dtype=np.int16)
    b = np.asarray(b, dtype=np.int16)
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    return float(np.abs(a - b).mean())
