// face-api's face recognition net (src/faceRecognitionNet: the dlib-style ResNet-34 of face-api.js,
// 150×150 RGB in, a 128-number face descriptor out) as an ONNX graph. Its layers: conv (+ bias, then
// a per-channel scale and shift, then ReLU), residual blocks of two such convs, and "down" blocks
// whose shortcut is a 2×2 average pool, zero-padded to the block's channels (and, where the strided
// conv's output is one row and column smaller, the conv's output zero-padded at the bottom/right).
import { OnnxGraphBuilder } from '../onnx/builder.js';
import { conv2d, floats, ints, maxPool, nhwcToNchw, normaliseNhwc, output } from '../tfjs-graph/layers.js';
import { floatWeight, type WeightMap } from '../tfjs-graph/weights.js';

export const RECOGNITION_INPUT_SIZE = 150;
export const RECOGNITION_DESCRIPTOR_LENGTH = 128;
/** FaceRecognitionNet.forwardInput: normalize(x, meanRgb).div(255). */
const MEAN_RGB = [122.782, 117.001, 104.298];

/** convLayer.ts: conv2d, + bias, × scale + shift (scaleLayer.ts), optional ReLU. */
function convLayer(g: OnnxGraphBuilder, w: WeightMap, x: string, name: string, o: { strides: number; relu: boolean; padding: 'SAME' | 'VALID' }): string {
  const filters = floatWeight(w, `${name}/conv/filters`);
  const bias = floatWeight(w, `${name}/conv/bias`).data;
  const scale = floatWeight(w, `${name}/scale/weights`).data;
  const shift = floatWeight(w, `${name}/scale/biases`).data;
  // (conv + bias) · scale + shift, folded into one conv: filters · scale, bias · scale + shift.
  const [kh, kw, ci, co] = filters.shape as [number, number, number, number];
  const folded = new Float32Array(filters.data.length);
  for (let i = 0; i < folded.length; i++) folded[i] = filters.data[i]! * scale[i % co]!;
  const foldedBias = Float32Array.from(bias, (b, c) => b * scale[c]! + shift[c]!);
  const out = conv2d(g, x, folded, [kh, kw, ci, co], { strides: o.strides, padding: o.padding, bias: foldedBias });
  return o.relu ? g.op('Relu', [out]) : out;
}

/** residualLayer.ts residual: conv, conv without ReLU, + input, ReLU. */
function residual(g: OnnxGraphBuilder, w: WeightMap, x: string, name: string): string {
  const out = convLayer(g, w, x, `${name}/conv1`, { strides: 1, relu: true, padding: 'SAME' });
  const out2 = convLayer(g, w, out, `${name}/conv2`, { strides: 1, relu: false, padding: 'SAME' });
  return g.op('Relu', [g.op('Add', [out2, x])]);
}

/**
 * residualLayer.ts residualDown on an input of `side`² × `channels`: a strided 'valid' conv, a conv,
 * plus the input 2×2-average-pooled (zero channels appended when the block doubles them; the conv's
 * output zero-padded by a row and a column when it came out smaller than the pool's), ReLU.
 * Returns the output and its side.
 */
function residualDown(g: OnnxGraphBuilder, w: WeightMap, x: string, name: string, side: number, channels: number): { x: string; side: number } {
  let out = convLayer(g, w, x, `${name}/conv1`, { strides: 2, relu: true, padding: 'VALID' });
  out = convLayer(g, w, out, `${name}/conv2`, { strides: 1, relu: false, padding: 'SAME' });
  const outChannels = floatWeight(w, `${name}/conv2/conv/filters`).shape[3]!;
  const convSide = Math.floor((side - 3) / 2) + 1;
  const poolSide = Math.floor(side / 2);
  if (convSide !== poolSide) {
    if (poolSide !== convSide + 1) throw new Error(`${name}: conv side ${convSide} and pool side ${poolSide} differ by more than the one row tfjs pads`);
    out = g.op('Pad', [out, ints(g, 'pads', [0, 0, 0, 0, 0, 0, 1, 1])]);
  }
  let pooled = g.op('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2], auto_pad: 'VALID' });
  if (outChannels !== channels) {
    if (outChannels !== 2 * channels) throw new Error(`${name}: ${channels} → ${outChannels} channels; tfjs pads only to twice as many`);
    pooled = g.op('Pad', [pooled, ints(g, 'pads', [0, 0, 0, 0, 0, channels, 0, 0])]);
  }
  return { x: g.op('Relu', [g.op('Add', [pooled, out])]), side: poolSide };
}

/**
 * Input `image` [N, 150, 150, 3]: a face crop, RGB 0–255 (face-api pads the face's box to a square,
 * centred, and resizes it bilinearly). Output `descriptor` [N, 128]: face-api's face descriptor as it
 * computes it (not normalised; same person ≈ Euclidean distance under 0.6).
 */
export function buildFaceRecognition(w: WeightMap): Uint8Array {
  const g = new OnnxGraphBuilder('face-api-face-recognition');
  const S = RECOGNITION_INPUT_SIZE;
  const image = g.addInput('image', 'float32', ['N', S, S, 3]);
  let x = nhwcToNchw(g, normaliseNhwc(g, image, MEAN_RGB, 255));
  x = convLayer(g, w, x, 'conv32_down', { strides: 2, relu: true, padding: 'VALID' });
  x = maxPool(g, x, 3, 2, 'VALID');
  let side = Math.floor((Math.floor((S - 7) / 2) + 1 - 3) / 2) + 1;
  let channels = 32;
  const stages: [string, string[]][] = [
    ['conv32', ['conv32_1', 'conv32_2', 'conv32_3']],
    ['conv64_down', ['conv64_1', 'conv64_2', 'conv64_3']],
    ['conv128_down', ['conv128_1', 'conv128_2']],
    ['conv256_down', ['conv256_1', 'conv256_2']],
  ];
  for (const [down, blocks] of stages) {
    if (down !== 'conv32') {
      ({ x, side } = residualDown(g, w, x, down, side, channels));
      channels = floatWeight(w, `${down}/conv2/conv/filters`).shape[3]!;
    }
    for (const block of blocks) x = residual(g, w, x, block);
  }
  ({ x } = residualDown(g, w, x, 'conv256_down_out', side, channels));
  const pooled = g.op('ReduceMean', [x], { axes: [2, 3], keepdims: 0 });
  const fc = floatWeight(w, 'fc', [256, RECOGNITION_DESCRIPTOR_LENGTH]);
  const descriptor = g.op('MatMul', [pooled, floats(g, 'fc', fc.data, [256, RECOGNITION_DESCRIPTOR_LENGTH])]);
  output(g, descriptor, 'descriptor', ['N', RECOGNITION_DESCRIPTOR_LENGTH]);
  return g.toBytes({ docString: 'face-api face recognition net (@vladmandic/face-api 1.7.15, MIT; dlib-style ResNet from face-api.js); 128-D face descriptor' });
}
