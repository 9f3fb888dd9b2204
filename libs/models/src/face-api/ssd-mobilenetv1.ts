// face-api's SSD MobileNetV1 face detector (src/ssdMobilenetv1/*) as one ONNX graph, box decoding
// included: its 5118 anchors are a weight (`Output/extra_dim`), so decoding in the graph needs
// no extra code at run time and the detector contract stays `boxes` + `scores`.
import { OnnxGraphBuilder } from '../onnx/builder.js';
import {
  addChannelBias, batchNorm, clip, conv2d, depthwiseConv2d, floats, ints, nchwToNhwc, nhwcToNchw, normaliseNhwc, output, scalar,
} from '../tfjs-graph/layers.js';
import { floatWeight, type WeightMap } from '../tfjs-graph/weights.js';

export const SSD_INPUT_SIZE = 512;
export const SSD_ANCHORS = 5118;
/** mobileNetV1.ts's batch-norm epsilon. */
const EPSILON = 0.0010000000474974513;

/** pointwiseConvLayer: conv 'same' + the folded batch-norm offset, ReLU6. */
function pointwise(g: OnnxGraphBuilder, w: WeightMap, x: string, prefix: string, strides: number): string {
  const filters = floatWeight(w, `${prefix}/weights`);
  const offset = floatWeight(w, `${prefix}/convolution_bn_offset`).data;
  const out = conv2d(g, x, filters.data, filters.shape, { strides, padding: 'SAME' });
  return clip(g, addChannelBias(g, out, offset), 0, 6);
}

/** depthwiseConvLayer: depthwise 'same', batch norm, ReLU6. */
function depthwise(g: OnnxGraphBuilder, w: WeightMap, x: string, idx: number, strides: number): string {
  const p = `MobilenetV1/Conv2d_${idx}_depthwise`;
  const filters = floatWeight(w, `${p}/depthwise_weights`);
  const out = depthwiseConv2d(g, x, filters.data, filters.shape, { strides, padding: 'SAME' });
  const bn = batchNorm(g, out, {
    scale: floatWeight(w, `${p}/BatchNorm/gamma`).data,
    offset: floatWeight(w, `${p}/BatchNorm/beta`).data,
    mean: floatWeight(w, `${p}/BatchNorm/moving_mean`).data,
    variance: floatWeight(w, `${p}/BatchNorm/moving_variance`).data,
  }, EPSILON);
  return clip(g, bn, 0, 6);
}

/** boxPredictionLayer: two 1×1 convs, reshaped NHWC-wise to [N, cells·anchors, 4 | 3]. */
function boxPredictor(g: OnnxGraphBuilder, w: WeightMap, x: string, idx: number): { enc: string; cls: string } {
  const head = (kind: string, width: number) => {
    const p = `Prediction/BoxPredictor_${idx}/${kind}`;
    const filters = floatWeight(w, `${p}/weights`);
    const out = conv2d(g, x, filters.data, filters.shape, { padding: 'SAME', bias: floatWeight(w, `${p}/biases`).data });
    return g.op('Reshape', [nchwToNhwc(g, out), ints(g, 'shape', [0, -1, width])]);
  };
  return { enc: head('BoxEncodingPredictor', 4), cls: head('ClassPredictor', 3) };
}

/**
 * outputLayer's decodeBoxesLayer with the anchors folded into constants (computed in float32 as
 * tfjs does): centre = t/10 · size + anchorCentre, half = exp(t/5) · size / 2. Coordinate 0 is y.
 */
function decodeBoxes(g: OnnxGraphBuilder, anchors: Float32Array, enc: string): string {
  const n = anchors.length / 4;
  const c0 = new Float32Array(n); const c1 = new Float32Array(n);
  const s0 = new Float32Array(n); const s1 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const [a0, a1, a2, a3] = [anchors[4 * i]!, anchors[4 * i + 1]!, anchors[4 * i + 2]!, anchors[4 * i + 3]!];
    s0[i] = Math.fround(a2 - a0); s1[i] = Math.fround(a3 - a1);
    c0[i] = Math.fround(a0 + Math.fround(s0[i]! / 2)); c1[i] = Math.fround(a1 + Math.fround(s1[i]! / 2));
  }
  const [t0, t1, t2, t3] = g.node('Split', [enc, ints(g, 'split', [1, 1, 1, 1])], { axis: 2 }, 4) as [string, string, string, string];
  const k = (name: string, v: Float32Array) => floats(g, name, v, [n, 1]);
  const centre = (t: string, size: string, c: string) =>
    g.op('Add', [g.op('Mul', [g.op('Div', [t, scalar(g, 10)]), size]), c]);
  const half = (t: string, size: string) =>
    g.op('Div', [g.op('Mul', [g.op('Exp', [g.op('Div', [t, scalar(g, 5)])]), size]), scalar(g, 2)]);
  const S0 = k('size_y', s0); const S1 = k('size_x', s1);
  const y = centre(t0, S0, k('centre_y', c0)); const x = centre(t1, S1, k('centre_x', c1));
  const hy = half(t2, S0); const hx = half(t3, S1);
  const corners = [g.op('Sub', [x, hx]), g.op('Sub', [y, hy]), g.op('Add', [x, hx]), g.op('Add', [y, hy])];
  return g.op('Concat', corners, { axis: 2 });
}

/**
 * Input `image` [N, 512, 512, 3]: RGB 0–255, the frame letterboxed at the top-left and resized
 * bilinearly (face-api pads detector inputs at the bottom/right). Outputs `boxes` [N, 5118, 4]
 * as x1, y1, x2, y2 in [0, 1] of the input square (unclamped) and `scores` [N, 5118].
 */
export function buildSsdMobilenetV1(w: WeightMap): Uint8Array {
  const g = new OnnxGraphBuilder('face-api-ssd-mobilenetv1');
  const S = SSD_INPUT_SIZE;
  const image = g.addInput('image', 'float32', ['N', S, S, 3]);
  let x = nhwcToNchw(g, normaliseNhwc(g, image, [127.5, 127.5, 127.5], 127.5));

  x = pointwise(g, w, x, 'MobilenetV1/Conv2d_0_pointwise', 2);
  let conv11 = '';
  for (let i = 1; i <= 13; i++) {
    x = depthwise(g, w, x, i, [2, 4, 6, 12].includes(i) ? 2 : 1);
    x = pointwise(g, w, x, `MobilenetV1/Conv2d_${i}_pointwise`, 1);
    if (i === 11) conv11 = x;
  }
  const p = (input: string, i: number) => pointwise(g, w, input, `Prediction/Conv2d_${i}_pointwise`, i % 2 === 1 ? 2 : 1);
  const conv0 = p(x, 0); const conv1 = p(conv0, 1); const conv2 = p(conv1, 2); const conv3 = p(conv2, 3);
  const conv4 = p(conv3, 4); const conv5 = p(conv4, 5); const conv6 = p(conv5, 6); const conv7 = p(conv6, 7);
  const heads = [conv11, x, conv1, conv3, conv5, conv7].map((input, i) => boxPredictor(g, w, input, i));

  const enc = g.op('Concat', heads.map((h) => h.enc), { axis: 1 });
  const cls = g.op('Concat', heads.map((h) => h.cls), { axis: 1 });
  // scores = sigmoid(class 1): outputLayer slices off the background class and keeps the first.
  const scores = g.op('Sigmoid', [g.op('Gather', [cls, ints(g, 'face', [1], [])], { axis: 2 })]);
  const anchors = floatWeight(w, 'Output/extra_dim', [1, SSD_ANCHORS, 4]).data;
  output(g, decodeBoxes(g, anchors, enc), 'boxes', ['N', SSD_ANCHORS, 4]);
  output(g, scores, 'scores', ['N', SSD_ANCHORS]);
  return g.toBytes({ docString: 'face-api SSD MobileNetV1 face detector (@vladmandic/face-api 1.7.15, MIT)' });
}
