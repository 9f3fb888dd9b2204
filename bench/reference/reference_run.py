"""A Python equivalent of the EMO-AffectNet authors' offline run.py, for timing (bench:reference).

What it does, as the authors' script does (see ../shared/design/REFERENCE.md): read the video with
OpenCV, run the face detector on every frame, take the sampled frames (1, 1+k, ... with
k = round(5 * fps / 25)), crop and preprocess each sampled face (224 x 224, area resize, BGR minus the
VGGFace2 means), run the Keras ResNet50 backbone on them in one batch up to its 512-d `features`
layer, cut the features into windows of 10 with step 5, run the LSTM on the windows, spread each
window's prediction over its frames, average overlaps, write one CSV (every frame of the video) and
print the video's emotion (mode of the per-window argmax) and the lead time.

Two modes (--faces):
  one    the authors' work: detection on every frame (their run.py detects on every frame and keeps
         the sampled ones), one face a frame (the most confident), as their per-video script does.
  every  emo run's work: detection only on the sampled frames (the frames it needs), every face
         found is embedded; the LSTM runs per face slot (the i-th face from the left of each frame:
         no tracker, but the same number of windows as one track per face), one CSV per slot
         (the first as VIDEO.csv, the others VIDEO.face<N>.csv).

Differences, on purpose: the weights are random (seeded; the authors' are not redistributable), so
the emotions are meaningless and only the cost is real; faces are found by MediaPipe's face detection
(the authors' offline script uses RetinaFace).

It prints the time its imports took (TensorFlow and MediaPipe: seconds, and the part of the reference's
wall time that depends most on its environment) apart from the lead time of the work itself.

Usage: python reference_run.py [--faces one|every] VIDEO OUT_DIR
"""

import time

IMPORTS_STARTED = time.time()

import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

IMPORT_SECONDS = time.time() - IMPORTS_STARTED

LABELS = ["Neutral", "Happiness", "Sadness", "Surprise", "Fear", "Disgust", "Anger"]
MEANS_BGR = np.array([91.4953, 103.8827, 131.0912], dtype=np.float32)
WINDOW, STEP = 10, 5


def conv_bn(x, filters, kernel, name, strides=1, relu=True):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=0.001, name=f"{name}_bn")(x)
    return layers.Activation("relu")(x) if relu else x


def bottleneck(x, widths, stage, block, strides=1, project=False):
    """The keras-vggface ResNet50 block: stride on the first 1x1 conv, no conv bias, BN after each conv."""
    reduce, middle, increase = widths
    prefix = f"conv{stage}_{block}"
    y = conv_bn(x, reduce, 1, f"{prefix}_1x1_reduce", strides=strides)
    y = conv_bn(y, middle, 3, f"{prefix}_3x3")
    y = conv_bn(y, increase, 1, f"{prefix}_1x1_increase", relu=False)
    shortcut = conv_bn(x, increase, 1, f"{prefix}_1x1_proj", strides=strides, relu=False) if project else x
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def backbone():
    """The VGGFace2 ResNet50 of get_models.py, with its head; returns the model up to `features`."""
    inputs = keras.Input((224, 224, 3))
    x = conv_bn(inputs, 64, 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2)(x)
    for stage, (blocks, widths) in enumerate(
        [(3, (64, 64, 256)), (4, (128, 128, 512)), (6, (256, 256, 1024)), (3, (512, 512, 2048))], start=2
    ):
        for block in range(1, blocks + 1):
            strides = (1 if stage == 2 else 2) if block == 1 else 1
            x = bottleneck(x, widths, stage, block, strides=strides, project=block == 1)
    x = layers.AveragePooling2D(7)(x)
    x = layers.Flatten()(x)
    x = layers.GaussianNoise(0.1)(x)
    features = layers.Dense(512, activation="relu", name="features")(x)
    x = layers.Dropout(0.5)(features)
    outputs = layers.Dense(7, activation="softmax")(x)
    full = keras.Model(inputs, outputs)
    return keras.Model(full.input, full.get_layer("features").output)


def lstm():
    inputs = keras.Input((WINDOW, 512))
    x = layers.Masking(mask_value=0.0)(inputs)
    x = layers.LSTM(512, return_sequences=True)(x)
    x = layers.Dropout(0.2)(x)
    x = layers.LSTM(256)(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, layers.Dense(7, activation="softmax")(x))


def detect_faces(path, every_face):
    """The sampled frames' face crops, preprocessed: per sampled frame a list of crops, left to right.

    One face (the authors' run.py): MediaPipe on every frame, the most confident face of each sampled
    frame. Every face (emo run's work): MediaPipe on the sampled frames only, every face it finds.
    """
    capture = cv2.VideoCapture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(5 * fps / 25))
    crops, frames, total = [], [], 0
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as detector:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            total += 1
            sampled = (total - 1) % step == 0
            if every_face and not sampled:
                continue
            h, w = frame.shape[:2]
            found = detector.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).detections or []
            if not found or not sampled:
                continue
            chosen = found if every_face else [max(found, key=lambda d: d.score[0])]
            boxes = sorted((d.location_data.relative_bounding_box for d in chosen), key=lambda b: b.xmin)
            faces = []
            for box in boxes:
                x0 = min(max(int(box.xmin * w), 0), w - 1)
                y0 = min(max(int(box.ymin * h), 0), h - 1)
                x1 = min(max(int((box.xmin + box.width) * w), x0 + 1), w)
                y1 = min(max(int((box.ymin + box.height) * h), y0 + 1), h)
                face = cv2.resize(frame[y0:y1, x0:x1], (224, 224), interpolation=cv2.INTER_AREA)
                faces.append(face.astype(np.float32) - MEANS_BGR)  # OpenCV frames are BGR already
            crops.append(faces)
            frames.append(total)
    capture.release()
    return crops, frames, total


def windows(frames, features):
    """Windows of 10 sampled frames with step 5; a last short window repeats its last element."""
    out = []
    for start in range(0, len(frames), STEP):
        names = frames[start : start + WINDOW]
        feats = list(features[start : start + WINDOW])
        feats += [feats[-1]] * (WINDOW - len(feats))
        out.append((names, np.stack(feats)))
        if start + WINDOW >= len(frames):
            break
    return out


def report(seqs, preds, total):
    """Each window's prediction covers its first to last sampled frame; overlaps are averaged."""
    sums = np.zeros((total + 1, 7), dtype=np.float64)
    counts = np.zeros(total + 1)
    for (names, _), pred in zip(seqs, preds):
        sums[names[0] : names[-1] + 1] += pred
        counts[names[0] : names[-1] + 1] += 1
    last = seqs[-1][0][-1]
    sums[last + 1 :] = preds[-1]
    counts[last + 1 :] = 1
    rows = sums[1:] / np.maximum(counts[1:], 1)[:, None]
    table = pd.DataFrame(rows, columns=LABELS)
    table.insert(0, "frame", [f"{n:06d}" for n in range(1, total + 1)])
    return table


def main(path, out_dir, every_face):
    started = time.time()
    keras.utils.set_random_seed(0)
    crops, frames, total = detect_faces(path, every_face)
    feature_model, lstm_model = backbone(), lstm()
    faces = sum(len(c) for c in crops)
    if faces == 0:
        print(f"{path}: no face found; Import time: {IMPORT_SECONDS:.2f} s; Lead time: {time.time() - started:.2f} s")
        return
    features = feature_model.predict(np.stack([f for c in crops for f in c]), batch_size=32, verbose=0)
    # Face slot i: the i-th face from the left of each sampled frame that has one.
    slots, at = [], 0
    for frame, found in zip(frames, crops):
        for i in range(len(found)):
            if i == len(slots):
                slots.append(([], []))
            slots[i][0].append(frame)
            slots[i][1].append(features[at])
            at += 1
    name = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(out_dir, exist_ok=True)
    emotions = []
    for i, (slot_frames, slot_features) in enumerate(slots):
        seqs = windows(slot_frames, slot_features)
        preds = lstm_model.predict(np.stack([f for _, f in seqs]), verbose=0)
        csv = f"{name}.csv" if i == 0 else f"{name}.face{i + 1}.csv"
        report(seqs, preds, total).to_csv(os.path.join(out_dir, csv), index=False)
        emotions.append(LABELS[statistics.mode(int(np.argmax(p)) for p in preds)])
    print(
        f"{path}: {', '.join(emotions)}, {faces} faces of {total} frames ({len(frames)} sampled, {len(slots)} face slots); "
        f"Import time: {IMPORT_SECONDS:.2f} s; Lead time: {time.time() - started:.2f} s"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    mode = "one"
    if len(args) >= 2 and args[0] == "--faces":
        mode, args = args[1], args[2:]
    if mode not in ("one", "every") or len(args) != 2:
        sys.exit("usage: reference_run.py [--faces one|every] VIDEO OUT_DIR")
    print(f"TensorFlow {tf.__version__}, MediaPipe {mp.__version__}", file=sys.stderr)
    main(args[0], args[1], mode == "every")
