"""Annotation files in and out of the embedded store (``Store.import_file`` / ``Store.export``),
checked by the real tools: shapely reads our GeoJSON (and the committed golden export), and
pycocotools reads our COCO, rasterises its polygons and writes the RLE masks we import."""

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from shapely.geometry import Polygon, shape
from shapely.validation import explain_validity

from exact_wsi import InvalidInputError, Store

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "exact-interop" / "tests" / "fixtures"


def setup(store):
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team)
    product = store.create_product("cells", team=team, imagesets=[iset])
    box = store.create_annotation_type("mitosis", product, vector_type="bbox")
    poly = store.create_annotation_type("tumour", product, vector_type="polygon")
    image = store.add_image(iset, "case1.svs", 20_000, 10_000, mpp=0.25)
    return team, iset, product, box, poly, image


def boxes(n, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 19_000, n).round()
    y = rng.uniform(0, 9_000, n).round()
    w = rng.uniform(5, 300, n).round()
    h = rng.uniform(5, 300, n).round()
    return np.stack([x, y, x + w, y + h], axis=1)


def test_geojson_export_reads_in_shapely_and_round_trips(tmp_path):
    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    b = boxes(500)
    store.add_boxes(image, box, b)
    ring = [(1000.5, 1000), (1600, 1100), (1400, 1900.25), (900, 1500)]
    store.add_annotations([{"annotation_type": poly["id"], "image": image["id"],
                            "vector": {f"{a}{i + 1}": v for i, (x, y) in enumerate(ring)
                                       for a, v in (("x", x), ("y", y))},
                            "meta_data": {"score": 0.5}}])
    out = tmp_path / "set.geojson"
    summary = store.export(iset, out)
    assert summary["annotations"] == 501
    doc = json.loads(out.read_text())
    assert doc["type"] == "FeatureCollection"
    assert doc["exact"]["coordinate_frame"].startswith("level-0 pixels")
    assert "0.25 µm/px" in doc["exact"]["coordinate_frame"]
    shapes = [shape(f["geometry"]) for f in doc["features"]]
    assert all(s.is_valid for s in shapes), [explain_validity(s) for s in shapes if not s.is_valid]
    rects = sorted(tuple(s.bounds) for s, f in zip(shapes, doc["features"])
                   if f["properties"]["classification"]["name"] == "mitosis")
    assert rects == sorted(tuple(r) for r in b.tolist())
    assert all(s.area == (r[2] - r[0]) * (r[3] - r[1]) for s, r in
               zip(sorted((s for s, f in zip(shapes, doc["features"])
                           if f["properties"]["classification"]["name"] == "mitosis"),
                          key=lambda s: s.bounds), rects))
    tumour = [s for s, f in zip(shapes, doc["features"])
              if f["properties"]["classification"]["name"] == "tumour"][0]
    assert tumour.equals(Polygon(ring))
    # Into an empty set of the same team, and a second time: nothing new.
    copy = store.create_image_set("copy", team)
    p2 = store.create_product("cells again", team=team, imagesets=[copy])
    store.create_annotation_type("mitosis", p2, vector_type="bbox")
    store.create_annotation_type("tumour", p2, vector_type="polygon")
    store.add_image(copy, "case1.svs", 20_000, 10_000)
    r = store.import_file(out, copy)
    assert (r["created"], r["skipped_duplicates"], r["refused_count"]) == (501, 0, 0)
    r = store.import_file(out, copy)
    assert (r["created"], r["skipped_duplicates"]) == (0, 501)


def test_golden_geojson_export_is_valid_for_shapely():
    doc = json.loads((GOLDEN / "export.geojson").read_text())
    kinds = {}
    for f in doc["features"]:
        if f["geometry"] is None:
            assert f["properties"]["exact"]["vector_type"] == "global"
            continue
        s = shape(f["geometry"])
        assert s.is_valid, explain_validity(s)
        kinds[f["properties"]["exact"]["vector_type"]] = s.geom_type
    assert kinds == {"box": "Polygon", "polygon": "Polygon", "point": "Point", "line": "LineString",
                     "multiline": "LineString"}


def test_coco_export_loads_in_pycocotools(tmp_path):
    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    b = boxes(50)
    store.add_boxes(image, box, b)
    out = tmp_path / "set.json"
    store.export(iset, out)
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 50
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["mitosis", "tumour"]
    img = coco.loadImgs(coco.getImgIds())[0]
    assert (img["file_name"], img["width"], img["height"]) == ("case1.svs", 20_000, 10_000)
    for ann in coco.loadAnns(coco.getAnnIds()[:2]):
        x, y, w, h = ann["bbox"]
        m = coco.annToMask(ann)
        assert m.shape == (10_000, 20_000)
        # The rasterised rectangle covers its box (pycocotools' polygon fill is half-open).
        assert abs(int(m.sum()) - w * h) <= w + h + 1
        assert ann["area"] == w * h


def test_coco_rle_written_by_pycocotools_imports_as_its_outline(tmp_path):
    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    m = np.zeros((64, 48), dtype=np.uint8, order="F")
    m[10:30, 5:25] = 1      # a 20 x 20 square ...
    m[15:20, 10:15] = 0     # ... with a 5 x 5 hole
    rle = mask_utils.encode(m)
    rle["counts"] = rle["counts"].decode("ascii")
    doc = {"images": [{"id": 1, "file_name": "case1.svs", "width": 48, "height": 64}],
           "categories": [{"id": 1, "name": "tumour"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 1,
                            "bbox": list(mask_utils.toBbox(rle)), "segmentation": rle}]}
    path = tmp_path / "rle.json"
    path.write_text(json.dumps(doc))
    r = store.import_file(path, iset)
    assert r["created"] == 1
    a = store.annotations(image)[0]
    v = a["vector"]
    outer = Polygon([(v[f"x{i}"], v[f"y{i}"]) for i in range(1, len(v) // 2 + 1)])
    assert outer.equals(Polygon([(5, 10), (25, 10), (25, 30), (5, 30)]))
    hole = Polygon(a["meta_data"]["holes"][0])
    assert hole.equals(Polygon([(10, 15), (15, 15), (15, 20), (10, 20)]))
    assert outer.area - hole.area == int(m.sum())


def test_refused_import_raises_naming_the_feature_and_writes_nothing(tmp_path):
    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps([
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]},
         "properties": {"classification": {"name": "mitosis"}}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]},
         "properties": {"classification": {"name": "Stroma"}}},
    ]))
    with pytest.raises(InvalidInputError, match="feature 2: unknown class") as e:
        store.import_file(bad, iset)
    assert e.value.report["refused"][0]["place"] == "feature 2"
    assert store.annotations(image) == []
    r = store.import_file(bad, iset, create_missing=True, dry_run=True)
    assert (r["written"], r["created_types"]) == (False, ["Stroma"])
    assert store.annotations(image) == []
    with pytest.raises(InvalidInputError, match="unknown format"):
        store.import_file(bad, iset, format="shapefile")
