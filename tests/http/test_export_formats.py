"""EXACT's export formats end to end: the v1 API's export-format resources (CRUD with EXACT's
fields, bad templates refused with a 400 naming the field), EXACT's `POST
/annotations/export/<set_id>/` keeping an export and `GET /annotations/export/<id>/download/`
serving its text, the streamed `?format=exact:<name>`, and `exact export --format exact:<name>`."""

import os
import subprocess

import requests
from conftest import PASSWORD, exact_bin, free_port, wait_for

WANT = ('\ncase1.svs|mitosis|{"x1": 10,"y1": 20,"x2": 110,"y2": 70}|\n'
        'case1.svs|mitosis|not in image\n')


class S:
    def __init__(self, port):
        self.url = f"http://127.0.0.1:{port}"
        self.http = requests.Session()
        self.http.auth = ("exact", PASSWORD)

    def __getattr__(self, method):
        return lambda p, **kw: self.http.request(method.upper(), self.url + p, **kw)

    def ok(self, r, status=200):
        assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
        return r


def world(s):
    team = s.ok(s.post("/api/v1/users/teams/", json={"name": "templates"}), 201).json()["id"]
    set_id = s.ok(s.post("/api/v1/images/image_sets/", json={"name": "mitoses", "team": team}), 201).json()["id"]
    product = s.ok(s.post("/api/v1/administration/products/",
                          json={"name": "p", "team": team, "imagesets": [set_id]}), 201).json()["id"]
    typ = s.ok(s.post("/api/v1/annotations/annotation_types/",
                      json={"name": "mitosis", "vector_type": 1, "product": product}), 201).json()["id"]
    image = s.ok(s.post("/api/v1/images/images/",
                        json={"name": "case1.svs", "image_set": set_id, "width": 1000, "height": 500}), 201).json()["id"]
    for vector in ({"x1": 10, "y1": 20, "x2": 110, "y2": 70}, None):
        s.ok(s.post("/api/v1/annotations/annotations/",
                    json={"image": image, "annotation_type": typ, "vector": vector}), 201)
    return team, set_id, typ


def test_export_formats_api_kept_exports_and_cli(tmp_path):
    data = tmp_path / "d"
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)
    proc = subprocess.Popen([exact_bin(), "serve", "--data", str(data), "--bind", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s = S(port)
    try:
        wait_for(s.url + "/healthz", proc, "exact serve")
        team, set_id, typ = world(s)
        formats = "/api/v1/annotations/export_formats/"
        # Bad templates: 400 naming the field and what is wrong; nothing created.
        for body, says in [
            ({"annotation_format": "%%type %%typo"}, "unknown placeholder %%typo at character 8"),
            ({"annotation_format": "%%ifblurred x"}, "has no %%endif"),
            ({"base_format": "%%vector"}, "not available here"),
        ]:
            r = s.post(formats, json={"name": "bad", "team": team, "annotations_types": [typ], **body})
            assert r.status_code == 400, r.text
            assert says in r.text and next(iter(body)) in r.text, r.text
        assert s.ok(s.get(formats)).json()["count"] == 0
        # EXACT's defaults fill what is not given.
        f = s.ok(s.post(formats, json={"name": "labels", "team": team, "annotations_types": [typ],
                                       "not_in_image_format": "%%imagename|%%type|not in image"}), 201).json()
        assert f["vector_format"] == '"x%%count1": %%x,"y%%count1": %%y,'
        assert f["annotation_format"] == "%%imagename|%%type|{%%vector}|"
        assert f["name_format"] == "export_%%exportid.txt" and f["image_format"] is None
        assert s.post(formats, json={"name": "labels", "team": team}).status_code == 409  # name taken
        # Keep an export the way EXACT's set page posts it (a form), then download it.
        r = s.ok(s.post(f"/annotations/export/{set_id}/", data={"export": "1", "export_format": f["id"]}), 201)
        e = r.json()
        assert e["annotation_count"] == 2 and e["filename"] == f"export_{e['id']}.txt"
        assert "export_text" not in e and e["deprecated"] is False
        d = s.ok(s.get(e["download"]))
        assert d.headers["content-type"].startswith("text/plain")
        assert f'filename="export_{e["id"]}.txt"' in d.headers["content-disposition"]
        assert d.text == WANT
        assert [x["id"] for x in s.ok(s.get(f"/api/v1/annotations/exports/?image_set={set_id}")).json()["results"]] == [e["id"]]
        # Streamed without keeping it.
        r = s.ok(s.get(f"/api/v1/images/image_sets/{set_id}/export/?format=exact:labels"))
        assert r.text == WANT
        r = s.get(f"/api/v1/images/image_sets/{set_id}/export/?format=exact:nope")
        assert r.status_code == 400 and 'no export format named \\"nope\\"' in r.text, r.text
        # PATCH changes a field (checked again); the old export is now deprecated.
        assert s.patch(f"{formats}{f['id']}/", json={"vector_format": "%%x %%nope"}).status_code == 400
        p = s.ok(s.patch(f"{formats}{f['id']}/", json={"vector_format": "%%x;%%y;"})).json()
        assert p["vector_format"] == "%%x;%%y;" and p["name"] == "labels"
        assert s.ok(s.get(f"/api/v1/annotations/exports/{e['id']}/")).json()["deprecated"] is True
        e2 = s.ok(s.post(f"/annotations/export/{set_id}/", json={"export_format": f["id"]}), 201).json()
        assert s.ok(s.get(e2["download"])).text.splitlines()[1] == "case1.svs|mitosis|{10;20;110;70;}|"
        # Bad references are 4xx with a JSON detail.
        assert s.post(f"/annotations/export/{set_id}/", json={}).status_code == 400
        assert s.post(f"/annotations/export/{set_id}/", json={"export_format": 99999}).status_code == 404
        assert s.post("/annotations/export/99999/", json={"export_format": f["id"]}).status_code == 404
        assert s.get("/annotations/export/99999/download/").status_code == 404
        # EXACT's form paths for formats.
        g = s.ok(s.post("/annotations/export/create/",
                        data={"name": "per image", "team": team, "annotations_types": typ,
                              "image_aggregation": "on", "image_format": "%%imagename: %%annoamount%%annotations",
                              "annotation_format": "  %%type"}), 201).json()
        g = s.ok(s.post(f"/annotations/export/{g['id']}/edit/", data={"annotation_format": " %%minx"})).json()
        r = s.ok(s.get(f"/api/v1/images/image_sets/{set_id}/export/?format=exact:per image"))
        assert r.text == "\ncase1.svs: 2 10\nimage name|annotation type|not in image\n\n", repr(r.text)
        s.ok(s.post(f"/annotations/export/{g['id']}/delete/"), 204)
        assert s.get(f"{formats}{g['id']}/").status_code == 404
        # Deleting keeps the export restorable; it is no longer served.
        s.ok(s.delete(f"/api/v1/annotations/exports/{e['id']}/"), 204)
        assert s.get(e["download"]).status_code == 404
        # Anonymous users get nothing.
        assert requests.get(s.url + e2["download"]).status_code in (401, 403)
    finally:
        proc.terminate()
        proc.wait(10)
    # The CLI on the same data directory.
    out = tmp_path / "out.txt"
    base = [exact_bin(), "export", "--set", str(set_id), "--data", str(data)]
    r = subprocess.run(base + ["--format", "exact:labels", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "exported 2 annotations" in r.stderr, r
    assert out.read_text().splitlines()[1] == "case1.svs|mitosis|{10;20;110;70;}|"
    missing = tmp_path / "none.txt"
    r = subprocess.run(base + ["--format", "exact:nope", "-o", str(missing)], capture_output=True, text=True)
    assert r.returncode == 1 and 'no export format named "nope"' in r.stderr and not missing.exists(), r
