#!/usr/bin/env python3
"""Builds the composite crowd photos of test/media/crowds (developer-run, not CI; deterministic).

Real faces whose licences allow shipping them, pasted at 10-60 px (face box width) onto real
backgrounds enlarged to 720p-1280p, so the recall table (`npm run recall`) has crowds of small faces
the project may ship. Sources (test/media/MANIFEST.md has the licences):

- faces: scikit-image 0.26.0's `astronaut` (Eileen Collins, NASA, public domain) and `camera`
  (CC0, Lav Varshney); frames of the six CREMA-D clips of test/media/labelled (ODbL / DbCL); frames
  of the Intel head-pose GIF of test/media/scenes (CC BY 4.0). Each face is located by the seed's
  RetinaFace (seed_retinaface.py) on its source; faces narrower than 24 px are not used (they would
  be enlarged).
- backgrounds: scikit-image's `rocket` (SpaceX, public domain) and `coffee` (CC0, Rachel Michetti),
  scikit-learn 1.9.1's `china.jpg` (danielbuechele, CC BY 2.0), first frames of the Intel classroom
  and corridor GIFs (CC BY 4.0; their own people stay in the picture).

Each face: a square of 1.6 x its box around the box centre, scaled so the box is the drawn width
(log-uniform in 10-60 px), maybe mirrored, brightness x 0.8-1.15, blended with a feathered upright ellipse;
placements do not overlap. A fixed seed per photo: the same files every run (given the same
packages). Written as JPEG quality 90, with crowds.json (what was pasted where).

    /work/venv-seed/bin/python libs/models/scripts/make_crowd_photos.py   # see seed_retinaface.py for the venv
    /work/venv-seed/bin/python libs/models/scripts/seed_retinaface.py     # then the seed's counts

Needs `ffmpeg` on the PATH (the clips are FLV and GIF).
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, os.path.dirname(__file__))
from seed_retinaface import detect_rgb  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MEDIA = os.path.join(ROOT, "test", "media")
OUT = os.path.join(MEDIA, "crowds")
MIN_SOURCE_FACE = 24
CROP_FACTOR = 1.6

# name, background, size (width, height), faces pasted, face width range, seed
PHOTOS = [
    ("crowd_rocket_1920x1280.jpg", "skimage:rocket", (1920, 1280), 80, (10, 60), 1),
    ("crowd_coffee_1920x1280.jpg", "skimage:coffee", (1920, 1280), 40, (12, 60), 2),
    ("crowd_classroom_1920x1080.jpg", "gif:scenes/intel_classroom_4people_tinyfaces.gif", (1920, 1080), 100, (10, 40), 3),
    ("crowd_china_1920x1280.jpg", "sklearn:china.jpg", (1920, 1280), 200, (10, 30), 4),
    ("crowd_corridor_1280x720.jpg", "gif:scenes/intel_corridor_3people_walk_and_pause.gif", (1280, 720), 25, (10, 50), 5),
]


def frame_of(path, seconds, tmp):
    """One frame of a clip or GIF as RGB (ffmpeg)."""
    out = os.path.join(tmp, f"{os.path.basename(path)}-{seconds}.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(seconds), "-i", path, "-frames:v", "1", out], check=True)
    return np.asarray(Image.open(out).convert("RGB"))


def skimage_image(name):
    from skimage import data

    image = getattr(data, name)()
    return np.stack([image] * 3, -1) if image.ndim == 2 else image


def sklearn_image(name):
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def background(spec, tmp):
    kind, name = spec.split(":", 1)
    if kind == "skimage":
        return skimage_image(name)
    if kind == "sklearn":
        return sklearn_image(name)
    return frame_of(os.path.join(MEDIA, name), 0, tmp)


def face_sources(tmp):
    """(label, RGB square crop of CROP_FACTOR x the face box, box width in the crop) of every usable face."""
    pictures = [("skimage astronaut", skimage_image("astronaut")), ("skimage camera", skimage_image("camera"))]
    for emotion in ["anger", "disgust", "fear", "happy", "neutral", "sad"]:
        for seconds in [0.5, 1.5]:
            clip = os.path.join(MEDIA, "labelled", f"cremad_1001_DFA_{emotion}.flv")
            pictures.append((f"CREMA-D 1001 {emotion} {seconds}s", frame_of(clip, seconds, tmp)))
    for seconds in [0, 1.5, 3, 4.5]:
        gif = os.path.join(MEDIA, "scenes", "intel_headpose_2people_female_male.gif")
        pictures.append((f"Intel head-pose {seconds}s", frame_of(gif, seconds, tmp)))
    faces = []
    for label, rgb in pictures:
        for x1, y1, x2, y2, _ in detect_rgb(rgb):
            w = x2 - x1
            if w < MIN_SOURCE_FACE:
                continue
            side = CROP_FACTOR * max(w, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            box = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
            # Pad outside the picture with its edge (crop beyond the frame).
            crop = Image.fromarray(rgb).crop(box)
            faces.append((label, crop, w * crop.width / side))
    if not faces:
        sys.exit("no source face found")
    return faces


def feathered_ellipse(size):
    mask = Image.new("L", (size, size), 0)
    # The face box is the middle 1/1.6 of the square: an upright ellipse a little larger than it,
    # so little of the source's own background (CREMA-D's green screen) comes along.
    ix, iy = round(size * 0.16), round(size * 0.1)
    ImageDraw.Draw(mask).ellipse((ix, iy, size - ix, size - iy), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(max(0.5, size * 0.04)))


def compose(name, spec, size, count, widths, seed, faces, tmp):
    rng = np.random.default_rng(seed)
    canvas = Image.fromarray(background(spec, tmp)).resize(size, Image.LANCZOS)
    placed, taken = [], []
    attempts = 0
    while len(placed) < count and attempts < count * 200:
        attempts += 1
        width = math.exp(rng.uniform(math.log(widths[0]), math.log(widths[1])))
        label, crop, face_width = faces[rng.integers(len(faces))]
        side = max(4, round(crop.width * width / face_width))
        x = int(rng.integers(0, size[0] - side))
        y = int(rng.integers(0, size[1] - side))
        # No two pasted squares overlap (a margin of a tenth of the larger).
        if any(x < tx + ts + ts // 10 and tx < x + side + side // 10 and y < ty + ts + ts // 10 and ty < y + side + side // 10 for tx, ty, ts in taken):
            continue
        face = crop.resize((side, side), Image.LANCZOS)
        if rng.random() < 0.5:
            face = face.transpose(Image.FLIP_LEFT_RIGHT)
        face = Image.fromarray(np.clip(np.asarray(face, dtype=np.float32) * rng.uniform(0.8, 1.15), 0, 255).astype(np.uint8))
        canvas.paste(face, (x, y), feathered_ellipse(side))
        taken.append((x, y, side))
        w = side * face_width / crop.width
        placed.append({"source": label, "faceWidth": round(w, 1), "box": [round(x + (side - w) / 2, 1), round(y + (side - w) / 2, 1), round(w, 1)]})
    if len(placed) < count:
        sys.exit(f"{name}: placed {len(placed)} of {count} faces")
    canvas.save(os.path.join(OUT, name), quality=90)
    return {"background": spec, "width": size[0], "height": size[1], "pasted": len(placed), "faces": placed}


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        faces = face_sources(tmp)
        print(f"{len(faces)} source faces: " + ", ".join(sorted({label.split(' ')[0] + ' ' + label.split(' ')[1] for label, _, _ in faces})))
        record = {}
        for name, spec, size, count, widths, seed in PHOTOS:
            record[name] = compose(name, spec, size, count, widths, seed, faces, tmp)
            print(f"{name}: {count} faces pasted, {os.path.getsize(os.path.join(OUT, name)) // 1024} KB")
    with open(os.path.join(OUT, "crowds.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
