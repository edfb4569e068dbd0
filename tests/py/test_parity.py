"""Issue 18 from Python: image statistics, whole-image verification, image copies, annotation
maps and image registration, with the same answers from the embedded Store and from a connected
store over REST."""

from pathlib import Path

import exact_wsi
import pytest
from exact_wsi import NotFoundError, Store


@pytest.fixture()
def world(tmp_path):
    local = Store.open(tmp_path / "data")
    team = local.create_team("parity")
    src = local.create_image_set("source", team)
    dst = local.create_image_set("target", team)
    p1 = local.create_product("cells", team=team, imagesets=[src])
    p2 = local.create_product("cells2", team=team, imagesets=[dst])
    box = local.create_annotation_type("mitosis", p1, vector_type="bbox")
    local.create_annotation_type("mitosis", p2, vector_type="bbox")
    other = local.create_annotation_type("other", p1, vector_type="bbox")
    image = local.add_image(src, "case.svs", 1_000, 1_000)
    local.add_annotations([
        {"annotation_type": box["id"], "image": image["id"],
         "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 9}},
        {"annotation_type": box["id"], "image": image["id"], "vector": None},
        {"annotation_type": other["id"], "image": image["id"],
         "vector": {"x1": 5, "y1": 5, "x2": 50, "y2": 50}},
    ])
    token = local.create_token("notebook")
    with exact_wsi.serve(local) as srv:
        yield local, exact_wsi.connect(srv.url, token=token), image["id"], dst["id"]


def test_statistics_verify_and_copy_agree(world):
    local, remote, image, dst = world
    assert local.statistics(image) == remote.statistics(image)
    rows = {r["name"]: r for r in local.statistics(image)}
    assert (rows["mitosis"]["count"], rows["mitosis"]["in_image_count"],
            rows["mitosis"]["not_in_image_count"]) == (3 - 1, 1, 1)
    assert rows["other"]["unverified_count"] == 1

    assert remote.verify_image(image) == 3
    assert all(r["verified_count"] == r["count"] for r in local.statistics(image))
    assert local.verify_image(image, verified=False) == 3
    assert all(r["verified_count"] == 0 for r in remote.statistics(image))

    a = local.copy_image(image, dst, annotations=True)
    b = remote.copy_image(image, dst, annotations=True, name="case-2.svs")
    for c in (a, b):
        assert c["image_set"] == dst
        assert (c["annotations_copied"], c["annotations_skipped"]) == (2, 1)
        assert c["skipped_types"] == ["other"]
    assert b["name"] == "case-2.svs"
    with pytest.raises(NotFoundError):
        local.statistics(10_000)
    with pytest.raises(NotFoundError):
        remote.copy_image(image, 10_000)


CMU = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "CMU-1-Small-Region.svs"


def test_annotation_maps_and_registration_from_both_stores(tmp_path):
    """Annotation maps (make, relabel on the map, sync back) and registration (a slide onto a
    copy of itself is the identity) through the embedded Store and over REST alike."""
    local = Store.open(tmp_path / "data")
    team = local.create_team("maps")
    iset = local.create_image_set("slides", team)
    product = local.create_product("cells", team=team, imagesets=[iset])
    mitosis = local.create_annotation_type("mitosis", product, vector_type="bbox",
                                           default_width=40, default_height=40)
    other = local.create_annotation_type("other", product, vector_type="bbox")
    image = local.upload(iset, CMU)
    made = local.add_annotations([
        {"annotation_type": mitosis["id"], "image": image["id"],
         "vector": {"x1": 100 + 300 * i, "y1": 200, "x2": 140 + 300 * i, "y2": 240}}
        for i in range(5)])
    token = local.create_token("notebook")
    with exact_wsi.serve(local) as srv:
        remote = exact_wsi.connect(srv.url, token=token)
        maps = local.make_annotation_maps(iset, mitosis["id"])
        assert [(m["name"], m["annotations"]) for m in maps] == [("cells_mitosis.tiff", 5)]
        again = remote.make_annotation_maps(iset)
        assert [(m["name"], m["image"], m["annotations"]) for m in again] == \
            [("cells_mitosis.tiff", maps[0]["image"], 5)]
        on_map = local.annotations(maps[0]["image"])
        assert sorted(a["unique_identifier"] for a in on_map) == \
            sorted(a["unique_identifier"] for a in made)
        moved = on_map[0]
        local.update_annotations([{"id": moved["id"], "annotation_type": other["id"]}])
        changed = remote.sync_annotation_maps(iset)
        original = next(a for a in made if a["unique_identifier"] == moved["unique_identifier"])
        assert list(changed) == [original["id"]]
        assert local.annotation(original["id"])["annotation_type"] == other["id"]
        assert local.sync_annotation_maps(iset) == {}

        copy = local.copy_image(image["id"], iset, name="copy.svs")
        reg = local.register_images(image["id"], copy["id"])
        assert reg["created"] and reg["registration_error"] < 2
        t = reg["transformation_matrix"]
        assert abs(t["t_00"] - 1) < 0.01 and abs(t["t_11"] - 1) < 0.01
        assert abs(t["t_02"]) < 2 and abs(t["t_12"]) < 2
        again = remote.register_images(image["id"], copy["id"], inverse=True)
        assert not again["created"] and again["id"] == reg["id"]
        assert len(local.registrations()) == len(remote.registrations()) == 2
        point = {"x1": 500, "y1": 700}
        for s in (local, remote):
            out = s.convert_coordinates(reg["id"], point)
            assert abs(out["x1"] - 500) < 2 and abs(out["y1"] - 700) < 2
        with pytest.raises(NotFoundError):
            remote.make_annotation_maps(10_000)
        with pytest.raises(NotFoundError):
            local.register_images(image["id"], 10_000)
    local.close()
