"""Model-assisted annotation (issue 16) against `exact serve`: EXACT's processing API through the
real EXACT-Sync client, and model plugins run by the server's job worker against the example model
(examples/colour_model.py) served on 127.0.0.1 by the fixture, beside misbehaving models."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import CMU, PASSWORD, REPO, Server, exact_bin, free_port, wait_for

sys.path.insert(0, str(REPO / "examples"))
import colour_model  # noqa: E402

from exact_sync.v1.api.processing_api import ProcessingApi  # noqa: E402
from exact_sync.v1.api_client import ApiClient  # noqa: E402
from exact_sync.v1.configuration import Configuration  # noqa: E402
from exact_sync.v1.models import (PluginJob, PluginResult, PluginResultAnnotation,  # noqa: E402
                                  PluginResultEntry)


class Models(BaseHTTPRequestHandler):
    """`/colour/` is the example model; the other paths misbehave as their names say."""
    calls = []
    stall = threading.Event()

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        path = self.path.split("?")[0]
        Models.calls.append(self.path)
        if path == "/slow/":
            Models.stall.wait(30)
        if path == "/error/":
            return self.answer(500, b"model crashed")
        if path == "/garbage/":
            return self.answer(200, b'{"type": "FeatureCollection", "features": [{"geometry": 5')
        if path == "/outside/":
            ring = [[0, 0], [5000, 0], [5000, 10], [0, 0]]
            body = {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                 "properties": {"class": "tissue", "score": 0.5}}]}
            return self.answer(200, json.dumps(body).encode())
        if path == "/many/":
            pt = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 3]},
                  "properties": {"class": "tissue", "score": 0.5}}
            return self.answer(200, json.dumps({"type": "FeatureCollection",
                                                "features": [pt] * 50_000}).encode())
        self.answer(200, json.dumps(colour_model.segment(data)).encode())

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def model_url():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Models)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Models.stall.set()
    httpd.shutdown()


@pytest.fixture(scope="module")
def srv(model_url):
    data = Path(tempfile.mkdtemp(prefix="exact-processing-test-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD, EXACT_MODEL_HOSTS=model_url + "/")
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data / "d"), "--bind",
                             f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/healthz", proc, "exact serve")
    yield Server(url, data)
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(scope="module")
def world(srv):
    """A team, set, product with a polygon type, and the CMU slide uploaded."""
    team = srv.ok(srv.post("/api/v1/users/teams/", json={"name": "proc team"}), 201).json()["id"]
    set_id = srv.new_set("proc set", team)
    product = srv.ok(srv.post("/api/v1/administration/products/",
                              json={"name": "proc product", "team": team,
                                    "imagesets": [set_id]}), 201).json()["id"]
    tissue = srv.ok(srv.post("/api/v1/annotations/annotation_types/",
                             json={"name": "tissue", "vector_type": 5, "product": product}),
                    201).json()["id"]
    image = srv.wait_ready(srv.upload(set_id, CMU)["results"][0]["id"])
    return {"team": team, "set": set_id, "product": product, "tissue": tissue, "image": image}


def sync_api(srv):
    conf = Configuration()
    conf.username, conf.password, conf.host = "exact", PASSWORD, srv.url
    return ProcessingApi(ApiClient(conf))


def test_exact_sync_processing_calls(srv, world, tmp_path):
    api = sync_api(srv)
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    plugin = api.create_plugin(name="Mitosis finder", author="lab", package="mitosis",
                               contact="lab@example.org", abouturl="https://example.org",
                               icon=str(icon), products=[world["product"]])
    assert plugin.name == "Mitosis finder" and plugin.products == [world["product"]], plugin
    got = srv.ok(srv.get(plugin.icon))
    assert got.content == icon.read_bytes()
    assert [p.id for p in api.list_plugins().results] == [plugin.id]

    job = api.create_plugin_job(body=PluginJob(plugin=plugin.id, image=world["image"]["id"]))
    assert job.plugin == plugin.id and job.image == world["image"]["id"]
    job = api.partial_update_plugin_job(job.id, processing_complete=40.0,
                                        attached_worker="worker-1", error_message="")
    assert job.processing_complete == 40.0 and job.attached_worker == "worker-1"
    assert api.retrieve_plugin_job(job.id).processing_complete == 40.0

    result = api.create_plugin_result(body=PluginResult(image=world["image"]["id"], job=job.id,
                                                        plugin=plugin.id, entries=[]))
    entry = api.create_plugin_result_entry(body=PluginResultEntry(
        pluginresult=result.id, name="mitoses", annotation_results=[], bitmap_results=[]))
    vector = {"x1": 100, "y1": 120, "x2": 140, "y2": 160}
    ra = api.create_plugin_result_annotation(body=PluginResultAnnotation(
        pluginresultentry=entry.id, image=world["image"]["id"], annotation_type=world["tissue"],
        vector=vector, score=0.87, meta_data={"model": "v1"}, generated=True))
    assert ra.vector == vector and ra.score == 0.87 and ra.meta_data == {"model": "v1"}
    listed = api.list_plugin_result_annotations().results
    assert [a.id for a in listed] == [ra.id]
    assert api.retrieve_plugin_result_entry(entry.id).annotation_results == [ra.id]
    assert api.list_plugin_results().results[0].entries == [entry.id]
    assert srv.ok(srv.get(f"/api/v1/processing/plugins/{plugin.id}/")).json()["results"] == [result.id]

    # A bitmap overlay: multipart file plus EXACT's fields; the file comes back as stored.
    r = srv.ok(srv.post("/api/v1/processing/pluginresultbitmaps/",
                        files={"bitmap": ("heat.png", icon.read_bytes(), "image/png")},
                        data={"pluginresultentry": entry.id, "name": "heat", "channels": 1,
                              "scale_min": 0, "scale_max": 1, "default_alpha": 0.5,
                              "transformation_matrix": "[[1,0,0],[0,1,0],[0,0,1]]"}), 201).json()
    assert r["channels"] == 1 and r["transformation_matrix"][0] == [1, 0, 0]
    assert srv.ok(srv.get(r["bitmap"])).content == icon.read_bytes()
    assert api.retrieve_plugin_result_entry(entry.id).bitmap_results == [r["id"]]

    # EXACT's form endpoint.
    legacy = srv.ok(srv.post("/processing/api/plugin_job/create/",
                             data={"image_id": world["image"]["id"], "plugin_id": plugin.id}), 201)
    assert legacy.json()["plugin"] == plugin.id

    # Bad input: named fields, nothing stored.
    bad = srv.post("/api/v1/processing/pluginjobs/", json={"plugin": plugin.id, "image": 999999})
    assert bad.status_code in (400, 404), bad.text
    bad = srv.post("/api/v1/processing/pluginresultannotations/",
                   json={"pluginresultentry": entry.id, "vector": "{not json"})
    assert bad.status_code == 400 and "vector" in bad.text, bad.text
    assert len(api.list_plugin_result_annotations().results) == 1
