"""exact_wsi.serve: the HTTP server of `exact serve` in-process, over a store this process holds;
and Ctrl-C interrupting long store calls."""

import base64
import json
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

import exact_wsi
from exact_wsi import Store


def get(url, auth=None):
    req = urllib.request.Request(url)
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def test_serve_answers_and_authenticates(tmp_path):
    store = Store.open(tmp_path / "data")
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team)
    store.set_password("exact", "s3cret-pw")
    token = store.create_token()
    with exact_wsi.serve(store) as srv:
        assert srv.running and srv.port > 0 and srv.url == f"http://127.0.0.1:{srv.port}/"
        assert "running" in repr(srv)
        status, body = get(srv.url + "api/v1/")
        assert status == 200 and body["name"] == "exact-rs"
        with pytest.raises(urllib.error.HTTPError) as e:
            get(srv.url + "api/v1/images/image_sets/")
        assert e.value.code in (401, 403)
        basic = "Basic " + base64.b64encode(b"exact:s3cret-pw").decode()
        status, body = get(srv.url + "api/v1/images/image_sets/", basic)
        assert status == 200 and [s["id"] for s in body["results"]] == [iset["id"]]
        status, body = get(srv.url + "api/v1/users/teams/", "Token " + token)
        assert [t["name"] for t in body["results"]] == ["pathology"]
        # The notebook keeps writing while the server runs: one handle, no lock error.
        store.create_image_set("second", team)
        _, body = get(srv.url + "api/v1/images/image_sets/", basic)
        assert body["count"] == 2
        url = srv.url
    assert not srv.running and "stopped" in repr(srv)
    with pytest.raises(urllib.error.URLError):
        get(url + "api/v1/")
    srv.stop()  # idempotent


def test_serve_a_directory_by_path(tmp_path):
    srv = exact_wsi.serve(tmp_path / "data", bind="127.0.0.1:0")
    try:
        body = get(srv.url + "api/v1/")[1]
        # Anonymous clients are not told where the data lives; the directory itself says it.
        assert body["name"] == "exact-rs" and "meta" not in body
        assert (tmp_path / "data" / "db").is_dir()
    finally:
        srv.stop()


LONG = textwrap.dedent("""
    import numpy as np, exact_wsi
    s = exact_wsi.Store.memory()
    t = s.create_team("team"); i = s.create_image_set("set", t)
    p = s.create_product("p", team=t, imagesets=[i]); a = s.create_annotation_type("a", p)
    im = s.add_image(i, "x.svs", 100000, 100000)
    s.add_boxes(im, a, np.array([[0, 0, 10, 10]] * 20000, dtype=float))
    print("ready", flush=True)
    while True:
        s.annotations(im, as_columns=True)
""")


def test_ctrl_c_interrupts_a_loop_of_store_calls():
    p = subprocess.Popen([sys.executable, "-c", LONG], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        assert time.monotonic() - t < 3
        assert "KeyboardInterrupt" in err and p.returncode != 0
    finally:
        p.kill()


SLOW = textwrap.dedent("""
    import numpy as np, exact_wsi
    s = exact_wsi.Store.memory()
    t = s.create_team("team"); i = s.create_image_set("set", t)
    p = s.create_product("p", team=t, imagesets=[i]); a = s.create_annotation_type("a", p)
    im = s.add_image(i, "x.svs", 100000, 100000)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 90000, (1_000_000, 2))
    print("ready", flush=True)
    s.add_boxes(im, a, np.hstack([xy, xy + 10]))   # one long call (seconds)
    print("finished", flush=True)
""")


def test_ctrl_c_interrupts_one_long_call():
    p = subprocess.Popen([sys.executable, "-c", SLOW], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.8)
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert "KeyboardInterrupt" in err, err
        assert "finished" not in out
        assert time.monotonic() - t < 2
    finally:
        p.kill()
