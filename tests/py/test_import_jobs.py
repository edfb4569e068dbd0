"""Long imports as server-side jobs from Python: ``RemoteStore.import_file`` streams the file to
``POST …/import/?async=1`` and follows the job (``ImportJob.refresh`` / ``wait``); a refused
file raises ``InvalidInputError`` naming the feature, a broken one names the feature and line;
nothing is written then."""

import json

import pytest

import exact_wsi
from exact_wsi import InvalidInputError, Store
from exact_wsi.remote import ImportJob


def features(n, first=0, klass="mitosis"):
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": f"7d2f0000-0000-4000-8000-{i:012d}",
         "geometry": {"type": "Polygon",
                      "coordinates": [[[x, 20], [x + 8, 20], [x + 8, 30], [x, 30], [x, 20]]]},
         "properties": {"classification": {"name": klass}}}
        for i, x in ((i, 10 + i % 5000) for i in range(first, first + n))]}


@pytest.fixture()
def served(tmp_path):
    local = Store.open(tmp_path / "data")
    team = local.create_team("pathology")
    iset = local.create_image_set("mitoses", team)
    product = local.create_product("cells", team=team, imagesets=[iset])
    local.create_annotation_type("mitosis", product, vector_type="bbox")
    image = local.add_image(iset, "case1.svs", 20_000, 10_000)
    token = local.create_token("notebook")
    with exact_wsi.serve(local) as srv:
        yield local, exact_wsi.connect(srv.url, token=token), iset["id"], image["id"]


def test_import_job_waits_for_its_report(served, tmp_path):
    local, remote, iset, image = served
    path = tmp_path / "boxes.geojson"
    path.write_text(json.dumps(features(2000)))
    job = remote.import_file(path, iset, wait=False)
    assert isinstance(job, ImportJob) and job.state in ("queued", "running", "done")
    assert job.info["file_name"] == "boxes.geojson" and job.info["bytes_total"] == path.stat().st_size
    report = job.wait(timeout=60)
    assert (job.state, job.progress, job.finished) == ("done", 1.0, True)
    assert report["created"] == 2000 and report["skipped_duplicates"] == 0
    assert len(local.annotations(image)) == 2000
    # wait=True (the default) returns the report; the same file again creates nothing.
    again = remote.import_file(path, iset)
    assert (again["created"], again["skipped_duplicates"]) == (0, 2000)
    assert [j.id for j in remote.import_jobs(iset)][0] == job.id


def test_refused_and_broken_files_raise_and_write_nothing(served, tmp_path):
    local, remote, iset, image = served
    bad = features(3)
    bad["features"][2]["properties"]["classification"]["name"] = "nope"
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(bad))
    with pytest.raises(InvalidInputError, match="feature 3") as e:
        remote.import_file(path, iset)
    assert e.value.report["refused"][0]["place"] == "feature 3"
    text = json.dumps(features(4), indent=1)
    path.write_text(text[: len(text) * 2 // 3])
    job = remote.import_file(path, iset, wait=False)
    with pytest.raises(InvalidInputError, match=r"feature \d+ \(line \d+"):
        job.wait(timeout=60)
    assert job.state == "failed"
    assert local.annotations(image) == []
