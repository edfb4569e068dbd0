#!/usr/bin/env bash
# Seed the tiff_ifd corpus from the real test slides (whole files, and their first 64 KiB,
# which hold the header and often the first IFDs) and the generated fixtures if present.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p seeds/tiff seeds/jpeg seeds/dicom seeds/ome
for f in ../tests/fixtures/data/*.svs ../tests/fixtures/data/*.tiff ../tests/fixtures/data/*.ome.tif ../tests/fixtures/cache/*.tif ../tests/fixtures/cache/*.svs; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  [ "$size" -le 3000000 ] && cp "$f" "seeds/tiff/$(basename "$f")"
  head -c 65536 "$f" > "seeds/tiff/head-$(basename "$f")"
done
# dicom_open adds the preamble and DICM itself: seed with what follows them.
for f in ../tests/fixtures/cache/dicom-*/*.dcm; do
  [ -f "$f" ] || continue
  tail -c +133 "$f" | head -c 262144 > "seeds/dicom/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# Hand-built DICOM instances (no pydicom needed), and the OME-XML of the OME-TIFF fixtures.
python3 dicom_seeds.py seeds/dicom
python3 - <<'PY'
import glob, os
for f in glob.glob("../tests/fixtures/data/*.ome.tif") + glob.glob("../tests/fixtures/cache/*.ome.tif"):
    b = open(f, "rb").read(1 << 20)
    i, j = b.find(b"<OME"), b.find(b"</OME>")
    if i >= 0 and j > i:
        open(os.path.join("seeds/ome", os.path.basename(f) + ".xml"), "wb").write(b[i:j + 6])
PY
