"""The real EXACT-Sync client (exact-sync 0.0.41) against a running `exact serve`.

Usage: exact_sync_test.py HOST USER PASSWORD. Exits non-zero on the first failed check.
"""
import json
import sys
import uuid

import requests
from exact_sync.v1.api.annotation_types_api import AnnotationTypesApi
from exact_sync.v1.api.annotations_api import AnnotationsApi
from exact_sync.v1.api.image_sets_api import ImageSetsApi
from exact_sync.v1.api.images_api import ImagesApi
from exact_sync.v1.api.products_api import ProductsApi
from exact_sync.v1.api.teams_api import TeamsApi
from exact_sync.v1.api.verifications_api import VerificationsApi
from exact_sync.v1.api_client import ApiClient
from exact_sync.v1.configuration import Configuration
from exact_sync.v1.models import Annotation, AnnotationType, ImageSet, Product, Team
from exact_sync.v1.rest import ApiException

host, user, password = sys.argv[1:4]
conf = Configuration()
conf.username, conf.password, conf.host = user, password, host
client = ApiClient(conf)
teams, sets, products = TeamsApi(client), ImageSetsApi(client), ProductsApi(client)
types, annotations, images = AnnotationTypesApi(client), AnnotationsApi(client), ImagesApi(client)

team = teams.create_team(body=Team(name="sync team"))
assert team.name == "sync team", team
image_set = sets.create_image_set(body=ImageSet(name="sync set", team=team.id))
product = products.create_product(body=Product(name="sync product", team=team.id, imagesets=[image_set.id]))
box = types.create_annotation_type(body=AnnotationType(name="mitosis", vector_type=1, product=product.id))
assert box.product == product.id, box

# No upload over HTTP yet: register the image's metadata with a plain JSON POST.
r = requests.post(
    f"{host}/api/v1/images/images/",
    auth=(user, password),
    json={"name": "slide.svs", "image_set": image_set.id, "width": 20000, "height": 20000},
)
assert r.status_code == 201, r.text
image_id = r.json()["id"]
assert [i.id for i in images.list_images(image_set=image_set.id).results] == [image_id]

sent_time = "2021-06-15T10:20:30.123456"


def same_time(v):
    """The client hands back the string, or a datetime when python-dateutil is installed."""
    return (v if isinstance(v, str) else v.strftime("%Y-%m-%dT%H:%M:%S.%f")) == sent_time


bulk = [
    Annotation(
        annotation_type=box.id,
        image=image_id,
        vector={"x1": 10 * n, "y1": 10 * n, "x2": 10 * n + 5, "y2": 10 * n + 5},
        unique_identifier=str(uuid.uuid4()),
        time=sent_time,
        last_edit_time=sent_time,
    )
    for n in range(130)
]
created = annotations.create_annotation(body=bulk)
assert len(created) == 130, len(created)
assert all(same_time(a.time) and same_time(a.last_edit_time) for a in created), created[0]

page = annotations.list_annotations(image=image_id)
assert page.count == 130 and len(page.results) == 50, (page.count, len(page.results))
everything = annotations.list_annotations(image=image_id, pagination=False)
assert sorted(a.id for a in everything.results) == sorted(a.id for a in created), len(everything.results)

first = created[0]
changed = annotations.partial_update_annotation(first.id, description="checked")
assert changed.description == "checked", changed
live = annotations.list_annotations(image=image_id, deleted=False, fields="id,deleted", limit=1)
assert live.count == 130, live.count
# DELETE is EXACT's: the annotation is gone (404, in no list) ...
annotations.destroy_annotation(created[1].id)
assert annotations.list_annotations(image=image_id, deleted=True).count == 0
assert annotations.list_annotations(image=image_id).count == 129
try:
    annotations.retrieve_annotation(created[1].id)
    raise AssertionError("a deleted annotation must be gone")
except ApiException as e:
    assert e.status == 404, e
# ... but kept in the trash, restorable by its editors; PATCH deleted=true stays visible.
r = requests.post(f"{host}/api/v1/annotations/annotations/{created[1].id}/restore/",
                  auth=(user, password))
assert r.status_code == 200 and r.json()["deleted"] is False, r.text
assert annotations.partial_update_annotation(created[1].id, deleted=True).deleted is True
assert annotations.list_annotations(image=image_id, deleted=True).count == 1
assert annotations.retrieve_annotation(created[1].id).deleted is True

# The client's create_verification sends its form parameters as an empty JSON body: a 400.
try:
    VerificationsApi(client).create_verification(annotation=first.id, verified=True)
    raise AssertionError("create_verification without a body must fail")
except ApiException as e:
    assert e.status == 400, e
r = requests.post(
    f"{host}/api/v1/annotations/verifications/",
    auth=(user, password),
    json={"annotation": first.id, "verified": True},
)
assert r.status_code == 201 and r.json()["verified"] is True, r.text
assert VerificationsApi(client).list_verifications(annotation=first.id).count == 1

annotations.multiple_delete(id__in=f"{created[2].id},{created[3].id}")
assert annotations.list_annotations(image=image_id, deleted=True).count == 1
assert annotations.list_annotations(image=image_id).count == 128
trash = requests.get(f"{host}/api/v1/annotations/annotations/trash/?image={image_id}",
                     auth=(user, password)).json()
assert sorted(a["id"] for a in trash["results"]) == [created[2].id, created[3].id], trash
shaped = requests.get(
    f"{host}/api/v1/annotations/annotations/?image={image_id}&fields=id,time&limit=2",
    auth=(user, password),
).json()
assert set(shaped["results"][0]) == {"id", "time"}, shaped
assert "limit=2" in shaped["next"] and "offset=2" in shaped["next"], shaped["next"]

print(json.dumps({"ok": True, "annotations": len(everything.results)}))
