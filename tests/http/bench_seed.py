"""Seeds exact serve for tests/http/bench_api.sh: a team, set, product and box type, then
image 1 (100,000 x 100,000 px) with N1 random boxes and image 2 with N2, through bulk POSTs of
10,000 annotations. Prints `image1 image2 image3 type` ids (image 3 is left empty for the
writers). Standard library only."""
import base64
import json
import random
import sys
import time
import urllib.request

base, user, password, n1, n2 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
SIZE = 100_000


def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


team = post("/api/v1/users/teams/", {"name": "bench"})["id"]
s = post("/api/v1/images/image_sets/", {"name": "bench set", "team": team})["id"]
product = post("/api/v1/administration/products/", {"name": "bench product", "team": team, "imagesets": [s]})["id"]
kind = post("/api/v1/annotations/annotation_types/", {"name": "cell", "vector_type": 1, "product": product})["id"]
images = [post("/api/v1/images/images/", {"name": f"slide{i}.svs", "image_set": s, "width": SIZE, "height": SIZE})["id"]
          for i in range(3)]

rng = random.Random(42)
for image, n in ((images[0], n1), (images[1], n2)):
    t0 = time.time()
    done = 0
    while done < n:
        batch = []
        for _ in range(min(10_000, n - done)):
            x, y = rng.uniform(0, SIZE - 60), rng.uniform(0, SIZE - 60)
            w, h = rng.uniform(10, 60), rng.uniform(10, 60)
            batch.append({"annotation_type": kind, "image": image,
                          "vector": {"x1": round(x), "y1": round(y), "x2": round(x + w), "y2": round(y + h)}})
        post("/api/v1/annotations/annotations/?fields=id", batch)
        done += len(batch)
    print(f"seeded {n} annotations on image {image} in {time.time() - t0:.1f} s", file=sys.stderr)
print(images[0], images[1], images[2], kind)
