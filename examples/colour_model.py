"""A model for exact-rs in ~40 lines: a colour-threshold segmenter served over HTTP (stdlib + Pillow + numpy).

exact-rs POSTs a region as PNG/JPEG bytes (query: image, level, x, y, w, h) — or, for a plugin with
model_input "url", JSON with a tile_url and a short-lived token to fetch the pixels with — and reads
back GeoJSON in the region's pixel coordinates: one square per CELL×CELL block that is mostly stained
(not white), with its stained fraction as the score. A job's point/box prompts (X-Exact-Prompts header,
in the region's pixels) keep only the blocks they touch. Run: python colour_model.py 8765
"""
import io
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

CELL, MIN_FRACTION = 32, 0.5


def touches(p, x, y):
    if p["type"] == "point":
        return x <= p["x"] < x + CELL and y <= p["y"] < y + CELL
    return p["x1"] < x + CELL and x < p["x2"] and p["y1"] < y + CELL and y < p["y2"]


def segment(data, prompts=None):
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
    stained = rgb.mean(axis=2) < 200  # darker than the white background
    h, w = stained.shape
    features = []
    for y in range(0, h - CELL + 1, CELL):
        for x in range(0, w - CELL + 1, CELL):
            score = float(stained[y:y + CELL, x:x + CELL].mean())
            if score >= MIN_FRACTION and (prompts is None or any(touches(p, x, y) for p in prompts)):
                ring = [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL], [x, y]]
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                 "properties": {"class": "tissue", "score": round(score, 4)}})
    return {"type": "FeatureCollection", "features": features}


def pixels(body, content_type):
    if not content_type.startswith("application/json"):
        return body  # PNG or JPEG
    req = json.loads(body)  # fetch the region with the token (it reads this image only, briefly)
    fetch = urllib.request.Request(req["tile_url"], headers={"Authorization": "Bearer " + req["token"]})
    with urllib.request.urlopen(fetch, timeout=30) as r:
        return r.read()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        data = pixels(self.rfile.read(int(self.headers["Content-Length"])), self.headers["Content-Type"] or "")
        prompts = self.headers.get("X-Exact-Prompts")  # only jobs with prompts send it
        body = json.dumps(segment(data, None if prompts is None else json.loads(prompts))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8765), Handler).serve_forever()
