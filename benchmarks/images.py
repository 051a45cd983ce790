"""Seconds per image for the copyright check's reading of an image, and peak memory.

What the image detector does with each downloaded image (``detectors.images.inspect_image``:
rights metadata from EXIF, IPTC and XMP, then a perceptual hash, decoding JPEGs at reduced
scale) against the baseline of reading the same bytes the plain way: Pillow decoding every
pixel, then ImageHash's pHash. Same images, same process. Images are drawn here (no
downloads): phone-sized 12-megapixel and web-sized 1-megapixel JPEGs with EXIF and XMP, and a
1-megapixel PNG.

Run: ``.venv/bin/python benchmarks/images.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import imagehash  # noqa: E402
from PIL import Image  # noqa: E402

from detectors.images import inspect_image  # noqa: E402
from watcher.demo import jpeg, picture  # noqa: E402

XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
       'photoshop:Credit="REUTERS/Jane Doe"/></rdf:RDF></x:xmpmeta>')


def samples() -> dict[str, bytes]:
    png = io.BytesIO()
    picture(3, (1200, 900)).save(png, "PNG")
    return {
        "JPEG 12 MP (4000x3000)": jpeg(picture(1, (4000, 3000)), copyright="© Getty Images",
                                      xmp=XMP),
        "JPEG 1 MP (1200x900)": jpeg(picture(2, (1200, 900)), copyright="© Getty Images"),
        "PNG 1 MP (1200x900)": png.getvalue(),
    }


def baseline(data: bytes) -> str:
    img = Image.open(io.BytesIO(data))
    img.load()
    return str(imagehash.phash(img.convert("RGB")))


def timed(fn, data: bytes, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn(data)  # warm-up
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| image | bytes | inspect_image (ms) | baseline: decode + pHash (ms) | speed-up |")
    print("|---|---|---|---|---|")
    for name, data in samples().items():
        ours = timed(lambda d: inspect_image(d), data, args.repeat)
        base = timed(baseline, data, args.repeat)
        print(f"| {name} | {len(data):,} | {ours * 1000:.1f} | {base * 1000:.1f} | "
              f"{base / ours:.1f}x |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
