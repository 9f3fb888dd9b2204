import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { outputHeadsBySize } from '../src/blazeface/blazeface.js';
import { packageDir } from '../src/packages.js';
import { convertTfjsGraph, opCounts, SUPPORTED_OPS, type TfjsGraphModel } from '../src/tfjs-graph/convert.js';
import { hwcmToGrouped } from '../src/tfjs-graph/layers.js';
import { decodeGroups } from '../src/tfjs-graph/weights.js';

const humanModels = join(packageDir('@vladmandic/human'), 'models');
const blazeface = JSON.parse(readFileSync(join(humanModels, 'blazeface.json'), 'utf8')) as TfjsGraphModel;

describe('TFJS graph converter', () => {
  it('supports every op of the BlazeFace graph model and no op beyond what the default pack needs', () => {
    const ops = [...opCounts(blazeface).keys()].sort();
    assert.deepEqual(ops, ['AddV2', 'Const', 'DepthwiseConv2dNative', 'Identity', 'MaxPool', 'Pad', 'Placeholder', 'Relu', 'Reshape', '_FusedConv2D']);
    assert.deepEqual([...SUPPORTED_OPS].sort(), ops);
  });

  it('names an unsupported op instead of skipping it', () => {
    const model: TfjsGraphModel = { ...blazeface, modelTopology: { node: [{ name: 'input', op: 'Placeholder' }, { name: 'x', op: 'Sigmoid', input: ['input'] }] } };
    const g = new OnnxGraphBuilder('t');
    const image = g.addInput('image', 'float32', ['N', 4, 4, 3]);
    assert.throws(() => convertTfjsGraph(g, model, new Map(), { input: image }, ['x']), /TF op Sigmoid is not supported/);
  });

  it('orders the output heads as human does: by size, scores 384, scores 512, boxes 384, boxes 512', () => {
    const outputs = (blazeface.userDefinedMetadata?.signature?.outputs ?? {}) as Record<string, { tensorShape?: { dim: { size: string }[] } }>;
    const shapes = outputHeadsBySize(blazeface).map((n) => outputs[`${n}:0`]!.tensorShape!.dim.map((d) => Number(d.size)));
    assert.deepEqual(shapes, [[1, 384, 1], [1, 512, 1], [1, 384, 16], [1, 512, 16]]);
  });

  it('decodes the weights of the .bin exactly to its length', () => {
    const weights = decodeGroups(blazeface.weightsManifest, humanModels);
    assert.equal(weights.size, 112);
  });
});

describe('hwcmToGrouped', () => {
  it('puts depthwise channel c, multiplier j at output channel c·m + j, as TF does', () => {
    // kh = kw = 1, c = 2, m = 2: TF order [c0j0, c0j1, c1j0, c1j1] is already c·m + j.
    assert.deepEqual([...hwcmToGrouped(Float32Array.from([1, 2, 3, 4]), [1, 1, 2, 2])], [1, 2, 3, 4]);
    // kh = 2, kw = 1, c = 2, m = 1: TF [y0c0, y0c1, y1c0, y1c1] → [c0y0, c0y1, c1y0, c1y1].
    assert.deepEqual([...hwcmToGrouped(Float32Array.from([1, 2, 3, 4]), [2, 1, 2, 1])], [1, 3, 2, 4]);
  });
});
