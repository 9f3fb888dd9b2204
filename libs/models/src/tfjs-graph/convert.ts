// A small TFJS graph-model → ONNX converter for exactly the ops the default pack's graph models
// use (BlazeFace: Placeholder, Const, _FusedConv2D, DepthwiseConv2dNative, AddV2, Relu, MaxPool,
// Pad, Reshape, Identity). Any other op is an error naming it, never a silent skip.
//
// TFJS graphs are NHWC; the ONNX graph runs NCHW. Every 4-D activation is kept NCHW and only
// transposed back where an op depends on the layout (Reshape, graph outputs).
import type { OnnxGraphBuilder } from '../onnx/builder.js';
import { conv2d, depthwiseConv2d, ints, maxPool, nchwToNhwc, type Padding } from './layers.js';
import type { WeightGroup, WeightMap } from './weights.js';

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface TfAttr {
  s?: string;
  list?: { i?: string[]; s?: string[] };
}

export interface TfjsGraphModel {
  format: string;
  modelTopology: { node: TfNode[] };
  weightsManifest: WeightGroup[];
  signature?: Signature;
  /** The converter of human's models put the signature here. */
  userDefinedMetadata?: { signature?: Signature };
}

export interface Signature {
  outputs?: Record<string, { name: string; tensorShape?: { dim: { size: string }[] } }>;
}

export const SUPPORTED_OPS = [
  'Placeholder', 'Const', 'Identity', '_FusedConv2D', 'DepthwiseConv2dNative', 'AddV2', 'Relu', 'MaxPool', 'Pad', 'Reshape',
] as const;

/** How many nodes of each op the graph has (print this first when adding a model). */
export function opCounts(model: TfjsGraphModel): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of model.modelTopology.node) counts.set(node.op, (counts.get(node.op) ?? 0) + 1);
  return counts;
}

/** A converted TF tensor: its ONNX value and whether it is a 4-D activation stored NCHW. */
interface Value {
  name: string;
  nchw: boolean;
}

const decode = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));
const strideOf = (node: TfNode): number => {
  const [n, h, w, c] = (node.attr?.strides?.list?.i ?? ['1', '1', '1', '1']).map(Number);
  if (n !== 1 || c !== 1 || h !== w) throw new Error(`${node.name}: strides [${n},${h},${w},${c}] not supported`);
  return h!;
};
const paddingOf = (node: TfNode): Padding => {
  const padding = decode(node.attr?.padding?.s);
  if (padding !== 'SAME' && padding !== 'VALID') throw new Error(`${node.name}: padding ${padding} not supported`);
  return padding;
};

function checkNode(node: TfNode): void {
  if (!(SUPPORTED_OPS as readonly string[]).includes(node.op)) throw new Error(`${node.name}: TF op ${node.op} is not supported by the converter`);
  const format = decode(node.attr?.data_format?.s);
  if (format && format !== 'NHWC') throw new Error(`${node.name}: data_format ${format} not supported`);
  const dilations = node.attr?.dilations?.list?.i;
  if (dilations && dilations.some((d) => d !== '1')) throw new Error(`${node.name}: dilations not supported`);
}

/**
 * Adds the graph's nodes to `g`. `inputs` maps each Placeholder's name to an ONNX value holding
 * it NHWC. Returns the ONNX value of each TF node named in `outputs`, NHWC where it is 4-D.
 */
export function convertTfjsGraph(
  g: OnnxGraphBuilder, model: TfjsGraphModel, weights: WeightMap, inputs: Record<string, string>, outputs: readonly string[],
): string[] {
  const values = new Map<string, Value>();
  const constant = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`constant ${name} has no weight`);
    return w;
  };
  const floatConstant = (name: string) => {
    const w = constant(name);
    if (!(w.data instanceof Float32Array)) throw new Error(`constant ${name} is not float32`);
    return { data: w.data, shape: w.shape };
  };
  const valueOf = (name: string): Value => {
    const v = values.get(name.replace(/:0$/, ''));
    if (!v) throw new Error(`TF value ${name} used before it is defined (or is a constant used as an activation)`);
    return v;
  };

  for (const node of model.modelTopology.node) {
    checkNode(node);
    const ins = node.input ?? [];
    switch (node.op) {
      case 'Const':
        break; // read by the consumer, which knows the layout it needs
      case 'Placeholder': {
        const input = inputs[node.name];
        if (!input) throw new Error(`no ONNX value given for placeholder ${node.name}`);
        values.set(node.name, { name: g.op('Transpose', [input], { perm: [0, 3, 1, 2] }), nchw: true });
        break;
      }
      case 'Identity':
        values.set(node.name, valueOf(ins[0]!));
        break;
      case '_FusedConv2D': {
        const fused = (node.attr?.fused_ops?.list?.s ?? []).map(decode);
        if (fused[0] !== 'BiasAdd' || fused.length > 2 || (fused[1] !== undefined && fused[1] !== 'Relu')) {
          throw new Error(`${node.name}: fused ops ${fused.join('+')} not supported`);
        }
        const filter = floatConstant(ins[1]!);
        let out = conv2d(g, valueOf(ins[0]!).name, filter.data, filter.shape, {
          strides: strideOf(node), padding: paddingOf(node), bias: floatConstant(ins[2]!).data,
        });
        if (fused[1] === 'Relu') out = g.op('Relu', [out]);
        values.set(node.name, { name: out, nchw: true });
        break;
      }
      case 'DepthwiseConv2dNative': {
        const filter = floatConstant(ins[1]!);
        const out = depthwiseConv2d(g, valueOf(ins[0]!).name, filter.data, filter.shape, { strides: strideOf(node), padding: paddingOf(node) });
        values.set(node.name, { name: out, nchw: true });
        break;
      }
      case 'AddV2': {
        const [a, b] = [valueOf(ins[0]!), valueOf(ins[1]!)];
        if (a.nchw !== b.nchw) throw new Error(`${node.name}: adding tensors of different layouts`);
        values.set(node.name, { name: g.op('Add', [a.name, b.name]), nchw: a.nchw });
        break;
      }
      case 'Relu': {
        const x = valueOf(ins[0]!);
        values.set(node.name, { name: g.op('Relu', [x.name]), nchw: x.nchw });
        break;
      }
      case 'MaxPool': {
        const [, kh, kw] = (node.attr?.ksize?.list?.i ?? []).map(Number);
        if (kh !== kw) throw new Error(`${node.name}: non-square pooling window`);
        values.set(node.name, { name: maxPool(g, valueOf(ins[0]!).name, kh!, strideOf(node), paddingOf(node)), nchw: true });
        break;
      }
      case 'Pad': {
        const x = valueOf(ins[0]!);
        const p = Array.from(constant(ins[1]!).data); // [[n0,n1],[h0,h1],[w0,w1],[c0,c1]] NHWC
        const order = x.nchw ? [0, 3, 1, 2] : [0, 1, 2, 3];
        const pads = [...order.map((d) => p[2 * d]!), ...order.map((d) => p[2 * d + 1]!)];
        values.set(node.name, { name: g.op('Pad', [x.name, ints(g, 'pads', pads)], { mode: 'constant' }), nchw: x.nchw });
        break;
      }
      case 'Reshape': {
        const x = valueOf(ins[0]!);
        const nhwc = x.nchw ? nchwToNhwc(g, x.name) : x.name;
        // Keep the batch dynamic: 0 copies the input's first dimension.
        const shape = Array.from(constant(ins[1]!).data);
        shape[0] = 0;
        values.set(node.name, { name: g.op('Reshape', [nhwc, ints(g, 'shape', shape)]), nchw: false });
        break;
      }
    }
  }
  return outputs.map((name) => {
    const v = valueOf(name);
    return v.nchw ? nchwToNhwc(g, v.name) : v.name;
  });
}
