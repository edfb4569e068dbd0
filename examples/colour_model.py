"""A model for exact-rs in ~30 lines: a colour-threshold segmenter served over HTTP (stdlib + Pillow + numpy).

exact-rs POSTs a region as PNG/JPEG bytes (query: image, level, x, y, w, h) and reads back GeoJSON
in the region's pixel coordinates: one square per CELL×CELL block that is mostly stained (not
white), with its stained fraction as the score. Run: python colour_model.py 8765
"""
import io
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

CELL, MIN_FRACTION = 32, 0.5


def segment(data):
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
    stained = rgb.mean(axis=2) < 200  # darker than the white background
    h, w = stained.shape
    features = []
    for y in range(0, h - CELL + 1, CELL):
        for x in range(0, w - CELL + 1, CELL):
            score = float(stained[y:y + CELL, x:x + CELL].mean())
            if score >= MIN_FRACTION:
                ring = [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL], [x, y]]
                features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                 "properties": {"class": "tissue", "score": round(score, 4)}})
    return {"type": "FeatureCollection", "features": features}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.dumps(segment(self.rfile.read(int(self.headers["Content-Length"])))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8765), Handler).serve_forever()
