"""Shared helpers for the tile-engine comparison tests: the `exact` binary and image maths."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import fixtures  # noqa: E402


def exact_bin():
    if os.environ.get("EXACT_BIN"):
        return os.environ["EXACT_BIN"]
    target = os.environ.get("CARGO_TARGET_DIR", str(fixtures.REPO / "target"))
    return str(Path(target) / "debug" / "exact")


def run_exact(*args, check=True):
    """Run `exact ARGS…`, returning the completed process (stdout/stderr as text)."""
    p = subprocess.run([exact_bin(), *map(str, args)], capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"exact {' '.join(map(str, args))} failed: {p.stderr}")
    return p


def exact_json(*args):
    return json.loads(run_exact(*args).stdout)


def load(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return Image.open(io.BytesIO(path_or_bytes))
    return Image.open(path_or_bytes)


def mae(a, b):
    """Mean absolute error per channel between two same-sized images (PIL or arrays)."""
    a = np.asarray(a, dtype=np.int16)
    b = np.asarray(b, dtype=np.int16)
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    return np.abs(a - b).reshape(-1, a.shape[-1]).mean(axis=0)


@pytest.fixture(scope="session")
def slides():
    return fixtures.all_slides()


@pytest.fixture()
def tmp_out(tmp_path):
    return tmp_path
