// face-api's Tiny Face Detector (src/tinyFaceDetector, src/tinyYolov2 with separable convs) as an
// ONNX graph, with the YOLOv2 box decoding of TinyYolov2Base.extractBoxes in the graph.
import { attr, OnnxGraphBuilder } from '../onnx/builder.js';
import {
  conv2d, depthwiseConv2d, floats, ints, maxPool, nchwToNhwc, nhwcToNchw, normaliseNhwc, output, scalar,
} from '../tfjs-graph/layers.js';
import { floatWeight, type WeightMap } from '../tfjs-graph/weights.js';

/** face-api's default input size for this detector (TinyFaceDetectorOptions). */
export const TINY_INPUT_SIZE = 416;
/** tinyFaceDetector/const.ts. */
const BOX_ANCHORS: [number, number][] = [
  [1.603231, 2.094468], [6.041143, 7.080126], [2.882459, 3.518061], [4.266906, 5.178857], [9.041765, 10.66308],
];
const MEAN_RGB = [117.001, 114.697, 97.404];

/** tinyYolov2/leaky.ts: relu(x − 0.1x) + 0.1x, i.e. a leaky ReLU with slope 0.1. */
function leaky(g: OnnxGraphBuilder, x: string): string {
  return g.op('LeakyRelu', [x], { alpha: attr.float(0.10000000149011612) });
}

/** tinyYolov2/depthwiseSeparableConv.ts: pad 1, separable conv 'valid', bias, leaky. */
function separable(g: OnnxGraphBuilder, w: WeightMap, x: string, name: string): string {
  const dw = floatWeight(w, `${name}/depthwise_filter`);
  const pw = floatWeight(w, `${name}/pointwise_filter`);
  const depthwise = depthwiseConv2d(g, x, dw.data, dw.shape, { padding: { pads: [1, 1, 1, 1] } });
  const out = conv2d(g, depthwise, pw.data, pw.shape, { padding: 'VALID', bias: floatWeight(w, `${name}/bias`).data });
  return leaky(g, out);
}

/**
 * Input `image` [N, 416, 416, 3] RGB 0–255 (letterboxed top-left, bilinear). Outputs `boxes`
 * [N, 845, 4] (x1, y1, x2, y2 in [0, 1] of the input; cells row-major, 5 anchors each) and
 * `scores` [N, 845].
 */
export function buildTinyFaceDetector(w: WeightMap): Uint8Array {
  const g = new OnnxGraphBuilder('face-api-tiny-face-detector');
  const S = TINY_INPUT_SIZE;
  const cells = S / 32;
  const A = BOX_ANCHORS.length;
  const image = g.addInput('image', 'float32', ['N', S, S, 3]);
  let x = nhwcToNchw(g, normaliseNhwc(g, image, MEAN_RGB, 255));

  const conv0 = floatWeight(w, 'conv0/filters');
  x = leaky(g, conv2d(g, x, conv0.data, conv0.shape, { padding: 'VALID', bias: floatWeight(w, 'conv0/bias').data }));
  for (let i = 1; i <= 5; i++) {
    x = maxPool(g, x, 2, 2, 'SAME');
    x = separable(g, w, x, `conv${i}`);
  }
  x = maxPool(g, x, 2, 1, 'SAME');
  const conv8 = floatWeight(w, 'conv8/filters');
  x = conv2d(g, x, conv8.data, conv8.shape, { padding: 'VALID', bias: floatWeight(w, 'conv8/bias').data });

  // [N, 13, 13, 25] → [N, 13, 13, 5, 5]: per anchor tx, ty, tw, th, objectness.
  const grid = g.op('Reshape', [nchwToNhwc(g, x), ints(g, 'shape', [0, cells, cells, A, 5])]);
  const [tx, ty, tw, th, to] = g.node('Split', [grid, ints(g, 'split', [1, 1, 1, 1, 1])], { axis: 4 }, 5) as
    [string, string, string, string, string];
  const col = new Float32Array(cells * cells * A); const row = new Float32Array(cells * cells * A);
  for (let r = 0; r < cells; r++) for (let c = 0; c < cells; c++) for (let a = 0; a < A; a++) {
    col[(r * cells + c) * A + a] = c; row[(r * cells + c) * A + a] = r;
  }
  const k = scalar(g, cells);
  const cx = g.op('Div', [g.op('Add', [floats(g, 'col', col, [cells, cells, A, 1]), g.op('Sigmoid', [tx])]), k]);
  const cy = g.op('Div', [g.op('Add', [floats(g, 'row', row, [cells, cells, A, 1]), g.op('Sigmoid', [ty])]), k]);
  const size = (t: string, anchor: number[]) =>
    g.op('Div', [g.op('Mul', [g.op('Exp', [t]), floats(g, 'anchor', anchor, [A, 1])]), k]);
  const bw = size(tw, BOX_ANCHORS.map((a) => a[0])); const bh = size(th, BOX_ANCHORS.map((a) => a[1]));
  const x1 = g.op('Sub', [cx, g.op('Div', [bw, scalar(g, 2)])]);
  const y1 = g.op('Sub', [cy, g.op('Div', [bh, scalar(g, 2)])]);
  const corners = g.op('Concat', [x1, y1, g.op('Add', [x1, bw]), g.op('Add', [y1, bh])], { axis: 4 });
  output(g, g.op('Reshape', [corners, ints(g, 'shape', [0, -1, 4])]), 'boxes', ['N', cells * cells * A, 4]);
  output(g, g.op('Reshape', [g.op('Sigmoid', [to]), ints(g, 'shape', [0, -1])]), 'scores', ['N', cells * cells * A]);
  return g.toBytes({ docString: 'face-api Tiny Face Detector (@vladmandic/face-api 1.7.15, MIT)' });
}
