"""exact_wsi.connect: the Store's methods over the REST API of a running server give the same
answers as the embedded Store on the same data (records, viewport and filtered lists, pages,
columns, bulk writes, typed errors)."""

import numpy as np
import pytest

import exact_wsi
from exact_wsi import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    Store,
    UnsupportedError,
)


@pytest.fixture()
def pair(tmp_path):
    """The same data as an embedded Store and, served in-process, as a connected store."""
    local = Store.open(tmp_path / "data")
    team = local.create_team("pathology")
    iset = local.create_image_set("mitoses", team, description="first")
    product = local.create_product("cells", team=team, imagesets=[iset])
    box = local.create_annotation_type("mitosis", product, vector_type="bbox")
    poly = local.create_annotation_type("gland", product, vector_type="polygon")
    image = local.add_image(iset, "case1.svs", 20_000, 10_000)
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 9_000, size=(300, 2))
    local.add_boxes(image, box, np.hstack([xy, xy + 40]))
    local.add_annotations([{"annotation_type": poly["id"], "image": image["id"],
                            "vector": {"x1": 10, "y1": 10, "x2": 90, "y2": 10, "x3": 50, "y3": 80},
                            "description": "a gland", "meta_data": {"grade": 2}}])
    token = local.create_token("notebook")
    with exact_wsi.serve(local) as srv:
        remote = exact_wsi.connect(srv.url, token=token)
        yield local, remote, {"image": image["id"], "box": box["id"], "poly": poly["id"],
                              "set": iset["id"], "team": team["id"], "url": srv.url}


def test_same_records(pair):
    local, remote, ids = pair
    assert remote.user["username"] == local.user["username"]
    for name in ("teams", "products", "annotation_types", "images", "versions"):
        assert getattr(remote, name)() == getattr(local, name)(), name
    # The REST API does not show who pinned a set, nor other users' e-mail addresses.
    assert remote.image_sets() == [{k: v for k, v in s.items() if k != "pinned_by"}
                                   for s in local.image_sets()]
    assert remote.users() == [{k: v for k, v in u.items() if k not in ("email", "points")}
                              for u in local.users()]
    assert remote.members(ids["team"]) == local.members(ids["team"])
    assert remote.images(ids["set"]) == local.images(ids["set"])
    assert remote.image(ids["image"]) == local.image(ids["image"])
    assert remote.annotations(ids["image"]) == local.annotations(ids["image"])
    first = local.annotations(ids["image"])[0]["id"]
    assert remote.annotation(first) == local.annotation(first)


def test_same_lists_filters_and_pages(pair):
    local, remote, ids = pair
    image = ids["image"]
    for kwargs in (
        {"viewport": (0, 0, 3000, 3000)},
        {"annotation_types": [ids["poly"]]},
        {"vector_type": 5},
        {"limit": 25, "offset": 100},
        {"viewport": (1000, 1000, 6000, 6000), "limit": 10},
    ):
        want = local.annotations(image, **kwargs)
        assert want, kwargs
        assert remote.annotations(image, **kwargs) == want, kwargs
    page = local.annotations(image, limit=25, offset=100)
    assert [a["id"] for a in page] == [a["id"] for a in local.annotations(image)][100:125]
    a = local.annotations(image, as_columns=True, viewport=(0, 0, 5000, 5000))
    b = remote.annotations(image, as_columns=True, viewport=(0, 0, 5000, 5000))
    for k in ("id", "annotation_type", "x_min", "y_min", "x_max", "y_max", "offsets", "coords",
              "deleted", "unique_identifier"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_writes_through_either_are_seen_by_both(pair):
    local, remote, ids = pair
    image = ids["image"]
    new = remote.add_boxes(image, ids["box"], [[15_000, 5_000, 15_100, 5_100]])
    assert new.dtype == np.int64 and len(new) == 1
    assert local.annotation(int(new[0]))["vector"] == {"x1": 15000, "y1": 5000, "x2": 15100, "y2": 5100}
    [changed] = remote.update_annotations([{"id": int(new[0]), "description": "checked"}])
    assert changed == local.annotation(int(new[0]))
    assert remote.verify(int(new[0]))["verified"] is True
    assert remote.verifications(int(new[0])) == local.verifications(int(new[0]))
    remote.delete_annotations([int(new[0])])
    live = {a["id"] for a in local.annotations(image)}
    assert int(new[0]) not in live
    assert {a["id"] for a in remote.annotations(image)} == live


def test_same_typed_errors(pair):
    local, remote, ids = pair
    for store in (local, remote):
        with pytest.raises(NotFoundError):
            store.image(999_999)
        with pytest.raises(NotFoundError):
            store.annotations(999_999)
        with pytest.raises(InvalidInputError):
            store.annotations(ids["image"], vector_type=9)
        with pytest.raises(InvalidInputError):
            store.annotations(ids["image"], verified_by__range="3")
        with pytest.raises(InvalidInputError):
            store.add_annotations([{"annotation_type": ids["box"], "image": ids["image"],
                                    "vector": {"x1": "left"}}])
    with pytest.raises(PermissionDeniedError):
        exact_wsi.connect(ids["url"], token="not-a-token")
    with pytest.raises(UnsupportedError):
        remote.set_password("exact", "a-new-password")
    with pytest.raises(NotFoundError):
        remote.history(999_999)
    with pytest.raises(exact_wsi.BackendError):
        exact_wsi.connect("http://127.0.0.1:9", token="x", timeout=2)
