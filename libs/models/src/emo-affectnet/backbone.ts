/**
 * EMO-AffectNet's static model as an ONNX graph: the VGGFace2 ResNet50 ("keras-vggface"
 * layout, REFERENCE.md) with the authors' head.
 *
 * input  `input`    [N, 224, 224, 3] float32, NHWC, BGR minus the VGGFace2 means (no scaling)
 * output `features` [N, 512] — Dense 512 + ReLU, what the temporal model consumes
 * output `probs`    [N, 7]   — Dense 7 + softmax, labels in REFERENCE.md order
 *
 * Faithful to Keras where it changes numbers:
 * - the NHWC input is transposed to NCHW inside the graph, so callers feed Keras's layout;
 * - TF "same" padding becomes explicit asymmetric pads (extra row/column at the bottom/right);
 * - the stem max-pool is 3×3 stride 2 with "valid" padding (keras-vggface's default), so the
 *   maps are 112 → 55 → 55 → 28 → 14 → 7 and the 7×7 average pool sees exactly 7×7;
 * - the stride of a projection block sits on its first 1×1 conv and on the projection conv;
 * - convs have no bias; every conv is followed by BatchNormalization with Keras's epsilon 0.001
 *   (kept as BN nodes named after the Keras layers; onnxruntime folds them into the convs);
 * - GaussianNoise and Dropout are training-only and are left out.
 */
import { OnnxGraphBuilder, attr } from '../onnx/builder.js';
import { hwioToOihw, tfSamePads, tfValidPads, type AxisPads } from '../onnx/tf-layout.js';
import { KerasWeightSource, LOGICAL_LAYERS, type WeightSource } from './weights.js';

export const BACKBONE_INPUT = 'input';
export const BACKBONE_FEATURES = 'features';
export const BACKBONE_PROBS = 'probs';
export const BACKBONE_INPUT_SIZE = 224;
/** Keras BatchNormalization's default epsilon. */
const BN_EPSILON = 0.001;

/** Layer widths; the real model is {@link RESNET50_SPEC}, parity fixtures use narrower ones. */
export interface BackboneSpec {
  readonly stem: number;
  readonly stages: readonly StageSpec[];
  readonly features: number;
  readonly classes: number;
}
export interface StageSpec {
  readonly stage: number;
  readonly blocks: number;
  /** Output channels of the 1×1 reduce, the 3×3 and the 1×1 increase convs. */
  readonly filters: readonly [number, number, number];
}

export const RESNET50_SPEC: BackboneSpec = {
  stem: 64,
  stages: [
    { stage: 2, blocks: 3, filters: [64, 64, 256] },
    { stage: 3, blocks: 4, filters: [128, 128, 512] },
    { stage: 4, blocks: 6, filters: [256, 256, 1024] },
    { stage: 5, blocks: 3, filters: [512, 512, 2048] },
  ],
  features: 512,
  classes: 7,
};

/** Reads the widths and block counts from a Keras file (so narrow test models import too). */
export function backboneSpecFromKeras(source: KerasWeightSource): BackboneSpec {
  const out = (layer: string) => source.shape(layer, 'kernel')[3]!;
  const stages: StageSpec[] = [];
  for (let stage = 2; source.has(`conv${stage}_1_1x1_reduce`); stage++) {
    let blocks = 0;
    while (source.has(`conv${stage}_${blocks + 1}_1x1_reduce`)) blocks++;
    const p = `conv${stage}_1`;
    stages.push({ stage, blocks, filters: [out(`${p}_1x1_reduce`), out(`${p}_3x3`), out(`${p}_1x1_increase`)] });
  }
  if (stages.length !== 4) throw new Error(`${source.description}: found ${stages.length} ResNet stages (conv2_… to conv5_…), expected 4; not an EMO-AffectNet backbone`);
  return {
    stem: out('conv1_7x7_s2'),
    stages,
    features: source.shape('features', 'kernel')[1]!,
    classes: source.shape(LOGICAL_LAYERS.backboneProbs, 'kernel')[1]!,
  };
}

/** A value flowing through the graph with what the next layer needs to know about it. */
interface Activation {
  readonly name: string;
  readonly channels: number;
  /** Height = width (the input is square). */
  readonly size: number;
}

/** Builds the backbone graph and returns the serialised model. */
export function buildBackbone(weights: WeightSource, spec: BackboneSpec = RESNET50_SPEC): Uint8Array {
  const g = new OnnxGraphBuilder('emo_affectnet_backbone');
  const input = g.addInput(BACKBONE_INPUT, 'float32', ['N', BACKBONE_INPUT_SIZE, BACKBONE_INPUT_SIZE, 3]);
  let x: Activation = { name: g.op('Transpose', [input], { perm: [0, 3, 1, 2] }, 'input_nchw'), channels: 3, size: BACKBONE_INPUT_SIZE };

  x = convBn(g, weights, x, 'conv1_7x7_s2', spec.stem, 7, 2, 'same', true);
  const pool = tfValidPads(x.size, 3, 2);
  x = { ...x, name: g.op('MaxPool', [x.name], { kernel_shape: [3, 3], strides: [2, 2] }, 'max_pooling2d'), size: pool.outSize };

  for (const { stage, blocks, filters } of spec.stages) {
    for (let block = 1; block <= blocks; block++) {
      const stride = block === 1 && stage !== 2 ? 2 : 1;
      x = bottleneck(g, weights, x, `conv${stage}_${block}`, filters, stride, block === 1);
    }
  }

  if (x.size !== 7) throw new Error(`backbone: last feature map is ${x.size}×${x.size}, the 7×7 average pool needs 7×7`);
  const pooled = g.op('AveragePool', [x.name], { kernel_shape: [7, 7], strides: [7, 7] }, 'avg_pool');
  const flat = g.op('Flatten', [pooled], { axis: 1 }, 'flatten');

  const features = dense(g, weights, flat, x.channels, 'features', spec.features);
  g.op('Relu', [features], {}, BACKBONE_FEATURES);
  const logits = dense(g, weights, BACKBONE_FEATURES, spec.features, LOGICAL_LAYERS.backboneProbs, spec.classes, 'probs_logits');
  g.op('Softmax', [logits], { axis: 1 }, BACKBONE_PROBS);

  g.addOutput(BACKBONE_FEATURES, 'float32', ['N', spec.features]);
  g.addOutput(BACKBONE_PROBS, 'float32', ['N', spec.classes]);
  return g.toBytes({
    docString: 'EMO-AffectNet backbone: VGGFace2 ResNet50 + Dense 512 ReLU (features) + Dense 7 softmax (probs)',
    metadata: { weights: weights.description, architecture: 'emo-affectnet-backbone', widths: JSON.stringify(spec) },
  });
}

/** A projection (first of a stage) or identity bottleneck block, keras-vggface style. */
function bottleneck(
  g: OnnxGraphBuilder,
  weights: WeightSource,
  x: Activation,
  prefix: string,
  [f1, f2, f3]: readonly [number, number, number],
  stride: number,
  project: boolean,
): Activation {
  let y = convBn(g, weights, x, `${prefix}_1x1_reduce`, f1, 1, stride, 'valid', true);
  y = convBn(g, weights, y, `${prefix}_3x3`, f2, 3, 1, 'same', true);
  y = convBn(g, weights, y, `${prefix}_1x1_increase`, f3, 1, 1, 'valid', false);
  const shortcut = project ? convBn(g, weights, x, `${prefix}_1x1_proj`, f3, 1, stride, 'valid', false) : x;
  if (shortcut.channels !== y.channels || shortcut.size !== y.size) {
    throw new Error(`backbone ${prefix}: identity shortcut has ${shortcut.channels}×${shortcut.size}², branch ${y.channels}×${y.size}²`);
  }
  const sum = g.op('Add', [y.name, shortcut.name], {}, `${prefix}_add`);
  return { ...y, name: g.op('Relu', [sum], {}, `${prefix}_relu`) };
}

/** Conv2D (no bias) → BatchNormalization (→ ReLU), named after the Keras layers. */
function convBn(
  g: OnnxGraphBuilder,
  weights: WeightSource,
  x: Activation,
  layer: string,
  filters: number,
  kernel: number,
  stride: number,
  padding: 'same' | 'valid',
  relu: boolean,
): Activation {
  const pads: AxisPads = padding === 'same' ? tfSamePads(x.size, kernel, stride) : tfValidPads(x.size, kernel, stride);
  const kernelHwio = weights.conv(layer, [kernel, kernel, x.channels, filters]);
  const w = g.addInitializer(`${layer}/kernel`, hwioToOihw(kernelHwio, kernel, kernel, x.channels, filters), [filters, x.channels, kernel, kernel]);
  const conv = g.op(
    'Conv',
    [x.name, w],
    { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pads.begin, pads.begin, pads.end, pads.end] },
    layer,
  );
  const bn = weights.batchNorm(`${layer}_bn`, filters);
  const bnOut = g.op(
    'BatchNormalization',
    [
      conv,
      g.addInitializer(`${layer}_bn/gamma`, bn.gamma, [filters]),
      g.addInitializer(`${layer}_bn/beta`, bn.beta, [filters]),
      g.addInitializer(`${layer}_bn/moving_mean`, bn.movingMean, [filters]),
      g.addInitializer(`${layer}_bn/moving_variance`, bn.movingVariance, [filters]),
    ],
    { epsilon: attr.float(BN_EPSILON) },
    `${layer}_bn`,
  );
  const name = relu ? g.op('Relu', [bnOut], {}, `${layer}_relu`) : bnOut;
  return { name, channels: filters, size: pads.outSize };
}

/** Keras Dense as Gemm: y = x · kernel + bias, kernel stored [in, out] as Keras has it. */
function dense(g: OnnxGraphBuilder, weights: WeightSource, x: string, inputs: number, layer: string, units: number, output?: string): string {
  const { kernel, bias } = weights.dense(layer, inputs, units);
  return g.op(
    'Gemm',
    [x, g.addInitializer(`${layer}/kernel`, kernel, [inputs, units]), g.addInitializer(`${layer}/bias`, bias, [units])],
    {},
    output ?? `${layer}_linear`,
  );
}
