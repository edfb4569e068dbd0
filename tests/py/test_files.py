"""Image files through the embedded store (issue 11): an upload and a read by image id with
permissions enforced (another team's image and a picture not converted yet raise typed errors),
the conversion worker of an in-process server, downloads and media files."""

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import exact_wsi
from exact_wsi import Store

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SVS = DATA / "openslide-python-small.svs"


def png_bytes(w=300, h=200):
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def two_teams(tmp_path):
    store = Store.open(tmp_path / "data", user="alice")
    store.add_user("bob")
    team = store.create_team("pathology")
    iset = store.create_image_set("slides", team)
    bob = store.as_user("bob")
    bob.create_team("radiology")
    yield store, team, iset, bob
    store.close()


def test_upload_and_read_by_image_id_with_permissions(two_teams, tmp_path):
    store, _, iset, bob = two_teams
    image = store.upload(iset, SVS)
    assert image["name"] == "openslide-python-small.svs"
    assert image["state"] == "ready"

    with store.slide(image) as s, exact_wsi.open_slide(SVS) as direct:
        assert s.dimensions == direct.dimensions == (image["width"], image["height"])
        assert s.level_count == direct.level_count
        a = np.asarray(s.read_region((0, 0), 0, (64, 64)))
        b = np.asarray(direct.read_region((0, 0), 0, (64, 64)))
        assert np.array_equal(a, b)

    # Another team's member cannot read it, by any of these doors.
    with pytest.raises(exact_wsi.NotFoundError):
        bob.slide(image["id"])
    with pytest.raises(exact_wsi.NotFoundError):
        bob.download(image, tmp_path / "x.svs")
    # Nor upload into the set.
    with pytest.raises(exact_wsi.NotFoundError):
        bob.upload(iset, SVS)

    # The same bytes again answer the same image; other bytes under the name are refused.
    assert store.upload(iset, SVS.read_bytes(), name=SVS.name)["id"] == image["id"]
    with pytest.raises(exact_wsi.AlreadyExistsError):
        store.upload(iset, png_bytes(), name=SVS.name)
    with pytest.raises(exact_wsi.InvalidInputError, match="not an image"):
        store.upload(iset, b"just text", name="notes.txt")

    out = tmp_path / "back.svs"
    assert store.download(image, out) == SVS.stat().st_size
    assert out.read_bytes() == SVS.read_bytes()


def test_a_picture_is_not_ready_until_a_worker_converts_it(two_teams):
    store, _, iset, _ = two_teams
    image = store.upload(iset, png_bytes(), name="cells.png", wait=False)
    assert image["state"] == "converting"
    with pytest.raises(exact_wsi.NotReadyError):
        store.slide(image)
    # The in-process server starts the store's conversion worker, as `exact serve` does.
    with exact_wsi.serve(store):
        deadline = time.monotonic() + 30
        while store.image(image)["state"] == "converting":
            assert time.monotonic() < deadline, "not converted within 30 s"
            time.sleep(0.05)
    assert store.image(image)["state"] == "ready"
    with store.slide(image) as s:
        assert s.dimensions == (300, 200)
    # Without a server, an upload converts before it returns.
    done = store.upload(iset, png_bytes(120, 90), name="more.png")
    assert (done["state"], done["width"], done["height"]) == ("ready", 120, 90)


def test_media_files_round_trip(two_teams):
    store, team, iset, bob = two_teams
    image = store.upload(iset, SVS)
    product = store.create_product("cells", team=team, imagesets=[iset])
    box = store.create_annotation_type("box", product, vector_type="bbox")
    vector = {"x1": 1, "y1": 1, "x2": 5, "y2": 5}
    ann = store.add_annotations([{"annotation_type": box["id"], "vector": vector}],
                                image=image)[0]
    m = store.attach_media(ann, "note.wav", b"RIFF....", media_file_type=4)
    row, data = store.media(m)
    assert (row["name"], data) == ("note.wav", b"RIFF....")
    with pytest.raises(exact_wsi.NotFoundError):
        bob.media(m)
