"""The embedded store from Python: bulk round trips, viewport queries against brute force,
columns against dict rows, history and verifications, the process lock, threads, fork."""

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import exact_wsi
from exact_wsi import Store

N = 100_000


def setup(store):
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team)
    product = store.create_product("cells", team=team, imagesets=[iset])
    box = store.create_annotation_type("mitosis", product, vector_type="bbox")
    poly = store.create_annotation_type("tumour", product, vector_type="polygon")
    image = store.add_image(iset, "case1.svs", 100_000, 80_000, mpp=0.25)
    return team, iset, box, poly, image


def random_boxes(n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 99_000, n).round(1)
    y = rng.uniform(0, 79_000, n).round(1)
    w = rng.uniform(1, 400, n).round(1)
    h = rng.uniform(1, 400, n).round(1)
    return np.stack([x, y, x + w, y + h], axis=1)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A sled store with 100,000 boxes on one image (added in one bulk call)."""
    store = Store.open(tmp_path_factory.mktemp("big") / "data")
    _, _, box, _, image = setup(store)
    boxes = random_boxes(N)
    ids = store.add_boxes(image, box, boxes)
    return store, image["id"], box["id"], boxes, ids


def test_bulk_round_trip(big):
    store, image, box, boxes, ids = big
    assert ids.dtype == np.int64 and len(ids) == N and len(np.unique(ids)) == N
    cols = store.annotations(image, as_columns=True)
    order = np.argsort(cols["id"])
    assert np.array_equal(cols["id"][order], np.sort(ids))
    back = np.stack([cols[k] for k in ("x_min", "y_min", "x_max", "y_max")], axis=1)[order]
    want = boxes[np.argsort(ids)]
    assert np.array_equal(back, want)
    assert (cols["annotation_type"] == box).all()
    assert np.array_equal(cols["offsets"], np.arange(0, 2 * N + 1, 2))
    assert np.array_equal(cols["coords"].reshape(-1, 4)[order], want)
    assert not cols["deleted"].any()
    assert cols["time"].dtype == np.dtype("datetime64[us]")


def brute(boxes, v):
    x0, y0, x1, y1 = v
    return (boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0)


@pytest.mark.parametrize("viewport", [
    (0, 0, 5_000, 5_000), (40_000, 30_000, 52_345.5, 31_000), (99_000, 0, 200_000, 80_000),
    (10, 10, 10, 10), (-1_000, -1_000, -1, -1), (0, 0, 100_000, 80_000),
])
def test_viewport_equals_brute_force(big, viewport):
    store, image, _, boxes, ids = big
    cols = store.annotations(image, viewport=viewport, as_columns=True)
    want = np.sort(ids[brute(boxes, viewport)])
    assert np.array_equal(np.sort(cols["id"]), want)


def test_columns_equal_dicts(big):
    store, image, _, _, _ = big
    v = (20_000, 20_000, 30_000, 30_000)
    cols = store.annotations(image, viewport=v, as_columns=True)
    rows = store.annotations(image, viewport=v)
    assert len(rows) == len(cols["id"]) > 100
    for i, r in enumerate(rows):
        assert r["id"] == cols["id"][i]
        assert r["annotation_type"] == cols["annotation_type"][i]
        vec = r["vector"]
        assert [vec["x1"], vec["y1"], vec["x2"], vec["y2"]] == [
            cols["x_min"][i], cols["y_min"][i], cols["x_max"][i], cols["y_max"][i]]
        assert r["unique_identifier"] == cols["unique_identifier"][i].decode()
        assert r["user"] == cols["user"][i] and r["deleted"] == cols["deleted"][i]
        assert r["time"] == str(cols["time"][i])


def test_dict_rows_polygons_history_verify(tmp_path):
    store = Store.open(tmp_path / "d", user="alice")
    assert store.user["username"] == "alice" and store.user["is_superuser"]
    _, iset, box, poly, image = setup(store)
    rows = store.add_annotations([
        {"annotation_type": poly["id"], "vector": {"x1": 0, "y1": 0, "x2": 10, "y2": 0, "x3": 5, "y3": 8},
         "description": "first", "meta_data": {"score": 0.9}},
        {"annotation_type": box["id"], "vector": {"x1": 100, "y1": 100, "x2": 150.5, "y2": 130}},
        {"annotation_type": box["id"], "vector": None},
    ], image=image)
    assert [r["description"] for r in rows] == ["first", "", ""]
    assert rows[0]["meta_data"] == {"score": 0.9}
    cols = store.annotations(image, as_columns=True)
    assert list(cols["offsets"]) == [0, 3, 5, 5]
    assert cols["coords"].tolist() == [[0, 0], [10, 0], [5, 8], [100, 100], [150.5, 130]]
    assert np.isnan(cols["x_min"][2])
    # Update, delete, history, restore.
    a = rows[1]["id"]
    up = store.update_annotations([{"id": a, "vector": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}}])
    assert up[0]["vector"] == {"x1": 1, "y1": 2, "x2": 3, "y2": 4}
    store.delete_annotations([a])
    assert [r["id"] for r in store.annotations(image)] == [rows[0]["id"], rows[2]["id"]]
    assert [r["id"] for r in store.annotations(image, deleted=True)] == [a]
    hist = store.history(a)
    assert [h["action"] for h in hist] == [1, 2, 3]
    assert hist[0]["after"]["vector"]["x2"] == 150.5
    restored = store.restore_annotation(a, 0)
    assert not restored["deleted"] and restored["vector"]["x2"] == 150.5
    # Verifications.
    v = store.verify(a, True)
    assert v["verified"] is True and v["annotation"] == a
    store.verify(a, False)
    assert [x["verified"] for x in store.verifications(a)] == [False]
    # Lists.
    assert [s["name"] for s in store.image_sets()] == ["mitoses"]
    assert [i["name"] for i in store.images(iset)] == ["case1.svs"]
    assert {t["name"] for t in store.annotation_types()} == {"mitosis", "tumour"}
    assert [t["name"] for t in store.teams()] == ["pathology"]
    assert store.image(image)["mpp"] == 0.25
    version = store.create_version("v1", [iset])
    assert [x["name"] for x in store.versions()] == ["v1"] and version["id"]
    assert "alice" in repr(store)


def test_columns_in(tmp_path):
    store = Store.memory()
    _, _, box, poly, image = setup(store)
    ids = store.add_annotations({"annotation_type": box["id"], "x_min": [1.0, 5], "y_min": [2, 6],
                                 "x_max": [3, 7], "y_max": [4, 8.5]}, image=image)
    ids2 = store.add_annotations({"annotation_type": [poly["id"]], "offsets": [0, 3],
                                  "coords": [[0, 0], [4, 0], [2, 3]]}, image=image)
    cols = store.annotations(image, as_columns=True)
    assert list(cols["id"]) == list(ids) + list(ids2)
    assert cols["x_max"].tolist() == [3, 7, 4]


def test_users_and_members(tmp_path):
    store = Store.memory()
    team, iset, box, _, image = setup(store)
    bob = store.add_user("bob", password="pw-bob-123")
    store.add_member(team, "bob")
    as_bob = store.as_user("bob")
    assert as_bob.user["id"] == bob["id"]
    assert [m["user"] for m in store.members(team)] == [store.user["id"], bob["id"]]
    as_bob.add_boxes(image, box, [[0, 0, 10, 10]])
    assert as_bob.annotations(image)[0]["user"] == bob["id"]
    with pytest.raises(exact_wsi.PermissionDeniedError):
        as_bob.add_user("carol")


def test_reopen_after_close_persists(tmp_path):
    d = tmp_path / "data"
    store = Store.open(d)
    _, _, box, _, image = setup(store)
    store.add_boxes(image, box, random_boxes(10))
    same = Store.open(str(d))  # the same directory twice in one process shares the handle
    assert len(same.annotations(image)) == 10
    store.close()
    same.close()
    del store, same
    again = Store.open(d)
    assert len(again.annotations(image, as_columns=True)["id"]) == 10


HOLD = textwrap.dedent("""
    import sys, time, exact_wsi
    s = exact_wsi.Store.open(sys.argv[1])
    print("ready", flush=True)
    time.sleep(60)
""")


def test_directory_in_use_by_another_process(tmp_path):
    d = tmp_path / "data"
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with pytest.raises(exact_wsi.StoreInUseError) as e:
            Store.open(d)
        assert isinstance(e.value, exact_wsi.ExactError)
        assert "in use" in str(e.value) and str(d) in str(e.value)
    finally:
        p.kill()
        p.wait()
    Store.open(d)  # released when the process is gone


def test_threads(big):
    store, image, _, boxes, ids = big
    errors, counts = [], []

    def work(i):
        try:
            v = (i * 10_000, 0, i * 10_000 + 8_000, 80_000)
            got = store.annotations(image, viewport=v, as_columns=True)["id"]
            counts.append(len(got) == brute(boxes, v).sum())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and counts == [True] * 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_store_after_fork_raises_clearly():
    store = Store.memory()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            store.teams()
            msg = b"no error"
        except exact_wsi.ClosedError as e:
            msg = b"ok " + str(e).encode()
        except BaseException as e:  # noqa: BLE001
            msg = repr(e).encode()
        os.write(w, msg)
        os._exit(0)
    os.close(w)
    got = os.read(r, 4096)
    os.waitpid(pid, 0)
    assert got.startswith(b"ok ") and b"fork" in got
    assert store.teams() == []  # the parent's handle still works


def test_bad_input_raises_typed_errors():
    store = Store.memory()
    team, iset, box, _, image = setup(store)
    with pytest.raises(KeyError):
        store.annotations(999_999)
    with pytest.raises(FileNotFoundError):
        store.image(999_999)
    with pytest.raises(KeyError):
        store.as_user("nobody")
    with pytest.raises(ValueError):
        store.add_boxes(image, box, np.zeros((3, 3)))
    with pytest.raises(ValueError):
        store.add_boxes(image, box, [[0, 0, np.nan, 1]])
    with pytest.raises(ValueError):  # x2 < x1 + 1
        store.add_boxes(image, box, [[10, 10, 5, 5]])
    with pytest.raises(ValueError):
        store.create_team("x")  # 3 to 30 characters
    with pytest.raises(exact_wsi.AlreadyExistsError):
        store.create_team("pathology")
    with pytest.raises(ValueError):
        store.create_annotation_type("t", 1, vector_type="hexagon")
    with pytest.raises(ValueError):
        store.add_image(iset, "x.svs", 10, 10, colour="red")
    with pytest.raises(ValueError):
        store.annotations(image, viewport=(0, 0, 1))
    with pytest.raises(ValueError):
        store.annotations(image, viewport=(5, 5, 0, 0))
    with pytest.raises(ValueError):
        store.annotations("one")
    with pytest.raises(ValueError) as e:
        store.add_annotations([{"annotation_type": box["id"], "vector": {"x1": 0, "y1": 0}}], image=image)
    assert "[0]" in str(e.value)
    with pytest.raises(ValueError):
        store.add_annotations([{"annotation_type": box["id"], "vector": {"x1": "a"}}], image=image)
    with pytest.raises(ValueError):
        store.add_annotations([{"annotation_type": 424242, "vector": None}], image=image)
    with pytest.raises(ValueError):
        store.add_annotations(42)
    with pytest.raises(ValueError):
        Store.open(42)
    with pytest.raises(ValueError):
        exact_wsi.serve(store, bind="nonsense")
    assert store.annotations(image) == []  # nothing half-written


def test_columns_outlive_the_store_and_are_read_only():
    import gc

    store = Store.memory()
    _, _, box, _, image = setup(store)
    store.add_boxes(image, box, random_boxes(1000))
    cols = store.annotations(image, as_columns=True)
    store.close()
    del store
    gc.collect()
    assert len(cols["id"]) == 1000 and cols["coords"].shape == (2000, 2)
    assert (cols["x_max"] > cols["x_min"]).all()
    assert not cols["id"].flags.writeable
    with pytest.raises(ValueError):
        cols["id"][0] = 5
    mine = cols["id"].copy()
    mine[0] = 5
    empty = Store.memory()
    _, _, _, _, im2 = setup(empty)
    none = empty.annotations(im2, as_columns=True)
    assert len(none["id"]) == 0 and none["offsets"].tolist() == [0] and none["coords"].shape == (0, 2)
