"""Converts a backbone ONNX graph for `emo models quantize` (static int8) and scripts/gpu-check.sh (fp16).

The quantization itself is onnxruntime's (`onnxruntime.quantization.quantize_static`, QDQ format,
per-channel weights, MinMax calibration); this script only feeds it the calibration crops the
TypeScript side prepared (float32, exactly the backbone's input tensor, as the face stage writes it)
and names the scheme. Agreement with fp32 is measured by the caller with onnxruntime-node, the
runtime the services use.

Schemes (activations / weights):
  u8s8               uint8 / int8, per channel (onnxruntime's default; on AVX2 without VNNI the
                     u8×s8 dot products can saturate in 16 bits, which costs accuracy)
  u8s8-reduce-range  the same with 7-bit weights (reduce_range), which avoids that saturation
  u8u8               uint8 / uint8, per channel
  fp16               float16 weights and arithmetic, float32 inputs and outputs (GPU check only)

Calibration: minmax (the observed range of each activation) or percentile (onnxruntime's
Percentile calibrator: the 99.999th percentile of |x|, so a few outliers do not stretch the range).

Usage:
  convert_backbone.py --model IN.onnx --out OUT.onnx --scheme SCHEME
                      [--calibration CROPS.f32 --input-name NAME --input-shape H,W,C
                       --calibrate-method minmax|percentile --op-types Conv,...]
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

INT8_SCHEMES = {
    "u8s8": dict(activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=False),
    "u8s8-reduce-range": dict(activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True),
    "u8u8": dict(activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8, reduce_range=False),
}


CALIBRATION_METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
}


class Crops(CalibrationDataReader):
    """The calibration crops, one batch of 1 at a time (what quantize_static's calibrator reads)."""

    def __init__(self, path, input_name, shape):
        values = np.fromfile(path, dtype="<f4")
        per_crop = int(np.prod(shape))
        if values.size == 0 or values.size % per_crop != 0:
            raise SystemExit(f"{path}: {values.size} floats is not a whole number of {'x'.join(map(str, shape))} crops")
        self.crops = values.reshape((-1, *shape))
        self.input_name = input_name
        self.next = 0

    def get_next(self):
        if self.next >= len(self.crops):
            return None
        crop = self.crops[self.next : self.next + 1]
        self.next += 1
        return {self.input_name: crop}

    def rewind(self):
        self.next = 0


def int8(args):
    if not args.calibration or not args.input_name or not args.input_shape:
        raise SystemExit("int8 schemes need --calibration, --input-name and --input-shape")
    shape = [int(d) for d in args.input_shape.split(",")]
    crops = Crops(args.calibration, args.input_name, shape)
    with tempfile.TemporaryDirectory() as work:
        # onnxruntime's recommended pre-processing (shape inference, graph optimisation) before
        # calibration; its own symbolic shape inference is skipped, as the graphs have static shapes
        # but for the batch.
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(args.model, prepared, skip_symbolic_shape=True)
        quantize_static(
            prepared,
            args.out,
            crops,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            calibrate_method=CALIBRATION_METHODS[args.calibrate_method],
            op_types_to_quantize=args.op_types.split(",") if args.op_types else None,
            **INT8_SCHEMES[args.scheme],
        )
    print(f"{args.scheme} {args.calibrate_method}: {len(crops.crops)} calibration crops, onnxruntime {onnxruntime.__version__}, wrote {args.out}")


def fp16(args):
    from onnxconverter_common import float16

    model = onnx.load(args.model)
    # keep_io_types: callers still feed float32 crops and read float32 outputs.
    onnx.save(float16.convert_float_to_float16(model, keep_io_types=True), args.out)
    print(f"fp16: onnxconverter-common float16, wrote {args.out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scheme", required=True, choices=[*INT8_SCHEMES, "fp16"])
    parser.add_argument("--calibration")
    parser.add_argument("--input-name")
    parser.add_argument("--input-shape", help="one crop's shape without the batch, e.g. 112,112,3")
    parser.add_argument("--calibrate-method", default="minmax", choices=list(CALIBRATION_METHODS))
    parser.add_argument("--op-types", help="only these op types are quantized, e.g. Conv (default: all onnxruntime can)")
    args = parser.parse_args()
    if args.scheme == "fp16":
        fp16(args)
    else:
        int8(args)


if __name__ == "__main__":
    sys.exit(main())
