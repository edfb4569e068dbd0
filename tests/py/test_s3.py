"""A slide in a local S3-protocol server (moto, on 127.0.0.1) read through s3:// equals the
local file."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import exact_wsi
from exact_wsi.deepzoom import DeepZoomGenerator
from conftest import slides

SLIDES = slides()
NAMES = ["CMU-1-Small-Region.svs", "vips-jpeg-odd.tif"]


@pytest.fixture(scope="module")
def bucket():
    import boto3
    from botocore.config import Config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "exacttest",
               "AWS_SECRET_ACCESS_KEY": "exacttest", "AWS_REGION": "us-east-1"}
        saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"]}
        os.environ.update(env)
        for k in ["AWS_ENDPOINT", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
            os.environ.pop(k, None)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="exacttest", aws_secret_access_key="exacttest",
                          config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        s3.create_bucket(Bucket="exact-wsi-test")
        for name in NAMES:
            s3.upload_file(str(SLIDES[name]), "exact-wsi-test", f"cases/{name}")
        yield "exact-wsi-test"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for k, v in locals().get("saved", {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("name", NAMES)
def test_s3_equals_local(bucket, name):
    remote = exact_wsi.open_slide(f"s3://{bucket}/cases/{name}")
    local = exact_wsi.open_slide(SLIDES[name])
    assert remote.level_dimensions == local.level_dimensions
    assert remote.level_downsamples == local.level_downsamples
    assert dict(remote.properties) == dict(local.properties)
    for level in range(local.level_count):
        a = remote.read_region((64, 32), level, (300, 200), as_array=True)
        b = local.read_region((64, 32), level, (300, 200), as_array=True)
        assert np.array_equal(a, b)
    dr, dl = DeepZoomGenerator(remote), DeepZoomGenerator(local)
    top = dl.level_count - 1
    assert dr.get_tile_jpeg(top, (0, 0)) == dl.get_tile_jpeg(top, (0, 0))


def test_s3_missing_object(bucket):
    with pytest.raises(exact_wsi.NotFoundError):
        exact_wsi.open_slide(f"s3://{bucket}/cases/nope.svs")
