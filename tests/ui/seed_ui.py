"""Seeds `exact serve` for the UI benchmark: a team, set, product, a box type and a polygon
type, the benchmark slide registered in place (file link, as the superuser), then N
annotations, half boxes and half hexagons of 10-60 px spread uniformly, through bulk POSTs of
10,000. Prints one JSON line: {"image", "set", "types": [box, polygon], "size", "n"}.
Usage: python seed_ui.py BASE USER PASSWORD SLIDE_PATH SIZE N. Standard library only."""
import base64
import json
import math
import random
import sys
import time
import urllib.request

base, user, password, slide, size, n = sys.argv[1:7]
size, n = int(size), int(n)
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


team = post("/api/v1/users/teams/", {"name": "ui bench"})["id"]
s = post("/api/v1/images/image_sets/", {"name": "ui bench set", "team": team})["id"]
product = post("/api/v1/administration/products/",
               {"name": "ui bench product", "team": team, "imagesets": [s]})["id"]
box = post("/api/v1/annotations/annotation_types/",
           {"name": "cell", "vector_type": 1, "product": product, "color_code": "#E53935",
            "sort_order": 0})["id"]
poly = post("/api/v1/annotations/annotation_types/",
            {"name": "gland", "vector_type": 5, "product": product, "color_code": "#1E88E5",
             "sort_order": 1})["id"]
image = post("/api/v1/images/images/",
             {"name": "ui-bench.tif", "image_set": s, "image_type": 2,
              "filename": "file://" + slide})["id"]

rng = random.Random(12)
t0 = time.time()
done = 0
while done < n:
    batch = []
    for i in range(min(10_000, n - done)):
        x, y = rng.uniform(40, size - 100), rng.uniform(40, size - 100)
        if (done + i) % 2 == 0:
            w, h = rng.uniform(10, 60), rng.uniform(10, 60)
            vector = {"x1": round(x), "y1": round(y), "x2": round(x + w), "y2": round(y + h)}
            kind = box
        else:
            r = rng.uniform(5, 30)
            vector = {}
            for k in range(6):
                a = k * math.pi / 3 + rng.uniform(-0.3, 0.3)
                vector[f"x{k + 1}"] = round(x + r + r * math.cos(a), 1)
                vector[f"y{k + 1}"] = round(y + r + r * math.sin(a), 1)
            kind = poly
        batch.append({"annotation_type": kind, "image": image, "vector": vector})
    post("/api/v1/annotations/annotations/?fields=id", batch)
    done += len(batch)
    if done % 100_000 == 0 or done == n:
        print(f"  {done} annotations in {time.time() - t0:.0f} s", file=sys.stderr)
print(json.dumps({"image": image, "set": s, "types": [box, poly], "size": size, "n": n}))
