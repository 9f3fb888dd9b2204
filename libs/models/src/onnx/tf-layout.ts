/**
 * Conversions between TensorFlow/Keras conventions and ONNX's, shared by every importer of
 * Keras or TFJS weights (EMO-AffectNet here; face-api and BlazeFace in the default pack).
 */

/** Begin/end padding of one spatial axis. */
export interface AxisPads {
  readonly begin: number;
  readonly end: number;
  readonly outSize: number;
}

/**
 * TensorFlow's `padding="same"` for one axis: output = ceil(in / stride), and when the total
 * padding is odd the extra row/column goes at the END (bottom/right). PyTorch-style symmetric
 * padding puts it at the start and shifts every output pixel, so we emit explicit asymmetric
 * pads (equivalent to ONNX `auto_pad=SAME_UPPER`, but explicit pads are honoured by every runtime
 * and make the graph self-describing).
 */
export function tfSamePads(inSize: number, kernel: number, stride: number, dilation = 1): AxisPads {
  const effectiveKernel = (kernel - 1) * dilation + 1;
  const outSize = Math.ceil(inSize / stride);
  const total = Math.max((outSize - 1) * stride + effectiveKernel - inSize, 0);
  const begin = Math.floor(total / 2);
  return { begin, end: total - begin, outSize };
}

/** TensorFlow's `padding="valid"`: no padding; the output drops what does not fit. */
export function tfValidPads(inSize: number, kernel: number, stride: number, dilation = 1): AxisPads {
  const effectiveKernel = (kernel - 1) * dilation + 1;
  return { begin: 0, end: 0, outSize: Math.floor((inSize - effectiveKernel) / stride) + 1 };
}

/** A Keras/TF conv kernel `[kh, kw, in, out]` (HWIO) as ONNX's `[out, in, kh, kw]` (OIHW). */
export function hwioToOihw(kernel: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  if (kernel.length !== kh * kw * cin * cout) {
    throw new Error(`conv kernel has ${kernel.length} values, expected ${kh}×${kw}×${cin}×${cout}`);
  }
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o]!;
        }
  return out;
}
