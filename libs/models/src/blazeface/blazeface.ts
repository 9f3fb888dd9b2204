// MediaPipe BlazeFace (back camera / distant faces, 256×256) from @vladmandic/human's TFJS graph
// model, converted to ONNX with the box decoding of human's src/face/blazeface.ts in the graph.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { blazeFaceAnchors } from '@emostream/vision';
import { OnnxGraphBuilder } from '../onnx/builder.js';
import { convertTfjsGraph, type TfjsGraphModel } from '../tfjs-graph/convert.js';
import { floats, ints, output, scalar } from '../tfjs-graph/layers.js';
import { decodeGroups } from '../tfjs-graph/weights.js';

export const BLAZEFACE_INPUT_SIZE = 256;
export const BLAZEFACE_ANCHORS = 896;

export function readBlazeFaceModel(modelsDir: string): { model: TfjsGraphModel; folder: string } {
  const model = JSON.parse(readFileSync(join(modelsDir, 'blazeface.json'), 'utf8')) as TfjsGraphModel;
  if (model.format !== 'graph-model') throw new Error(`blazeface.json: format ${model.format}, expected graph-model`);
  return { model, folder: modelsDir };
}

/**
 * The four output heads ordered as human orders them: by element count, ascending, giving
 * [scores 384, scores 512, boxes 384, boxes 512]; the stride-16 heads (512 anchors) come first
 * in the anchor order, so rows are [512 | 384] with the logit then 16 regressors each.
 */
export function outputHeadsBySize(model: TfjsGraphModel): string[] {
  const outputs = Object.values((model.signature ?? model.userDefinedMetadata?.signature)?.outputs ?? {});
  if (outputs.length !== 4) throw new Error(`blazeface.json: expected 4 outputs, found ${outputs.length}`);
  const size = (o: (typeof outputs)[number]) => (o.tensorShape?.dim ?? []).reduce((a, d) => a * Number(d.size), 1);
  return [...outputs].sort((a, b) => size(a) - size(b)).map((o) => o.name.replace(/:0$/, ''));
}

/**
 * Input `image` [N, 256, 256, 3] RGB 0–255 (letterboxed top-left, bilinear). Outputs `boxes`
 * [N, 896, 4] (x1, y1, x2, y2 in [0, 1] of the input), `scores` [N, 896] (sigmoid of the logits)
 * and `logits` [N, 896] (raw, for parity checks: they reach ~1e4).
 */
export function buildBlazeFace(modelsDir: string): Uint8Array {
  const { model, folder } = readBlazeFaceModel(modelsDir);
  const weights = decodeGroups(model.weightsManifest, folder);
  const g = new OnnxGraphBuilder('blazeface-back');
  const S = BLAZEFACE_INPUT_SIZE;
  const image = g.addInput('image', 'float32', ['N', S, S, 3]);
  // human: resized / 127.5 − 1.
  const normalised = g.op('Sub', [g.op('Div', [image, scalar(g, 127.5)]), scalar(g, 1)]);
  const placeholder = model.modelTopology.node.find((n) => n.op === 'Placeholder');
  if (!placeholder) throw new Error('blazeface.json has no input placeholder');
  const [cls384, cls512, reg384, reg512] = convertTfjsGraph(
    g, model, weights, { [placeholder.name]: normalised }, outputHeadsBySize(model),
  ) as [string, string, string, string];
  const rows512 = g.op('Concat', [cls512, reg512], { axis: 2 });
  const rows384 = g.op('Concat', [cls384, reg384], { axis: 2 });
  const rows = g.op('Concat', [rows512, rows384], { axis: 1 }); // [N, 896, 17]

  const column = (i: number) => g.op('Gather', [rows, ints(g, `col${i}`, [i], [])], { axis: 2 });
  const anchors = blazeFaceAnchors(S);
  if (anchors.length !== BLAZEFACE_ANCHORS) throw new Error(`generated ${anchors.length} anchors, expected ${BLAZEFACE_ANCHORS}`);
  const size = scalar(g, S);
  // Centre = anchor + offset; size as predicted; all in input pixels, then normalised to [0, 1].
  const cx = g.op('Div', [g.op('Add', [column(1), floats(g, 'anchor_x', anchors.map((a) => a[0]), [BLAZEFACE_ANCHORS])]), size]);
  const cy = g.op('Div', [g.op('Add', [column(2), floats(g, 'anchor_y', anchors.map((a) => a[1]), [BLAZEFACE_ANCHORS])]), size]);
  const hw = g.op('Div', [g.op('Div', [column(3), size]), scalar(g, 2)]);
  const hh = g.op('Div', [g.op('Div', [column(4), size]), scalar(g, 2)]);
  const corners = [g.op('Sub', [cx, hw]), g.op('Sub', [cy, hh]), g.op('Add', [cx, hw]), g.op('Add', [cy, hh])]
    .map((c) => g.op('Unsqueeze', [c, ints(g, 'axis', [2])]));
  const logits = column(0);
  output(g, g.op('Concat', corners, { axis: 2 }), 'boxes', ['N', BLAZEFACE_ANCHORS, 4]);
  output(g, g.op('Sigmoid', [logits]), 'scores', ['N', BLAZEFACE_ANCHORS]);
  output(g, logits, 'logits', ['N', BLAZEFACE_ANCHORS]);
  return g.toBytes({ docString: 'MediaPipe BlazeFace back-camera model (Apache 2.0) from @vladmandic/human 3.3.6 (MIT)' });
}
