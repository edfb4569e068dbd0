"""DICOM whole-slide images written by wsidicomizer: native JPEG tiles byte-equal to the stored
frames (pydicom's reading of them), a series opened from any instance or its folder, refusals
that name the file, and from the S3 server: one GET per instance to open, one per tile.
(Levels, properties, regions, thumbnails and associated images against OpenSlide 4 are in
test_slides.py and test_regions.py, which run on every DICOM fixture.)"""

import json
import os
import shutil

import pydicom
import pytest
from pydicom.encaps import generate_frames

from conftest import exact_json, fixtures, run_exact

DICOM = fixtures.dicom_slides()
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL")


def frames_of(path):
    ds = pydicom.dcmread(path)
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


@pytest.mark.parametrize("name", ["dicom-cmu", "dicom-aperio-eot"])
def test_native_tiles_are_the_stored_frames(name, tmp_path):
    path = DICOM[name]
    frames = frames_of(path)
    info = exact_json("slide", "info", "--json", path)
    l0 = info["levels"][0]
    top = exact_json("slide", "dzi", "--json", "--native", path)["level_count"] - 1
    across, down = l0["tiles_across"], l0["tiles_down"]
    # whole tiles (Deep Zoom crops the edge tiles of a level, so those are re-encoded)
    inner = [i for i in range(len(frames))
             if (i % across + 1) * l0["tile_width"] <= l0["width"]
             and (i // across + 1) * l0["tile_height"] <= l0["height"]]
    for i in sorted({inner[0], inner[1], inner[len(inner) // 2], inner[-1]}):
        c, r = i % across, i // across
        out = tmp_path / f"{i}.jpeg"
        run_exact("slide", "tile", "--native", path, top, c, r, "-o", out)
        assert out.read_bytes() == frames[i], f"{name} frame {i}"


def test_any_instance_or_the_folder_opens_the_series():
    path = DICOM["dicom-aperio-eot"]
    want = exact_json("slide", "info", "--json", path)
    assert want["vendor"] == "dicom" and want["level_count"] == 3
    for other in sorted(path.parent.glob("*.dcm")):
        got = exact_json("slide", "info", "--json", other)
        assert got["level_dimensions"] == want["level_dimensions"], other.name
    folder = exact_json("slide", "info", "--json", path.parent)
    assert folder["level_dimensions"] == want["level_dimensions"]
    assert folder["associated_images"] == want["associated_images"]


def test_a_folder_mixing_series_is_refused_naming_both(tmp_path):
    a, b = DICOM["dicom-cmu"], DICOM["dicom-native"]
    shutil.copy(a, tmp_path / "a.dcm")
    shutil.copy(b, tmp_path / "b.dcm")
    p = run_exact("slide", "info", tmp_path, check=False)
    assert p.returncode != 0 and "panicked" not in p.stderr
    assert "mixes DICOM series" in p.stderr and "a.dcm" in p.stderr and "b.dcm" in p.stderr
    # one instance still opens its own series; the other series beside it is passed over
    assert exact_json("slide", "info", "--json", tmp_path / "a.dcm")["dimensions"] == [2220, 2967]


def test_contradictory_study_and_bad_transfer_syntax_are_refused(tmp_path):
    src = DICOM["dicom-aperio-eot"].parent
    for f in src.glob("*.dcm"):
        shutil.copy(f, tmp_path / f.name)
    victim = sorted(tmp_path.glob("*.dcm"))[0]
    ds = pydicom.dcmread(victim)
    ds.StudyInstanceUID = "1.2.3.4"
    ds.save_as(victim)
    main = tmp_path / DICOM["dicom-aperio-eot"].name
    p = run_exact("slide", "info", main if main != victim else sorted(tmp_path.glob("*.dcm"))[1],
                  check=False)
    assert p.returncode != 0 and "panicked" not in p.stderr
    assert victim.name in p.stderr and "study" in p.stderr, p.stderr

    solo = tmp_path / "solo"
    solo.mkdir()
    raw = DICOM["dicom-native"].read_bytes()
    explicit = b"1.2.840.10008.1.2.1\x00"
    assert explicit in raw[:1024]
    (solo / "rle.dcm").write_bytes(raw.replace(explicit, b"1.2.840.10008.1.2.5\x00", 1))
    p = run_exact("slide", "info", solo / "rle.dcm", check=False)
    assert p.returncode != 0 and "panicked" not in p.stderr
    assert "rle.dcm" in p.stderr and "RLE lossless" in p.stderr, p.stderr


@pytest.fixture(scope="module")
def bucket():
    if not ENDPOINT:
        pytest.skip("needs the S3 server scripts/test-tiles starts")
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                      aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    name = "exact-dicom-test"
    s3.create_bucket(Bucket=name)
    for series in ["dicom-cmu", "dicom-aperio-eot"]:
        for f in DICOM[series].parent.glob("*.dcm"):
            s3.upload_file(str(f), name, f"{series}/{f.name}")
    return name


@pytest.mark.parametrize("name", ["dicom-cmu", "dicom-aperio-eot"])
def test_from_s3_one_get_per_instance_and_one_per_tile(bucket, name, tmp_path):
    path = DICOM[name]
    url = f"s3://{bucket}/{name}/{path.name}"
    remote = exact_json("slide", "info", "--json", "--stats", url)
    local = exact_json("slide", "info", "--json", path)
    for key in ["vendor", "level_dimensions", "level_downsamples", "associated_images"]:
        assert remote[key] == local[key], key
    instances = len(list(path.parent.glob("*.dcm")))
    req = remote["requests"]
    # each instance's header and offset table lie in its first 256 KiB: one GET each
    assert req["heads"] == 0 and req["gets"] <= instances, req
    top = exact_json("slide", "dzi", "--json", "--native", path)["level_count"] - 1
    out = tmp_path / "t.jpeg"
    p = run_exact("slide", "tile", "--native", "--stats", url, top, 1, 1, "-o", out)
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    assert stats["passthrough"] is True
    assert stats["tile"]["gets"] == 1 and stats["tile"]["heads"] == 0, stats
    across = exact_json("slide", "info", "--json", path)["levels"][0]["tiles_across"]
    assert out.read_bytes() == frames_of(path)[across + 1]
