"""EXACT's export formats from Python: `Store.create_export_format` (bad templates raise
`InvalidInputError` naming the field) and `Store.export(..., format="exact:<name>")`."""

import pytest
from exact_wsi import InvalidInputError, Store


def test_export_through_an_exact_format(tmp_path):
    store = Store.memory()
    team = store.create_team("pathology")
    iset = store.create_image_set("mitoses", team)
    product = store.create_product("cells", team=team, imagesets=[iset])
    box = store.create_annotation_type("mitosis", product, vector_type="bbox")
    image = store.add_image(iset, "case1.svs", 1000, 500)
    store.add_annotations([{"image": image["id"], "annotation_type": box["id"],
                            "vector": {"x1": 10, "y1": 20, "x2": 110, "y2": 70}}])
    with pytest.raises(InvalidInputError, match="annotation_format.*%%typo at character 1"):
        store.create_export_format("bad", team, [box], annotation_format="%%typo")
    f = store.create_export_format("centres", team, [box],
                                   annotation_format="%%imagename;%%relcx;%%relcy;%%dia")
    assert f["vector_format"] == '"x%%count1": %%x,"y%%count1": %%y,'
    assert [x["name"] for x in store.export_formats()] == ["centres"]
    out = tmp_path / "centres.txt"
    summary = store.export(iset, out, format="exact:centres")
    assert summary["annotations"] == 1 and summary["format"] == "exact:centres"
    assert out.read_text() == "\ncase1.svs;0.06;0.09;75.0\n"
    with pytest.raises(InvalidInputError, match='no export format named "nope"'):
        store.export(iset, tmp_path / "x.txt", format="exact:nope")
    assert not (tmp_path / "x.txt").exists()
