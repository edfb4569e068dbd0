"""exact_wsi.connect, the rest of the Store surface (issue 11, items 3, 5, 7): a slide opened by
image id over HTTP gives the embedded store's pixels; history, trash and restore answer the
same; bulk updates and deletes are one atomic request, refused whole on mixed rights; the
list filters EXACT names are applied the same by both stores."""

from pathlib import Path

import exact_wsi
import numpy as np
import pytest
from exact_wsi import InvalidInputError, NotFoundError, PermissionDeniedError, Store

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
SVS = DATA / "CMU-1-Small-Region.svs"
SMALL = DATA / "openslide-python-small.svs"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A store with two teams (a second-opinion set with a member), two real slides, served;
    the embedded store and connected stores for the owner, the member and an outsider."""
    local = Store.open(tmp_path_factory.mktemp("connect") / "data")
    team = local.create_team("pathology")
    iset = local.create_image_set("cases", team, collaboration_type=2)
    product = local.create_product("cells", team=team, imagesets=[iset])
    box = local.create_annotation_type("mitosis", product, vector_type="bbox")
    svs = local.upload(iset, SVS)
    small = local.upload(iset, SMALL)
    local.add_user("member", password="member-secret")
    local.add_member(team, "member")
    local.add_user("outsider", password="outsider-secret")
    other_team = local.as_user("outsider").create_team("elsewhere")
    other_set = local.as_user("outsider").create_image_set("theirs", other_team)
    theirs = local.as_user("outsider").upload(other_set, SMALL)
    with exact_wsi.serve(local) as srv:
        remote = exact_wsi.connect(srv.url, token=local.create_token("notebook"))
        member = exact_wsi.connect(srv.url, username="member", password="member-secret")
        yield {"local": local, "remote": remote, "member": member, "url": srv.url,
               "svs": svs["id"], "small": small["id"], "theirs": theirs["id"], "box": box["id"],
               "set": iset["id"]}


def test_remote_slide_equals_local_slide(served):
    local, remote = served["local"], served["remote"]
    for image in (served["svs"], served["small"]):
        a, b = local.slide(image), remote.slide(image)
        assert b.dimensions == a.dimensions
        assert b.level_count == a.level_count
        assert b.level_dimensions == a.level_dimensions
        assert b.level_downsamples == a.level_downsamples
        assert dict(b.properties) == dict(a.properties)
        assert sorted(b.associated_images) == sorted(a.associated_images)
        for name in a.associated_images:
            np.testing.assert_array_equal(np.asarray(b.associated_images[name]),
                                          np.asarray(a.associated_images[name]), err_msg=name)
        for d in (0.5, 1, 3, 4, 16, 1000):
            assert b.get_best_level_for_downsample(d) == a.get_best_level_for_downsample(d)
        w, h = a.dimensions
        regions = [((0, 0), 0, (256, 256)),
                   ((w - 100, h - 60), 0, (300, 200)),   # across the edge: transparent outside
                   ((-50, -20), 0, (120, 90)),            # before the origin
                   ((w // 3, h // 4), a.level_count - 1, (200, 150))]
        for loc, level, size in regions:
            ra = a.read_region(loc, level, size, as_array=True)
            rb = b.read_region(loc, level, size, as_array=True)
            np.testing.assert_array_equal(rb, ra, err_msg=f"{image} {loc} {level} {size}")
        assert b.read_region((0, 0), 0, (64, 32)).mode == "RGBA"
        ta, tb = a.get_thumbnail((300, 300)), b.get_thumbnail((300, 300))
        assert tb.mode == ta.mode == "RGB" and tb.size == ta.size
        np.testing.assert_array_equal(np.asarray(tb), np.asarray(ta))
    # A region wider than one request (2048 px) is read in parts and joined.
    a, b = local.slide(served["svs"]), remote.slide(served["svs"])
    np.testing.assert_array_equal(b.read_region((10, 20), 0, (2100, 40), as_array=True),
                                  a.read_region((10, 20), 0, (2100, 40), as_array=True))


def test_remote_slide_rights_and_bad_input(served):
    remote = served["remote"]
    # The member is in the owner's team only: the outsider's image is not theirs to read.
    for store in (served["local"].as_user("member"), served["member"]):
        with pytest.raises(NotFoundError):
            store.slide(served["theirs"])
        with pytest.raises(NotFoundError):
            store.slide(999_999)
    s = remote.slide(served["svs"])
    with pytest.raises(InvalidInputError):
        s.read_region((0, 0), s.level_count, (10, 10))
    with pytest.raises(InvalidInputError):
        s.read_region((0, 0), 0, (-1, 10))
    with pytest.raises(NotFoundError):
        s.associated_images["no such image"]
    s.close()
    with pytest.raises(exact_wsi.ClosedError):
        s.read_region((0, 0), 0, (1, 1))


def test_history_trash_and_restore_answer_as_the_local_store(served):
    local, remote = served["local"], served["remote"]
    image, box = served["svs"], served["box"]
    [a] = remote.add_annotations([{"annotation_type": box, "image": image, "description": "v0",
                                   "vector": {"x1": 10, "y1": 10, "x2": 60, "y2": 60}}])
    remote.update_annotations([{"id": a["id"], "description": "v1"}])
    assert remote.history(a["id"]) == local.history(a["id"])
    assert [r["after"]["description"] for r in remote.history(a["id"])] == ["v0", "v1"]
    back = remote.restore_annotation(a["id"], 0)
    assert back == local.annotation(a["id"]) and back["description"] == "v0"
    assert remote.history(a["id"]) == local.history(a["id"])

    [b] = remote.add_annotations([{"annotation_type": box, "image": image,
                                   "vector": {"x1": 100, "y1": 10, "x2": 160, "y2": 60}}])
    trashed = remote.trash_annotations([a["id"], b["id"]])
    assert [r["id"] for r in trashed] == [a["id"], b["id"]]
    for r in trashed:
        with pytest.raises(NotFoundError):
            local.annotation(r["id"])
        with pytest.raises(NotFoundError):
            remote.annotation(r["id"])
    # Restoring an id that is not in the trash restores nothing.
    with pytest.raises(NotFoundError):
        remote.restore_annotations([a["id"], 999_999])
    with pytest.raises(NotFoundError):
        remote.annotation(a["id"])
    restored = remote.restore_annotations([a["id"], b["id"]])
    assert restored == [local.annotation(a["id"]), local.annotation(b["id"])]
    # And the local store's trash answers the same rows the remote one did.
    again = local.trash_annotations([b["id"]])
    assert [r["id"] for r in again] == [b["id"]] and again[0]["deleted"] is True
    assert remote.restore_annotations([b["id"]]) == [local.annotation(b["id"])]


def test_bulk_update_and_delete_are_atomic_with_mixed_rights(served):
    local, remote, member = served["local"], served["remote"], served["member"]
    image, box = served["svs"], served["box"]
    owner_ids = remote.add_boxes(image, box, [[500, 500, 540, 540]])
    mine = member.add_annotations([{"annotation_type": box, "image": image,
                                    "vector": {"x1": 600, "y1": 500, "x2": 640, "y2": 540}}])
    theirs, own = int(owner_ids[0]), mine[0]["id"]
    before = (local.annotation(theirs), local.annotation(own))
    # Second opinion: the member edits only their own; the batch is refused whole.
    with pytest.raises((PermissionDeniedError, NotFoundError)) as e:
        member.update_annotations([{"id": own, "description": "x"},
                                   {"id": theirs, "description": "x"}])
    assert "[1]" in str(e.value)
    with pytest.raises((PermissionDeniedError, NotFoundError)):
        member.delete_annotations([own, theirs])
    with pytest.raises((PermissionDeniedError, NotFoundError)):
        member.trash_annotations([own, theirs])
    assert (local.annotation(theirs), local.annotation(own)) == before, "nothing written"
    # Bad input in one row: nothing written either.
    with pytest.raises(InvalidInputError):
        remote.update_annotations([{"id": theirs, "description": "y"},
                                   {"id": theirs, "vector": {"x1": "left"}}])
    assert local.annotation(theirs) == before[0]
    # Allowed: one batch, the same rows the local store answers.
    changed = member.update_annotations([{"id": own, "description": "checked"}])
    assert changed == [local.annotation(own)]
    gone = remote.delete_annotations([theirs])
    assert gone == [local.annotation(theirs)] and gone[0]["deleted"] is True
    assert local.delete_annotations([own]) == [member.annotation(own)]


def test_filters_answer_alike(served):
    local, remote, member = served["local"], served["remote"], served["member"]
    image, box = served["small"], served["box"]
    made = remote.add_boxes(image, box, [[10 * i, 10, 10 * i + 8, 18] for i in range(6)])
    ids = [int(i) for i in made]
    remote.verify(ids[0])
    remote.update_annotations([{"id": ids[1], "description": "second look"}])
    member_id = member.user["id"]
    owner_id = remote.user["id"]
    local.create_version("v1", [served["set"]])
    snap = local.versions()[-1]
    for kwargs in (
        {"verified_by": owner_id},
        {"verified_by__in": [owner_id, member_id]},
        {"verified_by__range": f"{owner_id},{owner_id}"},
        {"id__in": ids[1:3]},
        {"vector_type": 1},
        {"description__contains": "second"},
        {"description": "second look"},
        {"time__gte": local.annotation(ids[3])["time"]},
        {"time__range": f"2000-01-01,{local.annotation(ids[2])['time']}"},
        {"vector__isnull": False},
        {"meta_data__isnull": True},
        {"unique_identifier__in": [local.annotation(ids[4])["unique_identifier"]]},
    ):
        want = local.annotations(image, **kwargs)
        assert want, kwargs
        assert remote.annotations(image, **kwargs) == want, kwargs
        cols = local.annotations(image, as_columns=True, **kwargs)
        assert cols["id"].tolist() == [a["id"] for a in want], kwargs
    assert [a["id"] for a in local.annotations(image, verified_by__in=[owner_id])] == [ids[0]]
    assert local.annotations(image, verified_by__in=[member_id]) == []
    # annotationversion: the annotation a snapshot is of (snapshot ids from the REST API).
    snaps = remote._request("GET", "api/v1/annotations/annotation_versions/",
                            {"annotation": ids[2], "version": snap["id"]})["results"]
    assert snaps, "the version snapshotted the annotation"
    for store in (local, remote):
        assert [a["id"] for a in store.annotations(image, annotationversion=snaps[0]["id"])] \
            == [ids[2]]
    for store in (local, remote):
        with pytest.raises(InvalidInputError):
            store.annotations(image, verified_by__in="1,x")
        with pytest.raises(InvalidInputError):
            store.annotations(image, annotationversion="first")
        with pytest.raises(InvalidInputError):
            store.annotations(image, time__lte="yesterday")
        with pytest.raises(InvalidInputError):
            store.annotations(image, unique_identifier="not-a-uuid")
        assert store.annotations(image, annotationversion=999_999) == []


def test_remote_native_tiles_deep_zoom_and_big_thumbnails(served):
    """A remote slide gives the local slide's native tiles (the stored bytes), Deep Zoom tiles
    of the server's grids with openslide-python's geometry, and thumbnails beyond one
    request's 2048 pixels."""
    from exact_wsi import UnsupportedError
    from exact_wsi.deepzoom import DeepZoomGenerator

    local, remote = served["local"], served["remote"]
    a, b = local.slide(served["svs"]), remote.slide(served["svs"])
    for col, row in ((0, 0), (3, 2)):
        assert b.read_native_tile(0, col, row) == a.read_native_tile(0, col, row)
    assert b.read_native_tile(0, 0, 0)[:2] == b"\xff\xd8"
    with pytest.raises(NotFoundError):
        b.read_native_tile(0, 10_000, 0)
    with pytest.raises(InvalidInputError):
        b.read_native_tile(b.level_count, 0, 0)
    # EXACT's grid: the same geometry and pixels as a local generator of that grid.
    dl, dr = DeepZoomGenerator(a, 254, 1, False, quality=90), DeepZoomGenerator(b)
    assert (dr.level_count, dr.level_tiles, dr.level_dimensions, dr.tile_count) == \
        (dl.level_count, dl.level_tiles, dl.level_dimensions, dl.tile_count)
    top = dl.level_count - 1
    for level, addr in ((top, (0, 0)), (top, (3, 2)), (top - 2, (1, 1)), (0, (0, 0))):
        assert dr.get_tile_coordinates(level, addr) == dl.get_tile_coordinates(level, addr)
        assert dr.get_tile_dimensions(level, addr) == dl.get_tile_dimensions(level, addr)
        assert dr.get_tile_jpeg(level, addr) == dl.get_tile_jpeg(level, addr)
        got, want = dr.get_tile(level, addr, as_array=True), dl.get_tile(level, addr, as_array=True)
        assert got.shape == want.shape and np.abs(got.astype(int) - want).mean() < 6  # JPEG q90, 4:2:0
    with pytest.raises(UnsupportedError):
        DeepZoomGenerator(b, 512, 0)
    # The native grid: its full-resolution tiles are the stored bytes.
    n = b.native_deepzoom()
    assert n.get_tile_jpeg(n.level_count - 1, (1, 0)) == a.read_native_tile(0, 1, 0)
    # A thumbnail beyond 2048 pixels is made client-side as openslide-python does: whole
    # level 0 of this small slide (it is never enlarged).
    big = b.get_thumbnail((4000, 4000))
    assert big.mode == "RGB" and big.size == a.get_thumbnail((4000, 4000)).size == a.dimensions
    np.testing.assert_array_equal(np.asarray(big), np.asarray(a.get_thumbnail((4000, 4000))))
    with pytest.raises(InvalidInputError):
        b.get_thumbnail((0, 3000))
