"""SlideRunner's sync path: EXACT-Sync's real `ExactManager` against `exact serve` — clock
check, image sets with products and types, upload through EXACT's UI endpoint, download,
annotations created, updated and loaded through the legacy endpoints, media files, annotation
types and team filter."""

import io
import json
import uuid

import pytest
from exact_sync.exact_manager import ExactManager

from conftest import CMU, PASSWORD


@pytest.fixture(scope="module")
def world(server):
    team = server.ok(server.post("/api/v1/users/teams/", json={"name": "runner team"}), 201).json()
    set_id = server.new_set("runner set", team=team["id"])
    product = server.ok(server.post("/api/v1/administration/products/", json={
        "name": "runner product", "team": team["id"], "imagesets": [set_id]}), 201).json()
    return team, set_id, product


def manager(server):
    return ExactManager(username="exact", password=PASSWORD, serverurl=server.url,
                        logfile=io.StringIO())


def test_sliderunner_sync_round_trip(server, world, tmp_path):
    team, set_id, product = world
    exm = manager(server)  # checks the clock with timesync/

    made = exm.create_annotationtype(product["id"], "mitosis", 1, color_code="#00FF00")
    assert made["name"] == "mitosis" and made["product"] == product["id"]

    up = exm.upload_image_to_imageset(set_id, str(CMU))
    image_id = up["files"][0]["id"]
    assert image_id > 0

    sets = exm.retrieve_imagesets()
    mine = [s for s in sets if s["id"] == set_id][0]
    assert [i["id"] for i in mine["images"]] == [image_id]
    assert [p["id"] for p in mine["products"]] == [product["id"]]
    assert mine["team"]["id"] == team["id"]
    loaded = exm.retrieve_imageset(set_id)
    assert loaded["name"] == "runner set" and loaded["images"][0]["name"] == CMU.name
    types = exm.retrieve_annotationtypes(set_id)
    assert [t["name"] for t in types] == ["mitosis"]

    target = tmp_path / "down.svs"
    exm.download_image(image_id, target, callback=None, original_image=True)
    assert target.read_bytes() == CMU.read_bytes()

    guid = str(uuid.uuid4())
    created = exm.create_annotation(image_id, made["id"], [[10, 20], [110, 220]], guid=guid,
                                    last_modified=1_600_000_000)
    anno = created["annotations"]
    assert anno["unique_identifier"] == guid
    exm.update_annotation(anno["id"], image_id, made["id"], [[15, 25], [115, 225]], guid=guid)
    annos = exm.retrieve_annotations(image_id)
    assert len(annos) == 1 and annos[0]["vector"]["x1"] == 15

    media = tmp_path / "note.txt"
    media.write_bytes(b"a dictated note")
    files = exm.upload_annotation_mediafile(anno["id"], str(media), 1)["files"]
    assert files[0]["name"] == "note.txt"
    body = server.ok(server.get(f"/api/v1/annotations/annotation_media_files/{files[0]['id']}/file/"))
    assert body.content == b"a dictated note"

    teams = json.loads(exm.filter_teams(name="runner team")[1])["teams"]
    assert [t["id"] for t in teams] == [team["id"]]

    status, _ = exm.delete_annotationtype(made["id"])
    assert status == 200
    assert exm.retrieve_annotationtypes(set_id) == []


def test_exact_sync_media_file_multipart(server, world, tmp_path):
    """EXACT-Sync's create_annotation_media_file posts multipart `file` + fields."""
    from exact_sync.v1.api.annotation_media_files_api import AnnotationMediaFilesApi
    from exact_sync.v1.api_client import ApiClient
    from exact_sync.v1.configuration import Configuration

    team, set_id, product = world
    t = server.ok(server.post("/api/v1/annotations/annotation_types/", json={
        "name": "box", "vector_type": 1, "product": product["id"]}), 201).json()
    image = server.upload(set_id, CMU, name="second.svs")["results"][0]
    a = server.ok(server.post("/api/v1/annotations/annotations/", json={
        "annotation_type": t["id"], "image": image["id"],
        "vector": {"x1": 1, "y1": 1, "x2": 5, "y2": 5}}), 201).json()
    conf = Configuration()
    conf.username, conf.password, conf.host = "exact", PASSWORD, server.url
    api = AnnotationMediaFilesApi(ApiClient(conf))
    pic = tmp_path / "example.png"
    pic.write_bytes(b"\x89PNG not really")
    made = api.create_annotation_media_file(file=str(pic), name="example.png",
                                            media_file_type=2, annotation=a["id"]).results[0]
    assert made.name == "example.png" and made.annotation == a["id"]
    got = server.ok(server.get(f"/api/v1/annotations/annotation_media_files/{made.id}/file/"))
    assert got.content == pic.read_bytes()


def test_image_custom_filters_and_annotation_ids(server, world):
    team, set_id, product = world
    t = server.ok(server.post("/api/v1/annotations/annotation_types/", json={
        "name": "cell", "vector_type": 1, "product": product["id"]}), 201).json()
    a = server.upload(set_id, CMU, name="filters-a.svs")["results"][0]["id"]
    b = server.upload(set_id, CMU, name="filters-b.svs")["results"][0]["id"]
    made = server.ok(server.post("/api/v1/annotations/annotations/", json=[
        {"annotation_type": t["id"], "image": a, "vector": {"x1": n, "y1": n, "x2": n + 9, "y2": n + 9}}
        for n in range(3)]),
        201).json()
    listed = lambda **p: [i["id"] for i in server.ok(server.get(
        "/api/v1/images/images/", params={"image_set": set_id, **p})).json()["results"]]
    assert listed(annotation_type=t["id"]) == [a]
    assert a in listed(num_annotations_min=3) and b not in listed(num_annotations_min=3)
    assert b in listed(num_annotations_max=0) and a not in listed(num_annotations_max=2)
    one = server.ok(server.get(f"/api/v1/images/images/{a}/")).json()
    assert sorted(one["annotations"]) == sorted(m["id"] for m in made)
    assert "annotations" not in server.ok(server.get(
        f"/api/v1/images/images/{a}/", params={"omit": "annotations"})).json()


def test_viewer_open_close_log(server, world):
    team, set_id, product = world
    image = server.upload(set_id, CMU, name="logged.svs")["results"][0]["id"]
    opened = server.ok(server.post(f"/images/api/image/opened/{image}/",
                                   headers={"X-Forwarded-For": "10.1.2.3, 127.0.0.1"})).json()
    assert opened["action"] == 1 and opened["ip"] == "10.1.2.3"
    assert server.ok(server.post(f"/images/api/image/closed/{image}/")).json()["action"] == 2
    log = server.ok(server.get("/api/v1/annotations/log_image_actions/", params={"image": image})).json()
    assert [e["action"] for e in log["results"]] == [1, 2]
    assert server.post("/images/api/image/opened/999999/").status_code == 404
