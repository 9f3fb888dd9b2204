// face-api's 7-class face-expression classifier (src/faceExpressionNet over
// src/faceFeatureExtractor) as an ONNX graph: four dense blocks, 7×7 average pool, one FC layer.
import { OnnxGraphBuilder } from '../onnx/builder.js';
import {
  addChannelBias, conv2d, depthwiseConv2d, floats, ints, nhwcToNchw, normaliseNhwc, output,
} from '../tfjs-graph/layers.js';
import { floatWeight, type WeightMap } from '../tfjs-graph/weights.js';

export const EXPRESSION_INPUT_SIZE = 112;
/** FaceFeatureExtractor.forwardInput's mean. */
const MEAN_RGB = [122.782, 117.001, 104.298];

/** faceExpressionNet/FaceExpressions.ts: the order of the classifier's outputs. */
export const FACE_API_EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
/** REFERENCE.md's order: Neutral, Happiness, Sadness, Surprise, Fear, Disgust, Anger. */
export const REFERENCE_LABELS = ['Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger'] as const;
/** For each REFERENCE label, its face-api index. */
export const REFERENCE_FROM_FACE_API = [0, 1, 2, 6, 4, 5, 3] as const;

/** common/depthwiseSeparableConv.ts: separable conv 'same' with a stride, plus bias. */
function separable(g: OnnxGraphBuilder, w: WeightMap, x: string, name: string, strides: number): string {
  const dw = floatWeight(w, `${name}/depthwise_filter`);
  const pw = floatWeight(w, `${name}/pointwise_filter`);
  const depthwise = depthwiseConv2d(g, x, dw.data, dw.shape, { strides, padding: 'SAME' });
  return conv2d(g, depthwise, pw.data, pw.shape, { padding: 'VALID', bias: floatWeight(w, `${name}/bias`).data });
}

/** faceFeatureExtractor/denseBlock.ts denseBlock4: each conv sees the ReLU of the sum of all before it. */
function denseBlock4(g: OnnxGraphBuilder, w: WeightMap, x: string, block: string, isFirstLayer: boolean): string {
  let out1: string;
  if (isFirstLayer) {
    const f = floatWeight(w, `${block}/conv0/filters`);
    out1 = conv2d(g, x, f.data, f.shape, { strides: 2, padding: 'SAME' });
    out1 = addChannelBias(g, out1, floatWeight(w, `${block}/conv0/bias`).data);
  } else {
    out1 = separable(g, w, x, `${block}/conv0`, 2);
  }
  out1 = g.op('Relu', [out1]);
  const out2 = separable(g, w, out1, `${block}/conv1`, 1);
  const in3 = g.op('Relu', [g.op('Add', [out1, out2])]);
  const out3 = separable(g, w, in3, `${block}/conv2`, 1);
  const in4 = g.op('Relu', [g.op('Add', [out1, g.op('Add', [out2, out3])])]);
  const out4 = separable(g, w, in4, `${block}/conv3`, 1);
  return g.op('Relu', [g.op('Add', [out1, g.op('Add', [out2, g.op('Add', [out3, out4])])])]);
}

/**
 * Input `image` [N, 112, 112, 3]: a face crop, RGB 0–255, padded to a square with the face centred
 * and resized bilinearly. Outputs `probs` [N, 7] in REFERENCE.md's label order and `features`
 * [N, 256], the pooled feature vector the final FC layer reads.
 */
export function buildFaceExpression(w: WeightMap): Uint8Array {
  const g = new OnnxGraphBuilder('face-api-face-expression');
  const S = EXPRESSION_INPUT_SIZE;
  const image = g.addInput('image', 'float32', ['N', S, S, 3]);
  let x = nhwcToNchw(g, normaliseNhwc(g, image, MEAN_RGB, 255));
  x = denseBlock4(g, w, x, 'dense0', true);
  for (const block of ['dense1', 'dense2', 'dense3']) x = denseBlock4(g, w, x, block, false);
  x = g.op('AveragePool', [x], { kernel_shape: [7, 7], strides: [2, 2], auto_pad: 'VALID' });
  const features = g.op('Flatten', [x], { axis: 1 });

  const fc = floatWeight(w, 'fc/weights', [256, 7]);
  const logits = g.op('Add', [g.op('MatMul', [features, floats(g, 'fc_w', fc.data, [256, 7])]), floats(g, 'fc_b', floatWeight(w, 'fc/bias').data, [7])]);
  const probs = g.op('Softmax', [logits], { axis: 1 });
  const reordered = g.op('Gather', [probs, ints(g, 'reference_order', [...REFERENCE_FROM_FACE_API])], { axis: 1 });
  output(g, reordered, 'probs', ['N', 7]);
  output(g, features, 'features', ['N', 256]);
  return g.toBytes({ docString: 'face-api face expression classifier (@vladmandic/face-api 1.7.15, MIT); probs in REFERENCE.md order' });
}
