"""Annotation files over HTTP and the CLI: `POST …/image_sets/<id>/import/` answers a report
(400 naming the refused feature, nothing written), `GET …/export/?format=` streams the file,
EXACT's label upload, and `exact import` / `exact export` on a data directory."""

import json
import os
import subprocess
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import requests

from conftest import PASSWORD, exact_bin, free_port, wait_for

FEATURES = [
    {"type": "Feature", "id": "5b7f0a9f-0000-4000-8000-000000000001",
     "geometry": {"type": "Polygon", "coordinates": [[[10, 10], [60, 10], [60, 40], [10, 40], [10, 10]]]},
     "properties": {"objectType": "annotation", "classification": {"name": "mitosis", "color": [255, 0, 0]}}},
    {"type": "Feature", "id": "5b7f0a9f-0000-4000-8000-000000000002",
     "geometry": {"type": "Point", "coordinates": [100, 120]},
     "properties": {"objectType": "detection", "classification": {"name": "lymphocyte"},
                    "measurements": {"area": 12.5}}},
]


def world(server, name):
    team = server.ok(server.post("/api/v1/users/teams/", json={"name": f"team {name}"}), 201).json()["id"]
    set_id = server.new_set(name, team)
    product = server.ok(server.post("/api/v1/administration/products/",
                                    json={"name": f"p {name}", "team": team, "imagesets": [set_id]}), 201).json()["id"]
    server.ok(server.post("/api/v1/annotations/annotation_types/",
                          json={"name": "mitosis", "vector_type": 1, "product": product}), 201)
    server.ok(server.post("/api/v1/images/images/",
                          json={"name": "case1.svs", "image_set": set_id, "width": 1000, "height": 800}), 201)
    return set_id


def annotations(server, set_id):
    images = server.ok(server.get(f"/api/v1/images/images/?image_set={set_id}")).json()["results"]
    out = []
    for i in images:
        out += server.ok(server.get(f"/api/v1/annotations/annotations/?image={i['id']}&limit=1000")).json()["results"]
    return out


def test_import_report_refusal_and_streamed_export(server):
    set_id = world(server, "interop-http")
    body = json.dumps(FEATURES).encode()
    url = f"/api/v1/images/image_sets/{set_id}/import/"
    # "lymphocyte" is not a type of the set: refused by name, nothing written.
    r = server.post(url, files={"file": ("cells.geojson", body)})
    assert r.status_code == 400, r.text
    rep = r.json()
    assert rep["refused"][0]["place"] == "feature 2" and "unknown class" in rep["refused"][0]["reason"]
    assert "nothing was written" in rep["detail"]
    assert annotations(server, set_id) == []
    r = server.ok(server.post(url, files={"file": ("cells.geojson", body)}, data={"create_missing": "true"}))
    assert (r.json()["created"], r.json()["created_types"]) == (2, ["lymphocyte"])
    again = server.ok(server.post(url, files={"file": ("cells.geojson", body)}, data={"create_missing": "true"}))
    assert (again.json()["created"], again.json()["skipped_duplicates"]) == (0, 2)
    got = annotations(server, set_id)
    assert sorted(a["unique_identifier"] for a in got) == [f["id"] for f in FEATURES]
    # Streamed export, then every format parses and names the coordinate frame.
    r = server.ok(server.get(f"/api/v1/images/image_sets/{set_id}/export/?format=geojson", stream=True))
    assert r.headers["content-type"] == "application/geo+json"
    assert "attachment" in r.headers["content-disposition"]
    doc = json.loads(b"".join(r.iter_content(1 << 16)))
    assert [f["id"] for f in doc["features"]] == [f["id"] for f in FEATURES]
    assert doc["features"][1]["properties"]["measurements"] == {"area": 12.5}
    csv = server.ok(server.get(f"/api/v1/images/image_sets/{set_id}/export/?format=csv")).text
    assert csv.splitlines()[0].startswith("image,type,vector_type,vector,uuid")
    coco = server.ok(server.get(f"/api/v1/images/image_sets/{set_id}/export/?format=coco")).json()
    assert len(coco["annotations"]) == 2 and coco["info"]["coordinate_frame"].startswith("level-0")
    # ASAP and ImageScope XML: well-formed for Python's expat, the tools' layout, and an import
    # of our own export skips everything (same UUIDs).
    for fmt, root, item in [("asap", "ASAP_Annotations", ".//Annotations/Annotation"),
                            ("imagescope", "Annotations", ".//Regions/Region")]:
        r = server.ok(server.get(f"/api/v1/images/image_sets/{set_id}/export/?format={fmt}"))
        assert r.headers["content-type"] == "application/xml"
        tree = ElementTree.fromstring(r.content)
        assert tree.tag == root and len(tree.findall(item)) == 2, r.text
        assert b"level-0 pixels" in r.content
        again = server.ok(server.post(url, files={"file": (f"set.{fmt}.xml", r.content)}))
        assert (again.json()["format"], again.json()["created"], again.json()["skipped_duplicates"]) == (fmt, 0, 2)
    r = server.post(url, files={"file": ("x.xml", b"<ASAP_Annotations><Annotations><Annotation Type=\"Dot\">")})
    assert r.status_code == 400 and "ends inside <Annotation>" in r.text, r.text
    r = server.get(f"/api/v1/images/image_sets/{set_id}/export/?format=shapefile")
    assert r.status_code == 400 and "unknown format" in r.json()["detail"] + json.dumps(r.json())
    r = server.get("/api/v1/images/image_sets/999999/export/?format=csv")
    assert r.status_code == 404
    # Malformed input names the line; truncated files too.
    r = server.post(url, files={"file": ("x.geojson", body[:-30])}, data={"format": "geojson"})
    assert r.status_code == 400 and "feature 2 (line 1" in r.text, r.text
    # Anonymous: no import.
    assert requests.post(server.url + url, files={"file": ("a", body)}).status_code in (401, 403)


def wait_job(server, url, timeout=60):
    import time
    start = time.monotonic()
    while True:
        job = server.ok(server.get(url)).json()
        if job["finished"]:
            return job
        assert 0 <= job["progress"] < 1 and job["state"] in ("queued", "running"), job
        assert time.monotonic() - start < timeout, job
        time.sleep(0.05)


def count(server, set_id):
    image = server.ok(server.get(f"/api/v1/images/images/?image_set={set_id}")).json()["results"][0]["id"]
    return server.ok(server.get(f"/api/v1/annotations/annotations/?image={image}&limit=1")).json()["count"]


def boxes(n, first=0):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"6c1e0000-0000-4000-8000-{i:012d}",
         "geometry": {"type": "Polygon", "coordinates": [[[x, 5], [x + 4, 5], [x + 4, 9], [x, 9], [x, 5]]]},
         "properties": {"classification": {"name": "mitosis"}}}
        for i, x in ((i, (i % 900) + 1) for i in range(first, first + n))]}


def test_import_as_a_job(server):
    """`?async=1`: 202 with the job's URL at once; the job reports its state and progress, and
    at the end the report, or the refused feature / the syntax error's place with nothing
    written; only its user sees it."""
    set_id = world(server, "interop-job")
    url = f"/api/v1/images/image_sets/{set_id}/import/"
    n = 3000
    r = server.post(url + "?async=1", files={"file": ("boxes.geojson", json.dumps(boxes(n)).encode())})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == job["url"] == f"/api/v1/images/import_jobs/{job['id']}/"
    assert job["state"] in ("queued", "running") and job["file_name"] == "boxes.geojson"
    assert job["bytes_total"] > 0 and job["image_set"] == set_id
    done = wait_job(server, job["url"])
    assert done["state"] == "done" and done["error"] is None, done
    assert (done["progress"], done["written"], done["items_read"]) == (1.0, n, n)
    assert done["report"]["created"] == n and done["report"]["written"] is True
    assert count(server, set_id) == n
    # The form field works as the query does; the same file again skips everything.
    r = server.post(url, files={"file": ("boxes.geojson", json.dumps(boxes(n)).encode())},
                    data={"async": "1"})
    assert r.status_code == 202, r.text
    again = wait_job(server, r.json()["url"])
    assert (again["state"], again["report"]["created"], again["report"]["skipped_duplicates"]) == ("done", 0, n)
    # Refused: an unknown class in feature 2 of 3; nothing written.
    bad = boxes(3, first=n)
    bad["features"][1]["properties"]["classification"]["name"] = "nope"
    r = server.post(url + "?async=1", files={"file": ("bad.geojson", json.dumps(bad).encode())})
    refused = wait_job(server, r.json()["url"])
    assert refused["state"] == "refused" and refused["error_kind"] == "Refused", refused
    assert refused["report"]["refused"][0]["place"] == "feature 2"
    assert "feature 2" in refused["error"] and "nothing was written" in refused["error"]
    # A truncated file: failed, the error names the feature and the line.
    text = json.dumps(boxes(3, first=n + 10), indent=1)
    r = server.post(url + "?async=1", files={"file": ("cut.geojson", text[: len(text) // 2].encode())})
    failed = wait_job(server, r.json()["url"])
    assert failed["state"] == "failed" and failed["error_kind"] == "InvalidInput", failed
    assert "feature " in failed["error"] and "line " in failed["error"]
    assert count(server, set_id) == n
    # The caller's jobs on the set, oldest first; unknown jobs are 404 with a JSON reason.
    listed = server.ok(server.get(url + "jobs/")).json()
    assert [j["id"] for j in listed["results"]] == [job["id"], again["id"], refused["id"], failed["id"]]
    r = server.get("/api/v1/images/import_jobs/999999/")
    assert r.status_code == 404 and "import job" in r.json()["detail"]


def test_exact_label_upload(server):
    set_id = world(server, "interop-labels")
    lines = ("case1.svs|mitosis|{\"x1\": 1, \"y1\": 2, \"x2\": 30, \"y2\": 40}|b|\n"
             "case1.svs|mitosis|{\"x1\": 1, \"y1\": 2, \"x2\": 30, \"y2\": 40}|b|\n"
             "case1.svs|mitosis|not in image||\n")
    r = server.ok(server.post(f"/images/imageset/{set_id}/label-upload/",
                              files={"file": ("labels.txt", lines.encode())}, data={"verify": "on"}))
    assert (r.json()["created"], r.json()["skipped_duplicates"]) == (2, 1), r.text
    got = annotations(server, set_id)
    assert sorted(str(a["vector"]) for a in got) == ["None", "{'x1': 1, 'y1': 2, 'x2': 30, 'y2': 40}"]
    assert all(a["blurred"] for a in got if a["vector"])
    r = server.post(f"/images/imageset/{set_id}/label-upload/",
                    files={"file": ("labels.txt", b"case1.svs|mitosis|{\"x1\": 1}||\n")})
    assert r.status_code == 400 and "line 1" in r.text, r.text


def test_cli_import_and_export(tmp_path):
    data = tmp_path / "d"
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data), "--bind", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    class S:
        url = f"http://127.0.0.1:{port}"
        http = requests.Session()

        def post(self, p, **kw):
            return self.http.post(self.url + p, **kw)

        def ok(self, r, status=200):
            assert r.status_code == status, r.text
            return r

        def new_set(self, name, team):
            return self.ok(self.post("/api/v1/images/image_sets/", json={"name": name, "team": team}), 201).json()["id"]

    s = S()
    s.http.auth = ("exact", PASSWORD)
    try:
        wait_for(s.url + "/healthz", proc, "exact serve")
        set_id = world(s, "cli")
    finally:
        proc.terminate()
        proc.wait(10)
    geo = tmp_path / "in.geojson"
    geo.write_text(json.dumps(FEATURES))
    base = [exact_bin()]
    d = ["--data", str(data)]
    r = subprocess.run(base + ["import", str(geo), "--set", str(set_id)] + d, capture_output=True, text=True)
    assert r.returncode == 1, r
    assert "refused: feature 2: unknown class \"lymphocyte\"" in r.stderr and "nothing was written" in r.stderr
    r = subprocess.run(base + ["import", str(geo), "--set", str(set_id), "--create-missing", "--dry-run"] + d,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "would create 2" in r.stdout, r
    r = subprocess.run(base + ["import", str(geo), "--set", str(set_id), "--create-missing"] + d,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "created 2, skipped 0 as duplicates, refused 0" in r.stdout, r
    r = subprocess.run(base + ["import", str(geo), "--set", str(set_id), "--create-missing"] + d,
                       capture_output=True, text=True)
    assert "created 0, skipped 2 as duplicates" in r.stdout, r
    out = tmp_path / "out.csv"
    r = subprocess.run(base + ["export", "--set", str(set_id), "--format", "csv", "-o", str(out)] + d,
                       capture_output=True, text=True)
    assert r.returncode == 0 and "exported 2 annotations" in r.stderr, r
    rows = out.read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("image,type,")
    r = subprocess.run(base + ["export", "--set", "999", "--format", "csv", "-o", str(tmp_path / "none.csv")] + d,
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not found" in r.stderr and not (tmp_path / "none.csv").exists(), r
    bad = tmp_path / "bad.csv"
    bad.write_text("image,type,vector\ncase1.svs,mitosis,{nope\n")
    r = subprocess.run(base + ["import", str(bad), "--set", str(set_id)] + d, capture_output=True, text=True)
    assert r.returncode == 1 and "row 1 (line 2): vector" in r.stderr, r


def test_import_job_resumes_after_the_server_is_killed(tmp_path):
    """A server killed (SIGKILL) while an import job writes: the restarted server resumes the
    job from its kept upload, reading on from the feature after the batch written before the
    kill (recorded with that batch) instead of reading the file again; at the end every
    annotation of the file is there exactly once and the upload is gone."""
    import signal
    import time
    data = tmp_path / "d"
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)

    def start():
        log = open(tmp_path / "serve.log", "a")
        p = subprocess.Popen([exact_bin(), "serve", "--data", str(data), "--bind", f"127.0.0.1:{port}"],
                             env=env, stdout=log, stderr=log)
        wait_for(f"http://127.0.0.1:{port}/healthz", p, "exact serve")
        return p

    class S:
        url = f"http://127.0.0.1:{port}"
        http = requests.Session()

        def get(self, p, **kw):
            return self.http.get(self.url + p, **kw)

        def post(self, p, **kw):
            return self.http.post(self.url + p, **kw)

        def ok(self, r, status=200):
            assert r.status_code == status, r.text
            return r

        def new_set(self, name, team):
            return self.ok(self.post("/api/v1/images/image_sets/", json={"name": name, "team": team}), 201).json()["id"]

    s = S()
    s.http.auth = ("exact", PASSWORD)
    n = 200_000  # two batches of exact_interop::BATCH: the kill falls between them
    proc = start()
    try:
        set_id = world(s, "resume")
        body = json.dumps(boxes(n)).encode()
        r = s.post(f"/api/v1/images/image_sets/{set_id}/import/?async=1", files={"file": ("big.geojson", body)})
        assert r.status_code == 202, r.text
        url = r.json()["url"]
        assert list((data / "import-jobs").iterdir()), "the upload is kept in the data directory"
        deadline = time.monotonic() + 120
        while True:
            job = s.ok(s.get(url)).json()
            assert not job["finished"], f"the job ended before the server could be killed: {job}"
            if job["written"] > 0:
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        written_before = job["written"]
        assert 0 < written_before < n
        proc = start()
        # `exact jobs --follow` prints the job's progress each second until it ends.
        job_id = url.rstrip("/").rsplit("/", 1)[1]
        cli = [exact_bin(), "jobs", "--server", s.url, "--user", "exact"]
        r = subprocess.run(cli + [job_id, "--follow"], env=dict(env, EXACT_PASSWORD=PASSWORD),
                           capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r
        last = r.stdout.strip().splitlines()[-1]
        assert f"job {job_id} done" in last and "attempt 2" in last and "created " in last, r.stdout
        r = subprocess.run(cli + ["--set", str(set_id)], env=dict(env, EXACT_PASSWORD=PASSWORD),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and f"job {job_id} done" in r.stdout, r
        job = wait_job(s, url, timeout=10)
        assert job["state"] == "done" and job["attempts"] == 2, job
        report = job["report"]
        # The resumed run started at the first feature not written before the kill (one
        # box per feature): nothing before it was read again, nothing was a duplicate.
        resumed = report["resumed_from"]
        assert resumed["written"] == written_before, report
        assert resumed["at"]["format"] == "geojson" and resumed["at"]["feature"] == written_before, report
        assert 0 < resumed["at"]["offset"] < len(body), report
        assert report["created"] == n and report["read"] == n, report
        assert report["skipped_duplicates"] == 0, report
        assert any(f"at feature {written_before + 1} (byte" in note for note in report["notes"]), report
        assert count(s, set_id) == n
        assert not list((data / "import-jobs").iterdir()), "the upload is deleted when the job ends"
    finally:
        proc.terminate()
        proc.wait(10)
