"""Slides straight from an S3 bucket (a real S3-protocol server on 127.0.0.1, started by
scripts/test-tiles): request counts asserted with the counting store, results equal to the
local file's."""

import json
import os

import pytest

from conftest import exact_json, fixtures, run_exact

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL")
pytestmark = pytest.mark.skipif(not ENDPOINT, reason="needs the S3 server scripts/test-tiles starts")

SLIDES = fixtures.all_slides()
# Opening costs at most 3 GETs on these. (Writers that put each IFD right after its level's
# pixels, as libvips does, cost one GET per IFD lying far from the others on big files: the
# 40,000 x 30,001 bench pyramid, 9 levels, opens with 7.)
ALL = ["CMU-1-Small-Region.svs", "tifffile-aperio.svs", "openslide-python-boxes.tiff",
       "vips-jpeg-odd.tif", "vips-bigtiff.tif", "vips-deflate.tif", "aperio-j2k-33005.svs"]


@pytest.fixture(scope="module")
def bucket():
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                      aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    name = "exact-tiles-test"
    s3.create_bucket(Bucket=name)
    for slide in ALL:
        s3.upload_file(str(SLIDES[slide]), name, f"cases/{slide}")
    return name


@pytest.mark.parametrize("name", ALL)
def test_open_from_s3_equals_local(bucket, name):
    url = f"s3://{bucket}/cases/{name}"
    remote = exact_json("slide", "info", "--json", "--stats", url)
    local = exact_json("slide", "info", "--json", SLIDES[name])
    for key in ["vendor", "level_count", "dimensions", "level_dimensions", "level_downsamples",
                "levels", "associated_images"]:
        assert remote[key] == local[key], key
    assert remote["properties"] == local["properties"]
    req = remote["requests"]
    assert req["heads"] == 0
    assert req["gets"] <= 3, req


@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "vips-jpeg-odd.tif", "tifffile-aperio.svs"])
def test_native_tile_costs_one_get(bucket, name, tmp_path):
    url = f"s3://{bucket}/cases/{name}"
    geo = exact_json("slide", "dzi", "--json", "--native", SLIDES[name])
    top = geo["level_count"] - 1
    remote, local = tmp_path / "remote.jpeg", tmp_path / "local.jpeg"
    p = run_exact("slide", "tile", "--native", "--stats", url, top, 1, 1, "-o", remote)
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    assert stats["passthrough"] is True
    assert stats["tile"]["gets"] == 1 and stats["tile"]["heads"] == 0, stats
    run_exact("slide", "tile", "--native", SLIDES[name], top, 1, 1, "-o", local)
    assert remote.read_bytes() == local.read_bytes()


@pytest.mark.parametrize("name", ["CMU-1-Small-Region.svs", "vips-deflate.tif"])
def test_rendered_tile_from_s3_equals_local(bucket, name, tmp_path):
    url = f"s3://{bucket}/cases/{name}"
    remote, local = tmp_path / "remote.png", tmp_path / "local.png"
    # a level rendered from a finer one (254/1 grid, not a native level)
    run_exact("slide", "tile", url, 10, 1, 0, "-o", remote)
    run_exact("slide", "tile", SLIDES[name], 10, 1, 0, "-o", local)
    assert remote.read_bytes() == local.read_bytes()


def test_missing_object_is_a_clear_error(bucket):
    p = run_exact("slide", "info", f"s3://{bucket}/cases/nope.svs", check=False)
    assert p.returncode != 0
    assert "nope.svs" in p.stderr and "panicked" not in p.stderr
