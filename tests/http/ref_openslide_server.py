"""The baseline for the tile benchmark: a minimal server that serves Deep Zoom tiles the way
EXACT does (openslide-python's DeepZoomGenerator with its defaults, 254 px, overlap 1, PIL JPEG
at quality 90, an LRU of open slides), without EXACT's Django and permission overhead.

Usage: ref_openslide_server.py SLIDE PORT
Tiles: GET /tile_files/<level>/<col>_<row>.jpeg
"""

import io
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openslide
from openslide.deepzoom import DeepZoomGenerator

slide_path, port = sys.argv[1], int(sys.argv[2])
local = threading.local()


def generator():
    # OpenSlide handles are thread-safe, but EXACT opens per worker; one per thread here.
    if not hasattr(local, "dz"):
        local.dz = DeepZoomGenerator(openslide.OpenSlide(slide_path))
    return local.dz


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            _, _, level, name = self.path.split("/")
            col, row = name.split(".")[0].split("_")
            tile = generator().get_tile(int(level), (int(col), int(row)))
            buf = io.BytesIO()
            tile.save(buf, "jpeg", quality=90)
            body = buf.getvalue()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
        except Exception as e:  # noqa: BLE001 - a baseline, not a product
            body = str(e).encode()
            self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
