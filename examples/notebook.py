# %% [markdown]
# # exact_wsi from a notebook
#
# A notebook-style tour (cells marked `# %%`, runnable as a script): a data directory of its own,
# a slide uploaded and read by image id, a million-annotation-style bulk write as numpy columns,
# a viewport query, an export to QuPath GeoJSON, and the same store over HTTP with
# `exact_wsi.connect`. Run it with the wheel installed (`pip install ./exact-py`):
#
#     python examples/notebook.py [SLIDE]
#
# SLIDE defaults to the small Aperio slide in tests/fixtures/data.

# %%
import pathlib
import sys
import tempfile

import exact_wsi
import numpy as np

here = pathlib.Path(__file__).resolve().parent
slide_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else (
    here.parent / "tests" / "fixtures" / "data" / "CMU-1-Small-Region.svs")
work = pathlib.Path(tempfile.mkdtemp(prefix="exact-notebook-"))

# %% [markdown]
# ## A store, a team, a set, a product and two annotation types
# The first user of a new store is its superuser (`exact` unless named).

# %%
store = exact_wsi.Store.open(work / "data")
team = store.create_team("pathology")
image_set = store.create_image_set("mitoses", team["id"])
copy = store.create_image_set("mitoses (copy)", team["id"])  # for the round trip below
product = store.create_product("cells", team=team["id"], imagesets=[image_set["id"], copy["id"]])
cell = store.create_annotation_type("cell", product["id"], vector_type="bbox")
gland = store.create_annotation_type("gland", product["id"], vector_type="polygon")

# %% [markdown]
# ## Upload a slide and read its pixels by image id (with the acting user's rights)

# %%
image = store.upload(image_set["id"], slide_path)
slide = store.slide(image["id"])
print(image["name"], slide.dimensions, slide.level_count, "levels")
tile = np.asarray(slide.read_region((0, 0), 0, (256, 256)))
print("a 256 × 256 region:", tile.shape, tile.dtype)

# %% [markdown]
# ## Bulk writes: 10,000 boxes as one atomic batch, and a polygon as a dict row

# %%
rng = np.random.default_rng(7)
w, h = slide.dimensions
xy = rng.uniform([0, 0], [w - 40, h - 40], size=(10_000, 2))
boxes = np.hstack([xy, xy + rng.uniform(8, 40, size=(10_000, 2))])
ids = store.add_boxes(image["id"], cell["id"], boxes)
store.add_annotations([{
    "annotation_type": gland["id"],
    "vector": {"x1": 100, "y1": 100, "x2": 400, "y2": 120, "x3": 380, "y3": 420, "x4": 90, "y4": 380},
    "description": "a gland",
}], image=image["id"])
print(len(ids), "boxes written")

# %% [markdown]
# ## Read back: a viewport as numpy columns, filters by EXACT's names

# %%
cols = store.annotations(image["id"], viewport=(0, 0, 500, 500), as_columns=True)
print(len(cols["id"]), "annotations meet the top-left 500 × 500 px")
polygons = store.annotations(image["id"], vector_type="polygon")
print([p["description"] for p in polygons])

# %% [markdown]
# ## Export to QuPath's GeoJSON, import into a fresh set (a lossless round trip)

# %%
out = work / "mitoses.geojson"
store.export(image_set["id"], out)
store.upload(copy["id"], slide_path)
report = store.import_file(out, copy["id"])
print("imported:", report["created"], "created,", report["skipped_duplicates"], "duplicates")
assert report["created"] == len(ids) + 1

# %% [markdown]
# ## The same store over HTTP: `exact_wsi.connect` answers as `Store` does

# %%
store.set_password("exact", "notebook-secret")
with exact_wsi.serve(store) as server:
    remote = exact_wsi.connect(server.url, username="exact", password="notebook-secret")
    local_ids = [a["id"] for a in store.annotations(image["id"], viewport=(0, 0, 500, 500))]
    remote_ids = [a["id"] for a in remote.annotations(image["id"], viewport=(0, 0, 500, 500))]
    assert local_ids == remote_ids
    print("over HTTP:", len(remote_ids), "annotations in the same viewport")
