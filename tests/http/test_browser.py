"""Headless Chromium with OpenSeadragon opens an image's native.dzi served by exact and loads
its tiles, at the overview and at full resolution, with no failed request."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import CMU, PASSWORD

HERE = Path(__file__).parent


@pytest.mark.skipif(not shutil.which("node") or not Path("/usr/bin/chromium").exists(),
                    reason="needs node and /usr/bin/chromium (scripts/test-http installs them)")
def test_openseadragon_loads_native_dzi(server):
    set_id = server.new_set("browser")
    image = server.upload(set_id, CMU)["results"][0]
    p = subprocess.run(["node", str(HERE / "osd_native.mjs"), server.url, str(image["id"]),
                        "exact", PASSWORD], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.strip().splitlines()[-1])
    assert result["opened"] and result["error"] is None, result
    assert result["failed"] == [], result["failed"]
    assert result["homeTiles"] > 0 and result["tiles"] > result["homeTiles"], result
