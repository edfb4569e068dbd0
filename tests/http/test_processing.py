"""Model-assisted annotation (issue 16) against `exact serve`: EXACT's processing API through the
real EXACT-Sync client, and model plugins run by the server's job worker against the example model
(examples/colour_model.py) served on 127.0.0.1 by the fixture, beside misbehaving models."""

import io
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
from PIL import Image
from conftest import CMU, PASSWORD, REPO, Server, exact_bin, free_port, wait_for

sys.path.insert(0, str(REPO / "examples"))
import colour_model  # noqa: E402
from exact_sync.v1.api.processing_api import ProcessingApi  # noqa: E402
from exact_sync.v1.api_client import ApiClient  # noqa: E402
from exact_sync.v1.configuration import Configuration  # noqa: E402
from exact_sync.v1.models import PluginJob, PluginResult, PluginResultAnnotation, PluginResultEntry  # noqa: E402


class Models(BaseHTTPRequestHandler):
    """`/colour/` is the example model; the other paths misbehave as their names say."""
    calls = []
    answers = {}
    stall = threading.Event()
    gate = threading.Event()
    token_gate = threading.Event()
    tokens = []

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        path = self.path.split("?")[0]
        Models.calls.append(self.path)
        tile = int(self.path.split("tile=")[1].split("&")[0])
        if path == "/gate/" and tile >= 1:
            Models.gate.wait(30)
        if path == "/token/":
            # A model_input "url" request: keep it, and fetch the pixels with its token.
            req = json.loads(data)
            Models.tokens.append(req)
            if tile >= 1:
                Models.token_gate.wait(30)
            got = requests.get(req["tile_url"], headers={"Authorization": "Bearer " + req["token"]})
            if got.status_code != 200:
                return self.answer(500, got.content)
            data = got.content
        if path == "/flaky/" and tile >= 1:
            return self.answer(500, b"model crashed")
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
        answer = colour_model.segment(data)
        Models.answers[self.path] = answer
        self.answer(200, json.dumps(answer).encode())

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
    Models.gate.set()
    Models.token_gate.set()
    httpd.shutdown()


@pytest.fixture(scope="module")
def real_model():
    """examples/colour_model.py as its own process, as a user would run it."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "examples/colour_model.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/", proc, "colour_model.py")
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def srv(model_url, real_model):
    data = Path(tempfile.mkdtemp(prefix="exact-processing-test-"))
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD, EXACT_MODEL_HOSTS=f"{model_url}/,{real_model}/")
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


def test_exact_sync_deletes_cascade_into_a_restorable_trash(srv, world, tmp_path):
    """EXACT-Sync's destroy_* calls: EXACT's cascade (plugin > jobs, results > entries >
    result annotations, bitmaps), every delete restorable as it was, with its ids and files."""
    api = sync_api(srv)
    img = world["image"]["id"]
    base = "/api/v1/processing"
    icon = tmp_path / "icon.png"
    icon.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\1" * 32)
    plugin = api.create_plugin(name="Deletable", author="lab", package="del", contact="a@b.org",
                               abouturl="https://example.org", icon=str(icon),
                               products=[world["product"]])
    job = api.create_plugin_job(body=PluginJob(plugin=plugin.id, image=img))
    result = api.create_plugin_result(body=PluginResult(image=img, job=job.id, plugin=plugin.id,
                                                        entries=[]))
    entry = api.create_plugin_result_entry(body=PluginResultEntry(
        pluginresult=result.id, name="cells", annotation_results=[], bitmap_results=[]))
    anns = [api.create_plugin_result_annotation(body=PluginResultAnnotation(
        pluginresultentry=entry.id, image=img, annotation_type=world["tissue"],
        vector={"x1": 10 * i, "y1": 10, "x2": 10 * i + 5, "y2": 15}, score=0.1 * i,
        generated=True)) for i in range(1, 4)]
    bitmap = srv.ok(srv.post(f"{base}/pluginresultbitmaps/",
                             files={"bitmap": ("heat.png", icon.read_bytes(), "image/png")},
                             data={"pluginresultentry": entry.id, "name": "heat"}), 201).json()
    ann_ids = sorted(a.id for a in anns)

    # Someone outside the team may not delete (and sees nothing).
    srv.ok(srv.post("/api/v1/users/users/", json={"username": "proc-outsider",
                                                  "password": "outsider-pw-1"}), 201)
    outsider = requests.delete(f"{srv.url}{base}/pluginresultannotations/{anns[0].id}/",
                               auth=("proc-outsider", "outsider-pw-1"))
    assert outsider.status_code == 404, outsider.text

    # One result annotation: gone (404), listed in the trash, restored as it was.
    api.destroy_plugin_result_annotation(anns[0].id)
    assert srv.get(f"{base}/pluginresultannotations/{anns[0].id}/").status_code == 404
    assert sorted(api.retrieve_plugin_result_entry(entry.id).annotation_results) == ann_ids[1:]
    trash = srv.ok(srv.get(f"{base}/trash/")).json()["results"]
    assert (trash[0]["collection"], trash[0]["object"], trash[0]["records"]) == \
        ("pluginresultannotations", anns[0].id, 1), trash
    back = srv.ok(srv.post(trash[0]["restore"])).json()
    assert back["id"] == anns[0].id and back["vector"] == anns[0].vector, back
    assert srv.post(trash[0]["restore"]).status_code == 404  # not in the trash any more

    # A bitmap: record and file URL gone.
    api.destroy_plugin_result_bitmap(bitmap["id"])
    assert srv.get(bitmap["bitmap"]).status_code == 404
    srv.ok(srv.post(f"{base}/pluginresultbitmaps/{bitmap['id']}/restore/"))

    # A result takes its entries, their annotations and bitmaps in one go.
    api.destroy_plugin_result(result.id)
    under = [f"pluginresults/{result.id}", f"pluginresultentrys/{entry.id}",
             f"pluginresultbitmaps/{bitmap['id']}"] + \
        [f"pluginresultannotations/{a}" for a in ann_ids]
    assert [srv.get(f"{base}/{u}/").status_code for u in under] == [404] * len(under)
    assert srv.ok(srv.get(f"{base}/trash/")).json()["results"][0]["records"] == 6
    srv.ok(srv.post(f"{base}/pluginresults/{result.id}/restore/"))
    got = api.retrieve_plugin_result_entry(entry.id)
    assert sorted(got.annotation_results) == ann_ids and got.bitmap_results == [bitmap["id"]]
    assert srv.ok(srv.get(bitmap["bitmap"])).content == icon.read_bytes()

    # What a restore hangs on must be there: an entry whose result went since waits for it.
    api.destroy_plugin_result_entry(entry.id)
    api.destroy_plugin_result(result.id)
    early = srv.post(f"{base}/pluginresultentrys/{entry.id}/restore/")
    assert early.status_code == 400 and "restore that first" in early.text, early.text
    srv.ok(srv.post(f"{base}/pluginresults/{result.id}/restore/"))
    srv.ok(srv.post(f"{base}/pluginresultentrys/{entry.id}/restore/"))
    assert sorted(api.retrieve_plugin_result_entry(entry.id).annotation_results) == ann_ids

    # A plugin with a queued job is refused; once cancelled it goes with its jobs and results.
    busy = srv.delete(f"{base}/plugins/{plugin.id}/")
    assert busy.status_code == 400 and "cancel it first" in busy.text, busy.text
    srv.ok(srv.post(f"{base}/pluginjobs/{job.id}/cancel/"))
    api.destroy_plugin(plugin.id)
    gone = [f"plugins/{plugin.id}", f"pluginjobs/{job.id}", f"pluginresults/{result.id}",
            f"pluginresultentrys/{entry.id}"]
    assert [srv.get(f"{base}/{u}/").status_code for u in gone] == [404] * len(gone)
    srv.ok(srv.post(f"{base}/plugins/{plugin.id}/restore/"))
    assert srv.ok(srv.get(f"{base}/plugins/{plugin.id}/")).json()["results"] == [result.id]
    assert srv.ok(srv.get(f"{base}/pluginjobs/{job.id}/")).json()["state"] == "cancelled"
    assert srv.ok(srv.get(api.retrieve_plugin(plugin.id).icon)).content == icon.read_bytes()
    assert sorted(api.retrieve_plugin_result_entry(entry.id).annotation_results) == ann_ids


def test_result_bitmap_as_deep_zoom_overlay_aligned_with_the_slide(srv, world):
    """A 2 × 2 colour bitmap stretched over level-0 x 512..1536, y 256..768 of the CMU slide
    (2220 × 2967): its overlay tiles show each quadrant where it lies, at two levels."""
    img = world["image"]["id"]
    base = "/api/v1/processing"
    plugin = srv.ok(srv.post(f"{base}/plugins/", json={"name": "overlay maker",
                                                        "products": [world["product"]]}), 201)
    result = srv.ok(srv.post(f"{base}/pluginresults/", json={
        "image": img, "plugin": plugin.json()["id"]}), 201).json()
    entry = srv.ok(srv.post(f"{base}/pluginresultentrys/", json={
        "pluginresult": result["id"], "name": "overlay"}), 201).json()
    quad = Image.new("RGB", (2, 2))
    for xy, colour in {(0, 0): (255, 0, 0), (1, 0): (0, 255, 0), (0, 1): (0, 0, 255),
                       (1, 1): (255, 255, 255)}.items():
        quad.putpixel(xy, colour)
    buf = io.BytesIO()
    quad.save(buf, "PNG")
    bm = srv.ok(srv.post(f"{base}/pluginresultbitmaps/",
                         files={"bitmap": ("quad.png", buf.getvalue(), "image/png")},
                         data={"pluginresultentry": entry["id"], "name": "quadrants",
                               "channels": 3, "default_alpha": 0.5,
                               "location_rect": '{"x": 512, "y": 256, "w": 1024, "h": 512}'}),
                 201).json()
    dzi = srv.ok(srv.get(bm["overlay"])).text
    assert 'TileSize="256"' in dzi and 'Width="2220" Height="2967"' in dzi, dzi
    files = bm["overlay"].replace("overlay.dzi", "overlay_files")

    def tile(level, col, row):
        r = srv.ok(srv.get(f"{files}/{level}/{col}_{row}.png"))
        assert r.headers["content-type"] == "image/png"
        return Image.open(io.BytesIO(r.content)).convert("RGBA")

    red, green, blue, white, clear = ((255, 0, 0, 128), (0, 255, 0, 128), (0, 0, 255, 128),
                                      (255, 255, 255, 128), (0, 0, 0, 0))
    top = 12  # ceil(log2(2967))
    # Full resolution: one tile inside the red quadrant, one inside the white, one outside.
    assert set(tile(top, 2, 1).getdata()) == {red}
    assert set(tile(top, 4, 2).getdata()) == {white}
    assert set(tile(top, 1, 0).getdata()) == {clear}
    # Half resolution (a pixel = 2 level-0 pixels): quadrants and their edges where they lie.
    t = tile(top - 1, 1, 1)  # level-0 x 512..1024, y 512..1024
    assert t.getpixel((10, 10)) == blue and t.getpixel((10, 127)) == blue
    assert t.getpixel((10, 128)) == clear and t.getpixel((200, 200)) == clear
    t = tile(top - 1, 2, 0)  # level-0 x 1024..1536, y 0..512
    assert t.getpixel((10, 200)) == green and t.getpixel((10, 127)) == clear
    assert t.getpixel((255, 128)) == green

    # Outside the grid: 404; someone who cannot read the slide: 404 too.
    assert srv.get(f"{files}/{top}/99_0.png").status_code == 404
    assert srv.get(f"{files}/{top + 1}/0_0.png").status_code == 404
    srv.ok(srv.post("/api/v1/users/users/", json={"username": "overlay-outsider",
                                                  "password": "outsider-pw-2"}), 201)
    other = requests.get(f"{srv.url}{files}/{top}/2_1.png", auth=("overlay-outsider",
                                                                 "outsider-pw-2"))
    assert other.status_code == 404, other.text


def model_plugin(srv, world, url, **extra):
    body = {"name": f"model {url}", "products": [world["product"]], "model_url": url,
            "model_version": "1.0", "model_tile_size": 256,
            "model_classes": {"tissue": world["tissue"]}, **extra}
    return srv.ok(srv.post("/api/v1/processing/plugins/", json=body), 201).json()


def run_job(srv, world, plugin, region, wait_for_state=("done", "failed")):
    job = srv.ok(srv.post("/api/v1/processing/pluginjobs/",
                          json={"plugin": plugin["id"], "image": world["image"]["id"],
                                "region": region}), 201).json()
    return wait_job(srv, job["id"], wait_for_state)


def wait_job(srv, job_id, states, timeout=60):
    for _ in range(timeout * 10):
        job = srv.ok(srv.get(f"/api/v1/processing/pluginjobs/{job_id}/")).json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {job}")


def proposals(srv, world, job_id=None):
    got = srv.ok(srv.get("/api/v1/annotations/annotations/",
                         params={"image": world["image"]["id"], "limit": 100000})).json()["results"]
    return [a for a in got if (a.get("meta_data") or {}).get("job", -1) == job_id or
            (job_id is None and (a.get("meta_data") or {}).get("generated"))]


def test_model_urls_must_be_allowed(srv, world, model_url):
    for url in ["http://169.254.169.254/latest/", model_url + "@evil.example/",
                model_url.replace("127.0.0.1", "localhost") + "/colour/",
                model_url + "/colour/../admin"]:
        r = srv.post("/api/v1/processing/plugins/",
                     json={"name": "bad", "products": [world["product"]], "model_url": url})
        assert r.status_code == 403 and "not allowed" in r.text, (url, r.text)
    assert not [p for p in srv.ok(srv.get("/api/v1/processing/plugins/")).json()["results"]
                if p["name"] == "bad"]


def test_job_writes_the_models_proposals_and_review(srv, world, model_url):
    plugin = model_plugin(srv, world, model_url + "/colour/")
    job = run_job(srv, world, plugin, [0, 0, 512, 512])
    assert job["state"] == "done", job
    assert job["tiles_total"] == 4 and job["tiles_done"] == 4 and job["processing_complete"] == 100
    # The stored geometry is the model's answer moved to the tile's place on the slide.
    expected = set()
    for path, answer in Models.answers.items():
        if not path.startswith("/colour/"):
            continue
        q = dict(p.split("=") for p in path.split("?")[1].split("&"))
        for f in answer["features"]:
            ring = f["geometry"]["coordinates"][0][:-1]
            expected.add(tuple((int(q["x"]) + x, int(q["y"]) + y) for x, y in ring))
    got = proposals(srv, world, job["id"])
    assert len(got) == job["proposals"] == len(expected) > 0
    stored = {tuple((a["vector"][f"x{i}"], a["vector"][f"y{i}"]) for i in range(1, 5)) for a in got}
    assert stored == expected
    meta = got[0]["meta_data"]
    assert meta["generated"] is True and meta["model"] == plugin["name"] and meta["version"] == "1.0"

    # The review queue: lowest score first; accept by threshold, reject the rest.
    queue = srv.ok(srv.get("/api/v1/processing/review/",
                           params={"image": world["image"]["id"], "limit": 100000})).json()
    scores = [a["meta_data"]["score"] for a in queue["results"]]
    assert scores == sorted(scores) and queue["count"] == len(got)
    threshold = scores[len(scores) // 2]
    high = [a for a in got if a["meta_data"]["score"] >= threshold]
    r = srv.ok(srv.post("/api/v1/processing/review/accept/",
                        json={"image_set": world["set"], "annotation_type": world["tissue"],
                              "min_score": threshold})).json()
    assert r["accepted"] == len(high) and sorted(r["ids"]) == sorted(a["id"] for a in high)
    a = srv.ok(srv.get(f"/api/v1/annotations/annotations/{high[0]['id']}/")).json()
    assert a["meta_data"]["generated"] is False and not a["deleted"]
    r = srv.ok(srv.post("/api/v1/processing/review/reject/",
                        json={"image": world["image"]["id"]})).json()
    assert r["rejected"] == len(got) - len(high)
    assert srv.ok(srv.get("/api/v1/processing/review/",
                          params={"image": world["image"]["id"]})).json()["count"] == 0


@pytest.mark.parametrize("path,reason,extra", [
    ("/error/", "HTTP 500", {}),
    ("/garbage/", "malformed JSON", {}),
    ("/outside/", "outside the 256", {}),
    ("/many/", "too many objects", {"model_max_objects": 1000}),
    ("/slow/", "did not answer within 1 s", {"model_timeout": 1}),
])
def test_bad_models_fail_the_job_with_the_reason(srv, world, model_url, path, reason, extra):
    plugin = model_plugin(srv, world, model_url + path, **extra)
    job = run_job(srv, world, plugin, [0, 0, 256, 256])
    assert job["state"] == "failed" and reason in job["error_message"], job
    assert job["tiles_done"] == 0 and proposals(srv, world, job["id"]) == []


def test_what_was_done_stays_cancel_and_resume(srv, world, model_url):
    flaky = model_plugin(srv, world, model_url + "/flaky/")
    job = run_job(srv, world, flaky, [0, 0, 512, 256])
    assert job["state"] == "failed" and "HTTP 500" in job["error_message"]
    assert job["tiles_done"] == 1 and len(proposals(srv, world, job["id"])) == job["proposals"] > 0

    gated = model_plugin(srv, world, model_url + "/gate/")
    job = srv.ok(srv.post("/api/v1/processing/pluginjobs/",
                          json={"plugin": gated["id"], "image": world["image"]["id"],
                                "region": [0, 0, 768, 256]}), 201).json()
    for _ in range(300):  # until the worker waits on tile 1
        if any(c.startswith("/gate/") and "tile=1" in c for c in Models.calls):
            break
        time.sleep(0.1)
    cancelled = srv.ok(srv.post(f"/api/v1/processing/pluginjobs/{job['id']}/cancel/")).json()
    assert cancelled["state"] == "cancelled"
    Models.gate.set()
    time.sleep(1)
    assert srv.ok(srv.get(f"/api/v1/processing/pluginjobs/{job['id']}/")).json()["state"] == "cancelled"
    assert not any(c.startswith("/gate/") and "tile=2" in c for c in Models.calls)
    resumed = srv.ok(srv.post(f"/api/v1/processing/pluginjobs/{job['id']}/resume/")).json()
    assert resumed["state"] == "queued"
    done = wait_job(srv, job["id"], ("done", "failed"))
    assert done["state"] == "done" and done["tiles_done"] == 3, done
    gate_calls = [c for c in Models.calls if c.startswith("/gate/")]
    assert sum("tile=0&" in c or c.endswith("tile=0") for c in gate_calls) == 1  # not redone
    assert len(proposals(srv, world, job["id"])) == done["proposals"]


def test_set_job_runs_every_image_and_cancels_together(srv, world, model_url):
    """`{plugin, image_set}` starts a job per image of the set; the worker (a pool of
    EXACT_MODEL_WORKERS) runs each to the end; set_jobs/cancel/ then finds nothing to stop."""
    plugin = model_plugin(srv, world, model_url + "/colour/", model_tile_size=1024,
                          model_version="set")
    jobs = srv.ok(srv.post("/api/v1/processing/pluginjobs/",
                           json={"plugin": plugin["id"], "image_set": world["set"]}), 201).json()
    assert [j["image"] for j in jobs] == [world["image"]["id"]], jobs
    done = [wait_job(srv, j["id"], ("done", "failed"), timeout=120) for j in jobs]
    assert [j["state"] for j in done] == ["done"], done
    assert done[0]["tiles_total"] == 9 and done[0]["tiles_done"] == 9, done  # 2220 × 2967 / 1024
    cancel = f"/api/v1/processing/set_jobs/cancel/?image_set={world['set']}&plugin={plugin['id']}"
    left = srv.ok(srv.post(cancel)).json()
    assert left == [], left
    bad = srv.post("/api/v1/processing/pluginjobs/",
                   json={"plugin": plugin["id"], "image_set": world["set"], "image": 1})
    assert bad.status_code == 400 and "image_set" in bad.text, bad.text


def rings(got):
    return {tuple((a["vector"][f"x{i}"], a["vector"][f"y{i}"]) for i in range(1, 5)) for a in got}


def test_real_model_takes_jpeg_a_tile_url_with_a_token_and_prompts(srv, world, real_model):
    """The example model as its own process: PNG, JPEG and `model_input: url` (it fetches the
    region with the token) agree; prompts reach it and keep only the blocks they touch."""
    region = [512, 512, 512, 512]
    png = run_job(srv, world, model_plugin(srv, world, real_model + "/", model_version="png"),
                  region)
    assert png["state"] == "done" and png["proposals"] > 2, png
    want = rings(proposals(srv, world, png["id"]))
    url_plugin = model_plugin(srv, world, real_model + "/", model_version="url", model_input="url")
    assert url_plugin["model"]["input"] == "url", url_plugin
    by_url = run_job(srv, world, url_plugin, region)
    assert by_url["state"] == "done", by_url
    assert rings(proposals(srv, world, by_url["id"])) == want  # the very pixels of the PNG job
    jpeg = run_job(srv, world, model_plugin(srv, world, real_model + "/", model_version="jpeg",
                                            model_input="jpeg"), region)
    assert jpeg["state"] == "done", jpeg
    got = rings(proposals(srv, world, jpeg["id"]))
    assert len(got & want) >= 0.9 * len(want), (len(got & want), len(want))

    # Prompts: a point inside one block and a box inside another keep just those two.
    first, second = sorted(want)[:2]
    point = {"type": "point", "x": first[0][0] + 5, "y": first[0][1] + 5}
    box = {"type": "box", "x1": second[0][0] + 2, "y1": second[0][1] + 2,
           "x2": second[0][0] + 9, "y2": second[0][1] + 9}
    job = srv.ok(srv.post("/api/v1/processing/pluginjobs/", json={
        "plugin": url_plugin["id"], "image": world["image"]["id"], "region": region,
        "prompts": [point, box]}), 201).json()
    assert job["prompts"] == [dict(point, label=1), box], job
    job = wait_job(srv, job["id"], ("done", "failed"))
    assert job["state"] == "done", job
    assert rings(proposals(srv, world, job["id"])) == {first, second}
    for bad, why in [({"type": "point", "x": -1, "y": 5}, "outside"),
                     ({"type": "box", "x1": 5, "y1": 5, "x2": 4, "y2": 9}, "x2 > x1"),
                     ({"type": "circle"}, "[0]"), ([point] * 101, "at most 100")]:
        r = srv.post("/api/v1/processing/pluginjobs/", json={
            "plugin": url_plugin["id"], "image": world["image"]["id"],
            "prompts": bad if isinstance(bad, list) else [bad]})
        assert r.status_code == 400 and "prompts" in r.text and why in r.text, r.text
    r = srv.post("/api/v1/processing/plugins/", json={
        "name": "bad input", "products": [world["product"]], "model_url": real_model + "/",
        "model_input": "tiff"})
    assert r.status_code == 400 and "model_input" in r.text, r.text


def test_image_tokens_read_one_image_only_and_end_with_the_job(srv, world, model_url):
    plugin = model_plugin(srv, world, model_url + "/token/", model_input="url")
    Models.tokens.clear()
    job = srv.ok(srv.post("/api/v1/processing/pluginjobs/", json={
        "plugin": plugin["id"], "image": world["image"]["id"], "region": [0, 0, 512, 256]}),
        201).json()
    for _ in range(300):  # until the worker waits on tile 1
        if len(Models.tokens) >= 2:
            break
        time.sleep(0.1)
    req = Models.tokens[-1]
    assert req["tile"] == 1 and req["image"] == world["image"]["id"] and req["w"] == 256
    bearer = {"Authorization": "Bearer " + req["token"]}
    tile = requests.get(req["tile_url"], headers=bearer)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(tile.content)).size == (256, 256)
    jpeg = requests.get(req["tile_url"] + "&format=jpeg&token=" + req["token"])
    assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    # The token authenticates nothing else, not even reading the same image's record.
    for path in [f"/api/v1/images/images/{world['image']['id']}/", "/api/v1/auth/me/",
                 f"/api/v1/images/images/{world['image']['id']}/get_patch/?x=0&y=0&level=0"
                 "&width=8&height=8"]:
        assert requests.get(srv.url + path, headers=bearer).status_code == 401, path
    # Basic credentials are not an image token.
    r = requests.get(req["tile_url"], auth=("exact", PASSWORD))
    assert r.status_code == 401 and "token" in r.json()["detail"], r.text
    Models.token_gate.set()
    assert wait_job(srv, job["id"], ("done", "failed"))["state"] == "done"
    # Revoked when the job stopped.
    assert requests.get(req["tile_url"], headers=bearer).status_code == 401


def test_review_by_ids_is_atomic(srv, world, model_url):
    plugin = model_plugin(srv, world, model_url + "/colour/", model_version="ids")
    job = run_job(srv, world, plugin, [1024, 1024, 256, 256])
    mine = sorted(proposals(srv, world, job["id"]), key=lambda a: (a["meta_data"]["score"], a["id"]))
    assert len(mine) >= 3, job
    low, second, third = mine[0]["id"], mine[1]["id"], mine[2]["id"]
    r = srv.ok(srv.post("/api/v1/processing/review/accept/", json={"ids": [low]})).json()
    assert r == {"accepted": 1, "ids": [low]}
    a = srv.ok(srv.get(f"/api/v1/annotations/annotations/{low}/")).json()
    assert a["meta_data"]["generated"] is False and a["meta_data"]["score"] == mine[0]["meta_data"]["score"]
    # Not a proposal any more; an unknown id; a wrong image: refused, naming it, nothing written.
    for body, why in [({"ids": [low]}, f"annotation {low} is not an unreviewed"),
                      ({"ids": [second, 10**12]}, "ids"),
                      ({"ids": [second], "image": world["image"]["id"] + 10**6}, ""),
                      ({"ids": []}, "at least one")]:
        r = srv.post("/api/v1/processing/review/reject/", json=body)
        assert r.status_code in (400, 404) and why in r.text, (body, r.status_code, r.text)
    assert srv.ok(srv.get(f"/api/v1/annotations/annotations/{second}/")).json()["deleted"] is False
    r = srv.ok(srv.post("/api/v1/processing/review/reject/",
                        params={"ids": f"{second},{third}", "image": world["image"]["id"]})).json()
    assert r == {"rejected": 2, "ids": [second, third]}
    queue = srv.ok(srv.get("/api/v1/processing/review/",
                           params={"image": world["image"]["id"], "limit": 100000})).json()
    left = {a["id"] for a in queue["results"]}
    assert not left & {low, second, third}
    history = srv.ok(srv.get(f"/api/v1/annotations/annotations/{low}/history/"))
    assert history.status_code == 200
