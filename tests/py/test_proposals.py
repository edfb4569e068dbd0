"""Model proposals from Python (issue 16): `add_annotations(..., generated=True, scores=...)` and
`Store.propose` running the example colour-threshold model over a real slide's tiles."""

import io
import sys
from pathlib import Path

import pytest
from exact_wsi import InvalidInputError, Store

REPO = Path(__file__).resolve().parents[2]
CMU = REPO / "tests" / "fixtures" / "data" / "CMU-1-Small-Region.svs"
sys.path.insert(0, str(REPO / "examples"))
import colour_model  # noqa: E402


@pytest.fixture()
def world():
    store = Store.memory()
    team = store.create_team("lab")
    iset = store.create_image_set("slides", team)
    product = store.create_product("tissue", team=team, imagesets=[iset])
    tissue = store.create_annotation_type("tissue", product, vector_type="polygon")
    image = store.upload(iset, CMU, wait=True)
    return store, image, tissue


def test_add_annotations_with_provenance(world):
    store, image, tissue = world
    rows = [{"annotation_type": tissue["id"], "vector": {"x1": 1, "y1": 1, "x2": 9, "y2": 1, "x3": 5, "y3": 9}},
            {"annotation_type": tissue["id"], "vector": {"x1": 20, "y1": 20, "x2": 29, "y2": 20, "x3": 25, "y3": 29},
             "meta_data": {"note": "kept"}}]
    made = store.add_annotations(rows, image=image, generated=True, scores=[0.25, 0.75], model="m", version="2")
    assert [a["meta_data"]["score"] for a in made] == [0.25, 0.75]
    assert all(a["meta_data"]["generated"] is True and a["meta_data"]["model"] == "m" for a in made)
    assert made[1]["meta_data"]["note"] == "kept"
    with pytest.raises(InvalidInputError, match="scores"):
        store.add_annotations(rows, image=image, generated=True, scores=[0.5])
    assert len(store.annotations(image)) == 2  # nothing half-written


def test_propose_runs_a_callable_over_the_tiles(world):
    store, image, tissue = world

    def model(tile, x, y):
        buf = io.BytesIO()
        tile.save(buf, format="PNG")
        for f in colour_model.segment(buf.getvalue())["features"]:
            yield {"points": f["geometry"]["coordinates"][0][:-1], "class": "tissue",
                   "score": f["properties"]["score"]}

    got = store.propose(image, model, classes={"tissue": tissue["id"]}, tile_size=256,
                        region=(0, 0, 512, 512), name="colour", version="1")
    assert got["tiles"] == 4 and got["proposals"] > 0
    rows = store.annotations(image)
    assert len(rows) == got["proposals"]
    assert all(r["meta_data"]["generated"] is True and r["meta_data"]["model"] == "colour" for r in rows)
    xs = [r["vector"][k] for r in rows for k in r["vector"] if k.startswith("x")]
    assert 0 <= min(xs) and max(xs) <= 512

    def outside(tile, x, y):
        return [{"points": [(0, 0), (9999, 0), (5, 5)], "class": "tissue"}]

    with pytest.raises(InvalidInputError, match="outside"):
        store.propose(image, outside, classes={"tissue": tissue["id"]}, tile_size=256, region=(0, 0, 256, 256))
    assert len(store.annotations(image)) == got["proposals"]
