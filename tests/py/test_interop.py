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


# SlideRunner's published schema (SlideRunner/dataAccess/database.py): the older tables, and the
# columns the current version added (guid, deleted, lastModified, description; coordinateZ).
SR_OLD = """
CREATE TABLE Slides (uid INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT, width INTEGER, height INTEGER, directory TEXT);
CREATE TABLE Annotations (uid INTEGER PRIMARY KEY AUTOINCREMENT, slide INTEGER, type INTEGER, agreedClass INTEGER);
CREATE TABLE Annotations_coordinates (uid INTEGER PRIMARY KEY AUTOINCREMENT, coordinateX INTEGER, coordinateY INTEGER, slide INTEGER, annoId INTEGER, orderIdx INTEGER);
CREATE TABLE Annotations_label (uid INTEGER PRIMARY KEY AUTOINCREMENT, person INTEGER, class INTEGER, annoId INTEGER);
CREATE TABLE Persons (uid INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
CREATE TABLE Classes (uid INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
"""
SR_CURRENT = """
CREATE TABLE `Log` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`dateTime` FLOAT,`labelId` INTEGER);
CREATE TABLE `Slides` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`filename` TEXT,`width` INTEGER,`EXACTUSER` INTEGER DEFAULT 0 ,`height` INTEGER,`directory` TEXT,`uuid` TEXT,`exactImageID` TEXT);
CREATE TABLE `Annotations` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`guid` TEXT,`deleted` INTEGER DEFAULT 0 ,`slide` INTEGER,`type` INTEGER,`agreedClass` INTEGER,`lastModified` REAL DEFAULT 1600000000.0 ,`description` TEXT);
CREATE TABLE `Annotations_coordinates` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`coordinateX` INTEGER,`coordinateY` INTEGER,`coordinateZ` INTEGER DEFAULT 0 ,`slide` INTEGER,`annoId` INTEGER,`orderIdx` INTEGER);
CREATE TABLE `Persons` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`name` TEXT,`isExactUser` INTEGER DEFAULT 0 );
CREATE TABLE `Classes` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`name` TEXT,`color` TEXT);
CREATE TABLE `Annotations_label` (`uid` INTEGER PRIMARY KEY AUTOINCREMENT,`exact_id` INTEGER,`person` INTEGER DEFAULT 0 ,`class` INTEGER,`annoId` INTEGER);
"""


def sliderunner_db(path, current):
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript(SR_CURRENT if current else SR_OLD)
    db.execute("INSERT INTO Persons (uid, name) VALUES (1, 'marc'), (2, 'christof')")
    classes = [(1, "Mitotic figure", "#ff0000"), (2, "Lookalike", "#00ff00"), (3, "Tumor", "#0000ff"),
               (4, "Slide quality", "#aaaaaa")]
    for uid, name, colour in classes:
        if current:
            db.execute("INSERT INTO Classes (uid, name, color) VALUES (?, ?, ?)", (uid, name, colour))
        else:
            db.execute("INSERT INTO Classes (uid, name) VALUES (?, ?)", (uid, name))
    # One slide matched by name, one only by file stem, one nowhere (NULL size).
    db.execute("INSERT INTO Slides (uid, filename, width, height) VALUES (1, 'case1.svs', 20000, 10000), "
               "(2, 'case1.tiff', NULL, NULL), (3, 'other.ndpi', NULL, NULL)")
    annos = [  # uid, slide, type, agreedClass, coordinates
        (1, 1, 1, 1, [(100, 200)]),                           # spot
        (2, 1, 2, 2, [(300, 300), (340, 360)]),               # area
        (3, 1, 3, 3, [(10, 10), (60, 12), (40, 70)]),         # polygon
        (4, 1, 4, None, [(500, 500)]),                        # special spot without agreed class
        (5, 1, 5, 1, [(600, 600), (640, 640)]),               # circle
        (6, 1, 6, 4, []),                                     # image annotation
        (7, 3, 1, 1, [(70, 70)]),                             # on the unmatched slide
        (8, 2, 1, 1, [(800, 800)]),                           # on the slide matched by stem
    ]
    for uid, slide, kind, agreed, coords in annos:
        if current:
            db.execute("INSERT INTO Annotations (uid, guid, deleted, slide, type, agreedClass, lastModified, description) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (uid, f"6c0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a{uid:02d}", int(uid == 2), slide, kind, agreed,
                        1600000000.5, f"anno {uid}"))
        else:
            db.execute("INSERT INTO Annotations (uid, slide, type, agreedClass) VALUES (?, ?, ?, ?)",
                       (uid, slide, kind, agreed))
        for i, (x, y) in enumerate(coords):
            db.execute("INSERT INTO Annotations_coordinates (coordinateX, coordinateY, slide, annoId, orderIdx) "
                       "VALUES (?, ?, ?, ?, ?)", (x, y, slide, uid, i + 1))
        db.execute("INSERT INTO Annotations_label (person, class, annoId) VALUES (1, ?, ?)", (agreed or 2, uid))
        db.execute("INSERT INTO Annotations_label (person, class, annoId) VALUES (2, 2, ?)", (uid,))
    db.commit()
    db.close()


def vec(**k):
    return json.dumps(k, sort_keys=True)


@pytest.mark.parametrize("current", [False, True], ids=["old schema", "current schema"])
def test_sliderunner_databases_of_both_schemas(tmp_path, current):
    import sqlite3

    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    path = tmp_path / "sr.sqlite"
    sliderunner_db(path, current)
    with pytest.raises(InvalidInputError) as e:
        store.import_file(path, iset)
    reasons = " ".join(f"{r['place']}: {r['reason']}" for r in e.value.report["refused"])
    assert 'unknown class "Mitotic figure"' in reasons and '"other.ndpi" matches no image' in reasons
    assert store.annotations(image, deleted=None) == []
    r = store.import_file(path, iset, create_missing=True)
    assert r["created"] == 8, r
    assert r["created_images"] == ["other.ndpi"]
    assert sorted(r["created_types"]) == ["Lookalike", "Mitotic figure", "Slide quality", "Tumor", "unclassified"]
    by_type = {t["id"]: t for t in store.annotation_types()}
    rows = store.annotations(image, deleted=None)
    got = sorted((by_type[a["annotation_type"]]["name"], by_type[a["annotation_type"]]["vector_type"],
                  json.dumps(a["vector"], sort_keys=True)) for a in rows)
    assert got == sorted([
        ("Mitotic figure", 2, vec(x1=75, y1=175, x2=125, y2=225)),       # spot: the type's default size
        ("Lookalike", 1, vec(x1=300, y1=300, x2=340, y2=360)),           # area: a box
        ("Tumor", 5, vec(x1=10, y1=10, x2=60, y2=12, x3=40, y3=70)),      # polygon
        ("unclassified", 2, vec(x1=475, y1=475, x2=525, y2=525)),        # no agreed class: kept
        ("Mitotic figure", 2, vec(x1=600, y1=600, x2=640, y2=640)),      # circle: its box
        ("Slide quality", 7, "null"),                                    # image annotation: global
        ("Mitotic figure", 2, vec(x1=775, y1=775, x2=825, y2=825)),      # slide matched by stem
    ])
    for a in rows:
        assert [x["person"] for x in a["meta_data"]["sliderunner"]["labels"]] == ["marc", "christof"]
    if current:
        by_desc = {a["description"]: a for a in rows}
        assert by_desc["anno 2"]["deleted"] is True
        assert by_desc["anno 1"]["unique_identifier"] == "6c0c5b1e-4a44-4b0c-9a39-7b7f0a9f0a01"
        assert by_desc["anno 1"]["last_edit_time"].startswith("2020-09-13T12:26:40.5")
        assert by_desc["anno 4"]["meta_data"]["sliderunner"]["special_spot"] is True
    # Idempotent (GUIDs; in the old schema, identical geometry and class).
    again = store.import_file(path, iset, create_missing=True)
    assert (again["created"], again["skipped_duplicates"]) == (0, 8)
    # Export writes SlideRunner's current schema (what its checkTableStructure accepts).
    out = tmp_path / "out.sqlite"
    store.export(iset, out, format="sliderunner")
    db = sqlite3.connect(out)
    ref = sqlite3.connect(":memory:")
    ref.executescript(SR_CURRENT)
    for table in ["Slides", "Annotations", "Annotations_coordinates", "Persons", "Classes", "Annotations_label", "Log"]:
        cols = [(c[1], c[2]) for c in db.execute(f"PRAGMA table_info({table})")]
        assert cols == [(c[1], c[2]) for c in ref.execute(f"PRAGMA table_info({table})")], table
    types = sorted(t for (t,) in db.execute("SELECT type FROM Annotations"))
    assert types == [2, 3, 4, 5, 5, 5, 5, 6]
    coords = db.execute("SELECT coordinateX, coordinateY FROM Annotations_coordinates c JOIN Annotations a "
                        "ON a.uid = c.annoId WHERE a.type = 3 ORDER BY orderIdx").fetchall()
    assert coords == [(10, 10), (60, 12), (40, 70)]


def test_a_sqlite_file_that_is_not_sliderunners_is_refused(tmp_path):
    import sqlite3

    store = Store.memory()
    team, iset, product, box, poly, image = setup(store)
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE things (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(InvalidInputError, match="no table Annotations"):
        store.import_file(path, iset)
