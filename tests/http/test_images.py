"""Images over HTTP against a running `exact serve`: uploads (EXACT-Sync and EXACT's UI
endpoint), conversion, downloads, set zips, Deep Zoom at EXACT's paths and the native grid
(pixels compared with the real OpenSlide), slides linked by s3:// URL on a real S3-protocol
server, image actions, and bad input."""

import hashlib
import io
import zipfile

import numpy as np
import openslide
import pytest
from exact_sync.v1.api.images_api import ImagesApi
from exact_sync.v1.api_client import ApiClient
from exact_sync.v1.configuration import Configuration
from openslide.deepzoom import DeepZoomGenerator

import os
import subprocess

import requests

from conftest import CMU, MAX_UPLOAD, PASSWORD, decode, exact_bin, free_port, gradient_png, mae, wait_for


@pytest.fixture(scope="module")
def cmu(server):
    """CMU-1-Small-Region.svs uploaded into a fresh set."""
    set_id = server.new_set("cmu set")
    image = server.upload(set_id, CMU)["results"][0]
    assert image["state"] == "ready"
    return set_id, image


def sync_images(server):
    conf = Configuration()
    conf.username, conf.password, conf.host = "exact", PASSWORD, server.url
    return ImagesApi(ApiClient(conf))


def test_exact_sync_uploads_and_downloads_byte_identical(server, tmp_path):
    set_id = server.new_set("sync uploads")
    images = sync_images(server)
    created = images.create_image(file_path=str(CMU), image_type=0, image_set=set_id)
    image = created.results[0]
    assert image.name == CMU.name and image.width == 2220 and image.height == 2967
    assert image.image_set == set_id
    assert abs(image.mpp - 0.499) < 1e-6 and image.objective_power == 20
    target = tmp_path / "down.svs"
    status, _ = images.download_image(image.id, target_path=target, original_image=True)
    assert status == 200
    assert target.read_bytes() == CMU.read_bytes()
    # The checksum is the upload's SHA-512 (the client's model has no field for it).
    raw = sync_images(server).api_client.rest_client.GET(
        f"{server.url}/api/v1/images/images/{image.id}/",
        headers={"Authorization": "Basic " + __import__("base64").b64encode(
            f"exact:{PASSWORD}".encode()).decode()})
    assert __import__("json").loads(raw.data)["checksum"] == hashlib.sha512(CMU.read_bytes()).hexdigest()
    listed = images.list_images(image_set=set_id).results
    assert [i.id for i in listed] == [image.id]


def test_download_headers_and_ranges(server, cmu):
    _, image = cmu
    r = server.ok(server.get(f"/images/api/image/download/{image['id']}/",
                             params={"original_image": "False"}))
    size = CMU.stat().st_size
    assert int(r.headers["Content-Length"]) == size
    assert 'filename="CMU-1-Small-Region.svs"' in r.headers["Content-Disposition"]
    r = server.get(f"/images/api/image/download/{image['id']}/", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.content == CMU.read_bytes()[100:200]
    assert r.headers["Content-Range"] == f"bytes 100-199/{size}"
    r = server.get(f"/images/api/image/download/{image['id']}/",
                   headers={"Range": f"bytes={size + 10}-"})
    assert r.status_code == 416


def test_ui_upload_endpoint_and_duplicates(server):
    set_id = server.new_set("ui uploads")
    with open(CMU, "rb") as f:
        r = server.ok(server.post(f"/images/image/upload/{set_id}/",
                                  files=[("files[]", (CMU.name, f))]))
    first = r.json()["files"][0]
    assert first["name"] == CMU.name and first["size"] == CMU.stat().st_size and first["id"] > 0
    assert "error" not in first
    # The same file again is a duplicate: reported with the existing id, nothing added.
    with open(CMU, "rb") as f:
        again = server.ok(server.post(f"/images/image/upload/{set_id}/",
                                      files=[("files[]", (CMU.name, f))])).json()["files"][0]
    assert again["id"] == first["id"] and "Duplicate" in again["error"]
    listed = server.ok(server.get("/api/v1/images/images/", params={"image_set": set_id})).json()
    assert listed["count"] == 1


def dz_tiles(dz):
    """A sample of (level, col, row) over every level of a Deep Zoom grid. JPEG tiles of the
    few-pixel levels differ by JPEG rounding alone, so those are compared as PNG."""
    out = []
    for level in range(dz.level_count):
        cols, rows = dz.level_tiles[level]
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2)}:
            out.append((level, col, row))
    return out


def test_exact_grid_tiles_match_openslide(server, cmu):
    _, image = cmu
    dzi = server.ok(server.get(f"/images/image/{image['id']}/1/1/tile/")).text
    assert 'TileSize="254"' in dzi and 'Overlap="1"' in dzi
    assert 'Width="2220"' in dzi and 'Height="2967"' in dzi
    dz = DeepZoomGenerator(openslide.OpenSlide(str(CMU)), tile_size=254, overlap=1)
    for level, col, row in dz_tiles(dz):
        ref = dz.get_tile(level, (col, row)).convert("RGB")
        # PNG: the rendered pixels themselves.
        r = server.ok(server.get(
            f"/images/image/{image['id']}/1/1/tile_files/{level}/{col}_{row}.png"))
        assert r.headers["Content-Type"] == "image/png"
        ours = decode(r.content).convert("RGB")
        assert ours.size == ref.size, (level, col, row)
        assert mae(ours, ref) <= 2, (level, col, row, mae(ours, ref))
        # JPEG (quality 90, as EXACT): the same pixels plus JPEG's rounding.
        r = server.ok(server.get(
            f"/api/v1/images/images/{image['id']}/1/1/tile_files/{level}/{col}_{row}.jpeg"))
        assert r.headers["Content-Type"] == "image/jpeg"
        assert mae(decode(r.content).convert("RGB"), ref) <= 6, (level, col, row)


def test_native_grid_passes_tiles_through(server, cmu):
    _, image = cmu
    dzi = server.ok(server.get(f"/api/v1/images/images/{image['id']}/native.dzi")).text
    assert 'TileSize="240"' in dzi and 'Overlap="0"' in dzi
    slide = openslide.OpenSlide(str(CMU))
    dz = DeepZoomGenerator(slide, tile_size=240, overlap=0)
    top = dz.level_count - 1
    before = metrics(server)
    for level, col, row in dz_tiles(dz):
        # Full resolution is the slide's own level: stored JPEG tiles, compared as JPEG.
        # Coarser levels are rendered: compared as PNG.
        ext = "jpeg" if level == top else "png"
        r = server.ok(server.get(
            f"/api/v1/images/images/{image['id']}/native_files/{level}/{col}_{row}.{ext}"))
        ours = decode(r.content).convert("RGB")
        ref = dz.get_tile(level, (col, row)).convert("RGB")
        assert ours.size == ref.size, (level, col, row)
        assert mae(ours, ref) <= 2, (level, col, row, mae(ours, ref))
    after = metrics(server)
    assert after["exact_tiles_passthrough_total"] > before["exact_tiles_passthrough_total"]
    # A rendered tile asked twice comes from the rendered-tile cache the second time.
    url = f"/api/v1/images/images/{image['id']}/native_files/10/0_0.jpeg"
    first = server.ok(server.get(url)).content
    hits = metrics(server)["exact_tiles_cache_hits_total"]
    assert server.ok(server.get(url)).content == first
    assert metrics(server)["exact_tiles_cache_hits_total"] == hits + 1


def metrics(server):
    out = {}
    for line in server.ok(server.get("/metrics")).text.splitlines():
        if line.startswith("exact_tiles_"):
            k, v = line.split()
            out[k] = float(v)
    return out


def test_tiles_carry_etags_and_answer_304(server, cmu):
    _, image = cmu
    url = f"/api/v1/images/images/{image['id']}/native_files/12/1_1.jpeg"
    r = server.ok(server.get(url))
    tag = r.headers["ETag"]
    assert tag.startswith('"') and "immutable" in r.headers["Cache-Control"]
    r2 = server.get(url, headers={"If-None-Match": tag})
    assert r2.status_code == 304 and r2.content == b""
    assert server.ok(server.get(url, headers={"If-None-Match": '"other"'})).content == r.content


def test_png_upload_is_converted_then_served(server, tmp_path):
    set_id = server.new_set("pictures")
    rgb = gradient_png(tmp_path / "gradient.png", 1500, 1100)
    image = server.upload(set_id, tmp_path / "gradient.png")["results"][0]
    assert image["state"] in ("converting", "ready")
    assert (image["width"], image["height"]) == (1500, 1100)
    image = server.wait_ready(image["id"])
    assert image["state"] == "ready", image
    dzi = server.ok(server.get(f"/api/v1/images/images/{image['id']}/native.dzi")).text
    assert 'Width="1500"' in dzi and 'Height="1100"' in dzi
    # Native level 0 tile (1, 1) holds pixels 256..512.
    levels = 12  # ceil(log2(1500)) + 1
    r = server.ok(server.get(
        f"/api/v1/images/images/{image['id']}/native_files/{levels - 1}/1_1.jpeg"))
    assert mae(decode(r.content).convert("RGB"), rgb[256:512, 256:512]) <= 3
    # The original PNG downloads unchanged; the served file is the pyramid.
    orig = server.ok(server.get(f"/images/api/image/download/{image['id']}/",
                                params={"original_image": "True"})).content
    assert orig == (tmp_path / "gradient.png").read_bytes()
    served = server.ok(server.get(f"/images/api/image/download/{image['id']}/",
                                  params={"original_image": "False"})).content
    assert served[:4] in (b"II*\x00", b"II+\x00")
    pyramid = tmp_path / "pyramid.tiff"
    pyramid.write_bytes(served)
    assert openslide.OpenSlide(str(pyramid)).dimensions == (1500, 1100)


def test_zip_upload_and_set_zip_download(server, tmp_path):
    set_id = server.new_set("zipped")
    gradient_png(tmp_path / "a.png", 300, 200)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(CMU, "slides/CMU-1-Small-Region.svs")
        z.write(tmp_path / "a.png", "a.png")
    (tmp_path / "bundle.zip").write_bytes(buf.getvalue())
    created = server.upload(set_id, tmp_path / "bundle.zip")["results"]
    assert sorted(i["name"] for i in created) == ["CMU-1-Small-Region.svs", "a.png"]
    for i in created:
        server.wait_ready(i["id"])
    r = server.ok(server.get(f"/images/imageset/{set_id}/download/"))
    assert r.headers["Content-Type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == ["CMU-1-Small-Region.svs", "a.png"]
    assert z.read("CMU-1-Small-Region.svs") == CMU.read_bytes()
    assert z.read("a.png") == (tmp_path / "a.png").read_bytes()
    empty = server.new_set("empty set")
    assert server.get(f"/images/imageset/{empty}/download/").status_code == 204


def tiles_fixture(folder, make):
    """A slide scripts/test-tiles generates into tests/fixtures/cache (tests/tiles/fixtures.py,
    `make` a call of it), made here with that script's venv when this suite runs alone."""
    from conftest import REPO
    path = REPO / "tests/fixtures/cache" / folder
    if not path.exists():
        py = REPO / ".venv-tiles/bin/python"
        if not py.exists():
            pytest.skip(f"{folder} needs scripts/test-tiles' venv (wsidicomizer, tifffile)")
        subprocess.run([str(py), "-c", f"import fixtures; fixtures.{make}"],
                       cwd=REPO / "tests/tiles", check=True)
    return path


def test_a_zip_of_a_dicom_series_is_one_image_and_its_set_zip_holds_every_instance(server, tmp_path):
    instances = sorted(tiles_fixture("dicom-aperio-eot", "dicom_slides()").glob("*.dcm"))
    assert len(instances) > 2
    set_id = server.new_set("dicom")
    up = tmp_path / "series.zip"
    with zipfile.ZipFile(up, "w") as z:
        for f in instances:
            z.write(f, "case/" + f.name)
    created = server.upload(set_id, up)["results"]
    assert len(created) == 1, created
    level0 = max(instances, key=lambda f: f.stat().st_size)
    osr = openslide.OpenSlide(str(level0))
    assert (created[0]["width"], created[0]["height"]) == osr.dimensions
    # The set's zip: the series in a folder of its own, every instance byte-equal, so the
    # archive opens in OpenSlide and uploads again as the same one image.
    r = server.ok(server.get(f"/images/imageset/{set_id}/download/"))
    z = zipfile.ZipFile(io.BytesIO(r.content))
    folders = {n.split("/")[0] for n in z.namelist()}
    assert len(folders) == 1 and all("/" in n for n in z.namelist()), z.namelist()
    assert sorted(n.split("/", 1)[1] for n in z.namelist()) == [f.name for f in instances]
    folder = next(iter(folders))
    for f in instances:
        assert z.read(f"{folder}/{f.name}") == f.read_bytes()
    (tmp_path / "again.zip").write_bytes(r.content)
    again = server.upload(server.new_set("dicom again"), tmp_path / "again.zip")["results"]
    assert len(again) == 1, again
    assert (again[0]["width"], again[0]["height"]) == osr.dimensions


def test_a_zip_of_an_mrxs_and_its_folder_comes_back_whole_in_the_set_zip(server, tmp_path):
    # tests/tiles/fixtures.py's MIRAX slide: tiny.mrxs beside its folder tiny/.
    mrxs = tiles_fixture("tiny-mrxs", "mrxs_slide('tiny.mrxs')")
    files = sorted(p for p in mrxs.rglob("*") if p.is_file())
    set_id = server.new_set("mrxs")
    up = tmp_path / "mrxs.zip"
    with zipfile.ZipFile(up, "w") as z:
        for f in files:
            z.write(f, f.relative_to(mrxs).as_posix())
    created = server.upload(set_id, up)["results"]
    assert [i["name"] for i in created] == ["tiny.mrxs"], created
    osr = openslide.OpenSlide(str(mrxs / "tiny.mrxs"))
    assert (created[0]["width"], created[0]["height"]) == osr.dimensions
    r = server.ok(server.get(f"/images/imageset/{set_id}/download/"))
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == sorted("tiny/" + f.relative_to(mrxs).as_posix() for f in files)
    for f in files:
        assert z.read("tiny/" + f.relative_to(mrxs).as_posix()) == f.read_bytes()


def test_set_zip_deidentified_takes_out_labels_and_refuses_dicom(server, tmp_path):
    set_id = server.new_set("leaving the hospital")
    gradient_png(tmp_path / "micro.png", 300, 200)
    for f in (CMU, tmp_path / "micro.png"):
        server.wait_ready(server.upload(set_id, f)["results"][0]["id"])
    r = server.ok(server.get(f"/images/imageset/{set_id}/download/", params={"deidentify": "true"}))
    assert "deidentified" in r.headers["Content-Disposition"]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert sorted(z.namelist()) == ["CMU-1-Small-Region.svs", "micro.png"]
    assert z.read("micro.png") == (tmp_path / "micro.png").read_bytes()
    (tmp_path / "clean.svs").write_bytes(z.read("CMU-1-Small-Region.svs"))
    a, b = openslide.OpenSlide(str(CMU)), openslide.OpenSlide(str(tmp_path / "clean.svs"))
    assert {"label", "macro"} <= set(a.associated_images)
    assert sorted(b.associated_images) == ["thumbnail"]
    w, h = a.dimensions
    assert np.array_equal(np.asarray(a.read_region((0, 0), 0, (w, h))),
                          np.asarray(b.read_region((0, 0), 0, (w, h))))
    # Without the flag the zip is the files as uploaded.
    plain = zipfile.ZipFile(io.BytesIO(server.ok(server.get(f"/images/imageset/{set_id}/download/")).content))
    assert plain.read("CMU-1-Small-Region.svs") == CMU.read_bytes()
    # A DICOM series carries patient attributes in every instance: refused, naming it.
    instances = sorted(tiles_fixture("dicom-aperio-eot", "dicom_slides()").glob("*.dcm"))
    dicom_set = server.new_set("dicom to leave")
    up = tmp_path / "series.zip"
    with zipfile.ZipFile(up, "w") as zf:
        for f in instances:
            zf.write(f, f.name)
    server.upload(dicom_set, up)
    r = server.get(f"/images/imageset/{dicom_set}/download/", params={"deidentify": "true"})
    assert r.status_code == 400, r.text
    assert "DICOM" in r.json()["detail"] and "patient" in r.json()["detail"], r.text


def test_s3_linked_slide_serves_the_same_tiles(server, s3, cmu, tmp_path):
    s3.create_bucket(Bucket="slides")
    s3.upload_file(str(CMU), "slides", "cases/CMU-1-Small-Region.svs")
    set_id, local = cmu
    r = server.ok(server.post("/api/v1/images/images/", json={
        "name": "linked.svs", "image_set": set_id, "image_type": 2,
        "filename": "s3://slides/cases/CMU-1-Small-Region.svs"}), 201)
    linked = r.json()
    assert linked["image_type"] == 2 and (linked["width"], linked["height"]) == (2220, 2967)
    for path in ["native_files/12/1_1.jpeg", "native_files/10/0_0.jpeg", "1/1/tile_files/12/2_3.jpeg",
                 "1/1/tile_files/9/0_0.jpeg"]:
        a = server.ok(server.get(f"/api/v1/images/images/{linked['id']}/{path}")).content
        b = server.ok(server.get(f"/api/v1/images/images/{local['id']}/{path}")).content
        assert a == b, path
    # The download of a link streams the linked object.
    got = server.ok(server.get(f"/images/api/image/download/{linked['id']}/")).content
    assert got == CMU.read_bytes()


def test_image_actions(server, cmu):
    _, image = cmu
    info = server.ok(server.get(f"/api/v1/images/images/{image['id']}/slide_information/")).json()
    slide = openslide.OpenSlide(str(CMU))
    assert info["level_dimensions"] == [list(d) for d in slide.level_dimensions]
    assert info["levels"] == slide.level_count
    r = server.ok(server.get(f"/api/v1/images/images/{image['id']}/get_patch",
                             params={"x": 100, "y": 200, "level": 0, "width": 300, "height": 200}))
    patch = decode(r.content)
    assert r.headers["Content-Type"] == "image/png" and patch.size == (300, 200)
    ref = slide.read_region((100, 200), 0, (300, 200))
    assert mae(patch.convert("RGB"), ref.convert("RGB")) <= 2
    # Clipped at the edge.
    r = server.ok(server.get(f"/api/v1/images/images/{image['id']}/get_patch/",
                             params={"x": 2100, "y": 0, "level": 0, "width": 500, "height": 10}))
    assert decode(r.content).size == (120, 10)
    assert server.get(f"/api/v1/images/images/{image['id']}/get_patch/",
                      params={"width": 4096, "height": 10}).status_code == 400
    thumb = decode(server.ok(server.get(f"/api/v1/images/images/{image['id']}/thumbnail/")).content)
    assert max(thumb.size) <= 128
    warm = server.http.patch(f"{server.url}/api/v1/images/images/{image['id']}/update_image_cache/",
                             json={"mem_size_mb": 5, "z_dimension": 1, "frame": 1})
    assert server.ok(warm).json()["warmed_tiles"] > 0


def test_delete_image_is_soft_and_frees_the_name(server, tmp_path):
    set_id = server.new_set("deletions")
    image = server.upload(set_id, CMU)["results"][0]
    assert server.delete(f"/api/v1/images/images/{image['id']}/").status_code == 204
    assert server.get(f"/api/v1/images/images/{image['id']}/").status_code == 404
    assert server.get(f"/api/v1/images/images/{image['id']}/native.dzi").status_code == 404
    again = server.upload(set_id, CMU)["results"][0]
    assert again["id"] != image["id"]


def test_other_teams_see_no_tiles(server, cmu):
    _, image = cmu
    server.ok(server.post("/api/v1/users/users/", json={"username": "outsider", "password": "outsider-pw"}), 201)
    import requests
    r = requests.get(f"{server.url}/api/v1/images/images/{image['id']}/native_files/12/0_0.jpeg",
                     auth=("outsider", "outsider-pw"))
    assert r.status_code == 404, r.text
    assert "detail" in r.json()
    r = requests.get(f"{server.url}/images/image/{image['id']}/1/1/tile/")
    assert r.status_code == 401


def test_bad_input_is_refused_cleanly(server, tmp_path):
    set_id = server.new_set("bad input")
    junk = tmp_path / "junk.svs"
    junk.write_bytes(b"this is not a slide" * 100)
    r = server.post("/api/v1/images/images/", files={"file_path": ("junk.svs", junk.read_bytes())},
                    data={"image_type": "0", "image_set": str(set_id)})
    assert r.status_code == 400 and "not an image" in r.json()["detail"], r.text
    # Truncated TIFF header.
    trunc = tmp_path / "trunc.tif"
    trunc.write_bytes(CMU.read_bytes()[:5000])
    r = server.post("/api/v1/images/images/", files={"file_path": ("trunc.tif", trunc.read_bytes())},
                    data={"image_set": str(set_id)})
    assert r.status_code == 400, r.text
    # Path traversal in a zip entry.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../evil.png", b"x")
    r = server.post("/api/v1/images/images/", files={"file_path": ("evil.zip", buf.getvalue())},
                    data={"image_set": str(set_id)})
    assert r.status_code == 400 and "escapes" in r.json()["detail"], r.text
    # A zip bomb: 200 MB of zeros compress to ~200 KB.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.png", b"\0" * (200 << 20))
    r = server.post("/api/v1/images/images/", files={"file_path": ("bomb.zip", buf.getvalue())},
                    data={"image_set": str(set_id)})
    assert r.status_code == 400 and "expands beyond" in r.json()["detail"], r.text
    # A traversal attempt in the file name itself lands safely inside the blob store.
    r = server.post("/api/v1/images/images/",
                    files={"file_path": ("../../../../tmp/x.svs", CMU.read_bytes())},
                    data={"image_set": str(set_id)})
    assert r.status_code == 201 and r.json()["results"][0]["name"] == "x.svs"
    # Missing set, unknown set, no file.
    r = server.post("/api/v1/images/images/", files={"file_path": ("a.svs", b"abc")})
    assert r.status_code == 400 and "image_set" in r.json()
    r = server.post("/api/v1/images/images/", files={"file_path": ("a.svs", CMU.read_bytes())},
                    data={"image_set": "999999"})
    assert r.status_code == 404
    # Nothing half-registered: only x.svs made it.
    listed = server.ok(server.get("/api/v1/images/images/", params={"image_set": set_id})).json()
    assert [i["name"] for i in listed["results"]] == ["x.svs"]
    image = listed["results"][0]["id"]
    for path, status in [(f"native_files/99/0_0.jpeg", 404), ("native_files/12/99_0.jpeg", 404),
                         ("native_files/12/a_b.jpeg", 400), ("native_files/12/0_0.gif", 400),
                         ("1/2/tile/", 404)]:
        r = server.get(f"/api/v1/images/images/{image}/{path}")
        assert r.status_code == status, (path, r.status_code, r.text)
        assert "detail" in r.json()
    assert server.get("/api/v1/images/images/424242/native.dzi").status_code == 404


def test_upload_over_the_limit_is_refused_whole(server, tmp_path):
    set_id = server.new_set("too big")
    big = tmp_path / "big.tif"
    with open(big, "wb") as f:
        f.write(CMU.read_bytes())
        f.write(b"\0" * (MAX_UPLOAD + 1 - CMU.stat().st_size))
    with open(big, "rb") as f:
        r = server.post("/api/v1/images/images/", files={"file_path": ("big.tif", f)},
                        data={"image_set": str(set_id)})
    assert r.status_code == 413 and "upload limit" in r.json()["detail"], r.text
    assert server.ok(server.get("/api/v1/images/images/", params={"image_set": set_id})).json()["count"] == 0
    # Nothing left behind in the blob store either.
    blobs = server.data / "d" / "blobs" / "images"
    assert not any(p.name.startswith("big") for p in blobs.rglob("*"))


def test_cli_registers_a_slide_by_url(tmp_path):
    """`exact image add --set ID URL`: the slide stays where it is; the server serves it."""
    data = tmp_path / "data"
    port = free_port()
    env = dict(os.environ, EXACT_ADMIN_PASSWORD=PASSWORD)

    def serve():
        p = subprocess.Popen([exact_bin(), "serve", "--data", str(data), "--bind",
                              f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        wait_for(f"http://127.0.0.1:{port}/healthz", p, "exact serve")
        return p

    p = serve()
    base, auth = f"http://127.0.0.1:{port}", ("exact", PASSWORD)
    team = requests.post(base + "/api/v1/users/teams/", json={"name": "cli team"}, auth=auth).json()
    set_id = requests.post(base + "/api/v1/images/image_sets/", json={"name": "cli", "team": team["id"]},
                           auth=auth).json()["id"]
    # The server holds the data directory: the CLI says so and changes nothing.
    busy = subprocess.run([exact_bin(), "image", "add", "--data", str(data), "--set", str(set_id),
                           str(CMU)], capture_output=True, text=True)
    assert busy.returncode != 0 and "in use by another process" in busy.stderr
    p.terminate()
    p.wait(10)
    out = subprocess.run([exact_bin(), "image", "add", "--data", str(data), "--set", str(set_id),
                          str(CMU)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "2220 × 2967" in out.stdout
    bad = subprocess.run([exact_bin(), "image", "add", "--data", str(data), "--set", str(set_id),
                          str(tmp_path / "missing.svs")], capture_output=True, text=True)
    assert bad.returncode != 0 and "missing.svs" in bad.stderr
    p = serve()
    try:
        images = requests.get(base + "/api/v1/images/images/", params={"image_set": set_id},
                              auth=auth).json()["results"]
        assert [(i["name"], i["image_type"], i["filename"]) for i in images] == [
            (CMU.name, 2, str(CMU))]
        tile = requests.get(f"{base}/api/v1/images/images/{images[0]['id']}/native_files/12/1_1.jpeg",
                            auth=auth)
        assert tile.status_code == 200 and tile.headers["Content-Type"] == "image/jpeg"
    finally:
        p.terminate()
        p.wait(10)


def test_members_cannot_point_images_at_other_files(server, cmu):
    """Where pixels come from decides what the server reads: members may not repoint an image
    (filename, file links), and an image registered by metadata alone serves no file."""
    set_id, image = cmu
    team = server.ok(server.get(f"/api/v1/images/image_sets/{set_id}/")).json()["team"]
    user = server.ok(server.post("/api/v1/users/users/", json={
        "username": "member1", "password": "member1-pw"}), 201).json()
    server.ok(server.post("/api/v1/users/team_membership/", json={
        "team": team, "user": user["id"], "is_admin": False}), 201)
    member = requests.Session()
    member.auth = ("member1", "member1-pw")
    url = f"{server.url}/api/v1/images/images/{image['id']}/"
    assert member.get(url).status_code == 200
    for patch in [{"filename": "/etc/passwd"}, {"image_type": 2}]:
        r = member.patch(url, json=patch)
        assert r.status_code == 403 and "only superusers" in r.json()["detail"], r.text
    r = member.post(f"{server.url}/api/v1/images/images/", json={
        "name": "link.svs", "image_set": set_id, "image_type": 2, "filename": str(CMU)})
    assert r.status_code == 403, r.text
    # A metadata-only image naming another image's stored file gets no pixels from it.
    r = member.post(f"{server.url}/api/v1/images/images/", json={
        "name": "borrowed.svs", "image_set": set_id, "width": 2220, "height": 2967,
        "filename": image["filename"]})
    assert r.status_code == 201, r.text
    borrowed = r.json()["id"]
    for path in [f"/api/v1/images/images/{borrowed}/native.dzi",
                 f"/api/v1/images/images/{borrowed}/native_files/12/0_0.jpeg",
                 f"/images/api/image/download/{borrowed}/"]:
        r = member.get(server.url + path)
        assert r.status_code == 404 and "metadata only" in r.json()["detail"], (path, r.text)
