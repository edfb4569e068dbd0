"""Issue 18 from Python: image statistics, whole-image verification and image copies, with the
same answers from the embedded Store and from a connected store over REST."""

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
