#!/usr/bin/env python3
"""Resize fixtures from the real libraries (developer-run, not CI).

REFERENCE.md's preprocessing resizes face crops with PIL's NEAREST (real-time script) or OpenCV's
INTER_AREA (offline script). Rather than trust a formula, this records what Pillow and OpenCV
actually output for small uint8 RGB images, so `libs/vision/test/preprocess.test.ts`
can compare our TypeScript resizes pixel for pixel.

    /tmp/emo-venv/bin/pip install pillow opencv-python-headless numpy
    /tmp/emo-venv/bin/python libs/models/scripts/make_resize_fixtures.py
"""
import base64
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import PIL
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "resize" / "resize.json"

# (in_w, in_h, out_w, out_h): down- and up-scaling, integer and fractional ratios, mixed axes,
# and face-crop-like sizes to 224x224 (outputs stored as sha256 only, to keep the fixture small).
SMALL = [(5, 7, 3, 4), (7, 5, 11, 13), (10, 10, 4, 4), (10, 10, 5, 5), (12, 8, 4, 4), (3, 9, 7, 2),
         (9, 3, 2, 7), (17, 13, 5, 6), (6, 6, 4, 4), (4, 4, 6, 6), (1, 1, 3, 3), (8, 8, 8, 8), (11, 7, 11, 3)]
LARGE = [(97, 113, 224, 224), (250, 180, 224, 224), (235, 228, 224, 224), (150, 90, 224, 224)]


def image(w, h, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def nearest(img, w, h):
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.NEAREST))


def area(img, w, h):
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def main():
    cases = []
    for i, (iw, ih, ow, oh) in enumerate(SMALL + LARGE):
        img = image(iw, ih, seed=i)
        large = (iw, ih, ow, oh) in LARGE
        case = {"in": {"width": iw, "height": ih, "seed": i, "rgb": b64(img)}, "out": {"width": ow, "height": oh}}
        for name, fn in (("nearest", nearest), ("area", area)):
            res = fn(img, ow, oh)
            assert res.shape == (oh, ow, 3), res.shape
            case[name] = {"sha256": hashlib.sha256(res.tobytes()).hexdigest()} if large else {"rgb": b64(res)}
        cases.append(case)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"pillow": PIL.__version__, "opencv": cv2.__version__, "cases": cases}) + "\n")
    print(f"{OUT}: {OUT.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
