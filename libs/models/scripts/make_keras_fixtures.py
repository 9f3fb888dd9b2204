#!/usr/bin/env python3
"""Keras parity fixtures for the EMO-AffectNet importer (developer-run, not CI).

Builds the EMO-AffectNet architecture in Keras with the layer names of REFERENCE.md (the same
topology as the authors' `functions/get_models.py`, at reduced widths so the fixtures stay small),
gives it random weights, saves them as `.h5` the way the authors' files are saved, and records
Keras's own outputs on fixed inputs. The CI test `keras-parity.test.ts` imports the `.h5` files
through our HDF5 reader and ONNX builder and compares.

    python3 -m venv /tmp/emo-venv
    /tmp/emo-venv/bin/pip install tensorflow-cpu tf-keras h5py numpy
    /tmp/emo-venv/bin/python libs/models/scripts/make_keras_fixtures.py

`tf-keras` (Keras 2) is used because the authors trained with TensorFlow 2's tf.keras; Keras 3
writes a different `.h5` layout.

Inputs are not stored: both sides compute them from the integer formula in `formula_input`.
Besides the narrow `.h5` fixtures (which exercise the HDF5 reader), the full-size backbone and
LSTM get weights from the same formula (`formula_weight`; `FormulaWeightSource` in the tests), so
full-size parity costs only Keras's outputs (a few kB) instead of 100 MB of weights.
Takes about 2 minutes on 2 cores.
"""
import json
import os
import sys
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras -> tf_keras (Keras 2), as the authors used
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

keras = tf.keras
L = keras.layers
OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "keras"

# Backbone at 1/16 width: every stage, block and layer name of the real ResNet50 is there.
WIDTH_DIVISOR = 16
STAGES = [  # (stage, blocks, [reduce, 3x3, increase])
    (2, 3, [64, 64, 256]),
    (3, 4, [128, 128, 512]),
    (4, 6, [256, 256, 1024]),
    (5, 3, [512, 512, 2048]),
]
FEATURES = 64  # 512 in the real model
# Temporal at reduced size: window 10 as in the real model, smaller feature and hidden sizes.
T_FEATURES, T_HIDDEN1, T_HIDDEN2 = 64, 32, 16


def formula_input(shape, salt):
    """Deterministic pseudo-random values in [-128, 127) that TypeScript reproduces bit for bit.

    v = (i * 2654435761 + salt * 40503) mod 2^32; x = (v >> 8) / 2^24 * 255 - 128, as float32.
    """
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    v = (i * np.uint64(2654435761) + np.uint64(salt * 40503)) % np.uint64(2**32)
    x = (v >> np.uint64(8)).astype(np.float64) / 2.0**24 * 255.0 - 128.0
    return x.astype(np.float32).reshape(shape)


def fnv1a(text):
    """32-bit FNV-1a, as in test/helpers/formula-input.ts."""
    h = 0x811C9DC5
    for ch in text.encode():
        h = ((h ^ ch) * 0x01000193) % 2**32
    return h


def formula_weight(name, shape, scale, offset=0.0):
    """Weights for the full-size fixtures, reproducible in TypeScript without storing them:
    offset + formula_input(shape, fnv1a(name) % 1000003) / 128 * scale, in float32."""
    x = formula_input(shape, fnv1a(name) % 1000003) / np.float32(128.0)
    return (x * np.float32(scale) + np.float32(offset)).astype(np.float32)


def conv_bn(x, filters, kernel, name, strides=1, padding="valid", relu=True):
    x = L.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False, name=name)(x)
    x = L.BatchNormalization(axis=3, name=name + "_bn")(x)
    return L.Activation("relu")(x) if relu else x


def bottleneck(x, stage, block, filters, strides, project, divisor):
    f1, f2, f3 = (f // divisor for f in filters)
    p = f"conv{stage}_{block}"
    y = conv_bn(x, f1, 1, p + "_1x1_reduce", strides=strides)
    y = conv_bn(y, f2, 3, p + "_3x3", padding="same")
    y = conv_bn(y, f3, 1, p + "_1x1_increase", relu=False)
    shortcut = conv_bn(x, f3, 1, p + "_1x1_proj", strides=strides, relu=False) if project else x
    return L.Activation("relu")(L.add([y, shortcut]))


def backbone_model(divisor=WIDTH_DIVISOR, features_units=FEATURES):
    inp = L.Input(shape=(224, 224, 3))
    x = conv_bn(inp, 64 // divisor, 7, "conv1_7x7_s2", strides=2, padding="same")
    x = L.MaxPooling2D((3, 3), strides=(2, 2))(x)  # "valid": 112 -> 55, as in keras-vggface
    for stage, blocks, filters in STAGES:
        for block in range(1, blocks + 1):
            strides = (1 if stage == 2 else 2) if block == 1 else 1
            x = bottleneck(x, stage, block, filters, strides, project=block == 1, divisor=divisor)
    x = L.AveragePooling2D((7, 7), name="avg_pool")(x)
    x = L.GlobalAveragePooling2D()(x)  # the authors' pooling='avg' on the 1x1 map
    x = L.GaussianNoise(0.1)(x)
    features = L.Dense(features_units, activation="relu", name="features")(x)
    x = L.Dropout(0.5)(features)
    probs = L.Dense(7, activation="softmax")(x)  # unnamed, as in the authors' code
    return keras.Model(inp, probs), keras.Model(inp, [features, probs])


def temporal_model(features=T_FEATURES, hidden1=T_HIDDEN1, hidden2=T_HIDDEN2):
    inp = keras.Input(shape=(10, features))
    x = L.Masking(mask_value=0.0)(inp)
    x = L.LSTM(hidden1, return_sequences=True)(x)
    x = L.Dropout(0.2)(x)
    x = L.LSTM(hidden2, return_sequences=False)(x)
    x = L.Dropout(0.2)(x)
    return keras.Model(inp, L.Dense(7, activation="softmax")(x))


def randomise_backbone(model, both, rng):
    """He-scaled convs, then BN statistics calibrated on real activations so values stay O(1)."""
    calib = formula_input((4, 224, 224, 3), salt=99)
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            k = layer.kernel
            fan_in = int(np.prod(k.shape[:3]))
            std = np.sqrt(2.0 / fan_in) / (70.0 if layer.name == "conv1_7x7_s2" else 1.0)
            layer.set_weights([rng.normal(0, std, k.shape).astype(np.float32)])
        elif isinstance(layer, L.Dense):
            w, b = layer.get_weights()
            std = np.sqrt(2.0 / w.shape[0])
            layer.set_weights([rng.normal(0, std, w.shape).astype(np.float32), rng.normal(0, 0.1, b.shape).astype(np.float32)])
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            probe = keras.Model(model.input, layer.input)
            act = probe.predict(calib, verbose=0)
            mean = act.mean(axis=(0, 1, 2))
            # Floor the variance: near-dead channels would otherwise get gains of up to
            # 1/sqrt(epsilon) ≈ 32 and amplify float32 rounding far beyond a trained network's.
            var = np.maximum(act.var(axis=(0, 1, 2)), 0.25 * act.var(axis=(0, 1, 2)).mean())
            c = mean.shape[0]
            layer.set_weights([
                rng.uniform(0.5, 1.5, c).astype(np.float32),  # gamma
                rng.uniform(-0.2, 0.2, c).astype(np.float32),  # beta
                (mean + rng.normal(0, 0.05, c) * np.sqrt(var)).astype(np.float32),
                (var * rng.uniform(0.8, 1.2, c)).astype(np.float32),
            ])


def randomise_temporal(model, rng):
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in weights])


def keras_version():
    import tf_keras

    return tf_keras.__version__


def formula_backbone_weights(model):
    """Full-size backbone weights from the formula (see FormulaWeightSource in the tests)."""
    for layer in model.layers:
        if isinstance(layer, L.Conv2D):
            shape = layer.kernel.shape
            scale = np.sqrt(6.0 / int(np.prod(shape[:3]))) / (60.0 if layer.name == "conv1_7x7_s2" else 1.0)
            layer.set_weights([formula_weight(layer.name + "/kernel", shape, scale)])
        elif isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape
            gamma = 0.2 if layer.name.endswith("_1x1_increase_bn") else 1.0
            layer.set_weights([
                formula_weight(layer.name + "/gamma", c, 0.1 * gamma, gamma),
                formula_weight(layer.name + "/beta", c, 0.1),
                formula_weight(layer.name + "/moving_mean", c, 0.1),
                formula_weight(layer.name + "/moving_variance", c, 0.2, 1.0),
            ])
        elif isinstance(layer, L.Dense):
            w, b = layer.get_weights()
            name = "features" if layer.name == "features" else "probs"
            # The pooled activations of this uncalibrated net are ~0.01; a gain of 20 brings the
            # features to O(1), so the 1e-4 tolerance is as demanding as on a trained model.
            gain = 20.0 if name == "features" else 1.0
            layer.set_weights([formula_weight(name + "/kernel", w.shape, gain * np.sqrt(6.0 / w.shape[0])), formula_weight(name + "/bias", b.shape, 0.1)])


def formula_temporal_weights(model):
    lstms = [l for l in model.layers if isinstance(l, L.LSTM)]
    for name, layer in zip(("lstm1", "lstm2"), lstms):
        k, r, b = layer.get_weights()
        layer.set_weights([
            formula_weight(name + "/kernel", k.shape, np.sqrt(1.0 / k.shape[0])),
            formula_weight(name + "/recurrent_kernel", r.shape, np.sqrt(1.0 / r.shape[0])),
            formula_weight(name + "/bias", b.shape, 0.5),
        ])
    dense = [l for l in model.layers if isinstance(l, L.Dense)][-1]
    w, b = dense.get_weights()
    dense.set_weights([formula_weight("probs/kernel", w.shape, np.sqrt(6.0 / w.shape[0])), formula_weight("probs/bias", b.shape, 0.1)])


def write_json(path, obj):
    path.write_text(json.dumps(obj, separators=(",", ":")) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2022)
    tf.random.set_seed(2022)

    model, both = backbone_model()
    randomise_backbone(model, both, rng)
    # The authors' backbone file holds weights only (loaded with model.load_weights).
    model.save_weights(str(OUT / "backbone_w16.h5"))
    x = formula_input((2, 224, 224, 3), salt=1)
    features, probs = both.predict(x, verbose=0)
    write_json(OUT / "backbone_w16.json", {
        "input": {"formula": "v=(i*2654435761+salt*40503) mod 2^32; x=(v>>8)/2^24*255-128", "salt": 1, "shape": [2, 224, 224, 3]},
        "widthDivisor": WIDTH_DIVISOR,
        "features": features.tolist(),
        "probs": probs.tolist(),
        "keras": keras_version(), "tensorflow": tf.__version__,
    })

    tmodel = temporal_model()
    randomise_temporal(tmodel, rng)
    # The authors' LSTM files ("..._with_config.h5") are whole saved models: config + weights.
    tmodel.save(str(OUT / "temporal_small.h5"))
    window = formula_input((4, 10, T_FEATURES), salt=2) / 64.0
    window[1, 4, :] = 0.0  # a masked step in the middle
    window[2, :3, :] = 0.0  # masked leading steps
    window[3, 7:, :] = 0.0  # masked trailing steps
    tprobs = tmodel.predict(window, verbose=0)
    write_json(OUT / "temporal_small.json", {
        "input": {"salt": 2, "shape": [4, 10, T_FEATURES], "divide": 64, "zeroSteps": [[1, 4], [2, 0], [2, 1], [2, 2], [3, 7], [3, 8], [3, 9]]},
        "probs": tprobs.tolist(),
        "keras": keras_version(), "tensorflow": tf.__version__,
    })
    # The same LSTM file as older h5py/Keras versions write it: fixed-length byte-string
    # attributes, and `layer_names` split into chunks (`layer_names0`, `layer_names1`), as Keras
    # does for attributes over HDF5's 64 kB header limit.
    import shutil

    import h5py

    legacy = OUT / "temporal_small_legacy_attrs.h5"
    shutil.copy(OUT / "temporal_small.h5", legacy)
    with h5py.File(legacy, "r+") as f:
        weights = f["model_weights"]
        names = [n.encode() if isinstance(n, str) else n for n in weights.attrs["layer_names"]]
        del weights.attrs["layer_names"]
        half = len(names) // 2
        weights.attrs["layer_names0"] = np.array(names[:half], dtype="S")
        weights.attrs["layer_names1"] = np.array(names[half:], dtype="S")
        for name in names:
            group = weights[name.decode()]
            wn = [w.encode() if isinstance(w, str) else w for w in group.attrs["weight_names"]]
            group.attrs["weight_names"] = np.array(wn, dtype="S") if wn else np.array([], dtype="S1")

    # The same LSTM weights inside a nested model group, as `save_weights` writes a model that
    # contains another model as a layer: one group whose weight names start with the inner layers.
    nested = OUT / "temporal_small_nested.h5"
    with h5py.File(OUT / "temporal_small.h5", "r") as src, h5py.File(nested, "w") as dst:
        inner = dst.create_group("inner_model")
        names = []
        for layer in src["model_weights"].attrs["layer_names"]:
            group = src["model_weights"][layer]
            for w in group.attrs["weight_names"]:
                w = w.decode() if isinstance(w, bytes) else w
                inner.create_dataset(w, data=group[w][()])
                names.append(w)
        inner.attrs["weight_names"] = names
        dst.attrs["layer_names"] = ["input_2", "inner_model"]
        dst.create_group("input_2").attrs["weight_names"] = np.array([], dtype="S1")

    # Full-size models with formula weights: nothing but Keras's outputs is stored.
    _, full = backbone_model(divisor=1, features_units=512)
    formula_backbone_weights(full)
    fx = formula_input((2, 224, 224, 3), salt=3)
    ffeatures, fprobs = full.predict(fx, verbose=0)
    write_json(OUT / "backbone_full_formula.json", {
        "input": {"salt": 3, "shape": [2, 224, 224, 3]},
        "features": ffeatures.tolist(), "probs": fprobs.tolist(),
        "keras": keras_version(), "tensorflow": tf.__version__,
    })
    print("full features range", float(ffeatures.min()), float(ffeatures.max()), "probs", fprobs.round(3).tolist(), file=sys.stderr)

    tfull = temporal_model(512, 512, 256)
    formula_temporal_weights(tfull)
    fwindow = formula_input((3, 10, 512), salt=4) / 64.0
    fwindow[1, 5, :] = 0.0
    fwindow[2, :2, :] = 0.0
    write_json(OUT / "temporal_full_formula.json", {
        "input": {"salt": 4, "shape": [3, 10, 512], "divide": 64, "zeroSteps": [[1, 5], [2, 0], [2, 1]]},
        "probs": tfull.predict(fwindow, verbose=0).tolist(),
        "keras": keras_version(), "tensorflow": tf.__version__,
    })

    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"fixtures in {OUT}: {total / 1e6:.2f} MB", file=sys.stderr)
    print("features range", float(features.min()), float(features.max()), "probs", probs.round(3).tolist(), file=sys.stderr)


if __name__ == "__main__":
    main()
