"""Remote-User authentication behind a trusted proxy, against a real `exact serve` on
127.0.0.1: the header is honoured only from the configured proxy address (here the loopback
alias 127.0.0.2, a real TCP peer), maps to a local user created on first sight, and is
ignored from any other peer and when the feature is off. It holds on every path: the API,
the API root (`GET /api/v1/`) and the Deep Zoom tiles, also when the pre-router tile fast
path answers from its memory."""

import http.client
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import DATA, PASSWORD, Server, exact_bin, free_port, wait_for


def start(extra):
    data = Path(tempfile.mkdtemp(prefix="exact-remote-user-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data / "d"), "--bind",
                             f"127.0.0.1:{port}", *extra], env=env, stdout=log, stderr=log)
    wait_for(f"http://127.0.0.1:{port}/healthz", proc, "exact serve")
    return proc, port, log


def raw(port, path, source, headers):
    """A GET from the given source address (a real TCP peer of that address)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.getheader("Content-Type"), body


def call(port, path, source, headers):
    s, _, body = raw(port, path, source, headers)
    return s, json.loads(body or b"null")


@pytest.fixture(scope="module")
def proxied():
    proc, port, log = start(["--remote-user-proxy", "127.0.0.2"])
    yield port
    proc.terminate()
    proc.wait(10)
    log.close()


def users(port):
    import base64
    auth = base64.b64encode(f"exact:{PASSWORD}".encode()).decode()
    s, v = call(port, "/api/v1/users/users/?limit=100", "127.0.0.1",
                {"Authorization": f"Basic {auth}"})
    assert s == 200, v
    return {u["username"]: u for u in v["results"]}


def test_trusted_proxy_header_names_the_user_created_on_first_sight(proxied):
    assert "alice.remote" not in users(proxied)
    s, v = call(proxied, "/api/v1/images/image_sets/", "127.0.0.2", {"Remote-User": "alice.remote"})
    assert s == 200, v
    made = users(proxied)["alice.remote"]
    assert made["is_superuser"] is False
    # Second sight: the same user, no second account.
    s, _ = call(proxied, "/api/v1/images/image_sets/", "127.0.0.2", {"Remote-User": "alice.remote"})
    assert s == 200
    assert [u for u in users(proxied) if u == "alice.remote"] == ["alice.remote"]
    # A name that is not a valid username: a clear 400, nobody created.
    s, v = call(proxied, "/api/v1/images/image_sets/", "127.0.0.2", {"Remote-User": "bad name/x"})
    assert s == 400 and "username" in json.dumps(v), v
    assert "bad name/x" not in users(proxied)


def test_header_from_an_untrusted_peer_is_ignored(proxied):
    s, v = call(proxied, "/api/v1/images/image_sets/", "127.0.0.1", {"Remote-User": "mallory"})
    assert s == 401, v
    # Even naming an existing superuser.
    s, v = call(proxied, "/api/v1/images/image_sets/", "127.0.0.1", {"Remote-User": "exact"})
    assert s == 401, v
    assert "mallory" not in users(proxied)


def test_off_by_default():
    proc, port, log = start([])
    try:
        s, v = call(port, "/api/v1/images/image_sets/", "127.0.0.2", {"Remote-User": "exact"})
        assert s == 401, v
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_api_root_and_tiles_take_the_header_from_the_trusted_proxy_only(proxied):
    admin = Server(f"http://127.0.0.1:{proxied}", None)
    set_id = admin.new_set("remote tiles")
    image = admin.upload(set_id, DATA / "CMU-1-Small-Region.svs")["results"][0]["id"]
    # The API root shows the store to superusers only: the proxy's "exact" is one.
    s, v = call(proxied, "/api/v1/", "127.0.0.2", {"Remote-User": "exact"})
    assert s == 200 and "meta" in v, v
    s, v = call(proxied, "/api/v1/", "127.0.0.1", {"Remote-User": "exact"})
    assert s == 200 and "meta" not in v, v
    for path in (f"/images/image/{image}/1/1/tile_files/8/0_0.jpeg",
                 f"/api/v1/images/images/{image}/native_files/9/0_0.jpeg",
                 f"/images/image/{image}/1/1/tile/"):
        # Twice: the second is answered by the fast path's memory where it answers tiles.
        for _ in range(2):
            s, kind, body = raw(proxied, path, "127.0.0.2", {"Remote-User": "exact"})
            assert s == 200, (path, s, body[:200])
            assert kind in ("image/jpeg", "application/xml"), (path, kind)
        # Another peer naming the same user is refused, after the grant too.
        s, _, body = raw(proxied, path, "127.0.0.1", {"Remote-User": "exact"})
        assert s == 401, (path, s, body[:200])
    # A proxied user outside the image's team: 404, as for any reader without rights.
    s, _, body = raw(proxied, f"/images/image/{image}/1/1/tile_files/8/0_0.jpeg", "127.0.0.2",
                     {"Remote-User": "bob.remote"})
    assert s == 404, (s, body[:200])
