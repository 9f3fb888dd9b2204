// TensorFlow layers as ONNX nodes, in NCHW. TF filters are HWIO (conv) and HWCM (depthwise);
// ONNX wants OIHW, and a depthwise conv is a grouped conv with one input channel per group.
// TF "same" padding is ONNX auto_pad SAME_UPPER (the odd extra row/column at the bottom/right);
// the converters use it rather than explicit pads because they do not track spatial shapes,
// and onnxruntime honours it (the parity tests against tfjs check exactly this).
import { attr, type OnnxGraphBuilder } from '../onnx/builder.js';
import { hwioToOihw } from '../onnx/tf-layout.js';

export type Padding = 'SAME' | 'VALID' | { pads: [number, number, number, number] };

export interface ConvOptions {
  strides?: number;
  padding: Padding;
  bias?: Float32Array | undefined;
}

/** Depthwise [kh, kw, c, m] → [c·m, 1, kh, kw]; output channel c·m + j, as TF orders it. */
export function hwcmToGrouped(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, c, m] = shape as [number, number, number, number];
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < c; i++) for (let j = 0; j < m; j++) {
    out[((i * m + j) * kh + y) * kw + x] = data[((y * kw + x) * c + i) * m + j]!;
  }
  return out;
}

function padAttrs(padding: Padding): Record<string, string | number[]> {
  if (padding === 'SAME') return { auto_pad: 'SAME_UPPER' };
  if (padding === 'VALID') return { auto_pad: 'VALID' };
  const [top, left, bottom, right] = padding.pads;
  return { pads: [top, left, bottom, right] };
}

/** tf.conv2d (+ bias) with an HWIO filter. */
export function conv2d(g: OnnxGraphBuilder, x: string, filter: Float32Array, shape: readonly number[], o: ConvOptions): string {
  const [kh, kw, ci, co] = shape as [number, number, number, number];
  const inputs = [x, floats(g, 'W', hwioToOihw(filter, kh, kw, ci, co), [co, ci, kh, kw])];
  if (o.bias) inputs.push(floats(g, 'B', o.bias, [co]));
  const s = o.strides ?? 1;
  return g.op('Conv', inputs, { kernel_shape: [kh, kw], strides: [s, s], ...padAttrs(o.padding) });
}

/** tf.depthwiseConv2d (+ bias) with an HWCM filter. */
export function depthwiseConv2d(g: OnnxGraphBuilder, x: string, filter: Float32Array, shape: readonly number[], o: ConvOptions): string {
  const [kh, kw, c, m] = shape as [number, number, number, number];
  const inputs = [x, floats(g, 'W', hwcmToGrouped(filter, shape), [c * m, 1, kh, kw])];
  if (o.bias) inputs.push(floats(g, 'B', o.bias, [c * m]));
  const s = o.strides ?? 1;
  return g.op('Conv', inputs, { kernel_shape: [kh, kw], strides: [s, s], group: c, ...padAttrs(o.padding) });
}

/** tf.batchNorm(x, mean, variance, offset, scale, epsilon) on channels. */
export function batchNorm(
  g: OnnxGraphBuilder, x: string,
  p: { scale: Float32Array; offset: Float32Array; mean: Float32Array; variance: Float32Array }, epsilon: number,
): string {
  const c = p.scale.length;
  return g.op('BatchNormalization', [
    x, floats(g, 'gamma', p.scale, [c]), floats(g, 'beta', p.offset, [c]),
    floats(g, 'mean', p.mean, [c]), floats(g, 'var', p.variance, [c]),
  ], { epsilon: attr.float(epsilon) });
}

/** Adds a per-channel bias to an NCHW tensor. */
export function addChannelBias(g: OnnxGraphBuilder, x: string, bias: Float32Array): string {
  return g.op('Add', [x, floats(g, 'bias', bias, [1, bias.length, 1, 1])]);
}

/** A float scalar constant. */
export function scalar(g: OnnxGraphBuilder, value: number): string {
  return floats(g, 'k', [value], []);
}

export function clip(g: OnnxGraphBuilder, x: string, min: number, max: number): string {
  return g.op('Clip', [x, scalar(g, min), scalar(g, max)]);
}

/** tf.maxPool with a square window. */
export function maxPool(g: OnnxGraphBuilder, x: string, size: number, stride: number, padding: Padding): string {
  return g.op('MaxPool', [x], { kernel_shape: [size, size], strides: [stride, stride], ...padAttrs(padding) });
}

export function nhwcToNchw(g: OnnxGraphBuilder, x: string): string {
  return g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
}

export function nchwToNhwc(g: OnnxGraphBuilder, x: string): string {
  return g.op('Transpose', [x], { perm: [0, 2, 3, 1] });
}

/** (x − mean[c]) / divisor on an NHWC image. */
export function normaliseNhwc(g: OnnxGraphBuilder, x: string, mean: readonly number[], divisor: number): string {
  const centred = g.op('Sub', [x, floats(g, 'mean', [...mean], [1, 1, 1, mean.length])]);
  return g.op('Div', [centred, scalar(g, divisor)]);
}

/** A float32 initialiser under a fresh name derived from `hint`. */
export function floats(g: OnnxGraphBuilder, hint: string, data: Float32Array | readonly number[], dims: readonly number[]): string {
  return g.addInitializer(g.uniqueName(hint), data instanceof Float32Array ? data : Float32Array.from(data), dims);
}

/** An int64 initialiser (shapes, axes, indices); `dims` [] makes a scalar. */
export function ints(g: OnnxGraphBuilder, hint: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
  return g.addInitializer(g.uniqueName(hint), BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

/** Publishes `value` as graph output `name` (through an Identity, whatever node made it). */
export function output(g: OnnxGraphBuilder, value: string, name: string, dims: readonly (number | string)[]): void {
  g.addOutput(g.op('Identity', [value], {}, name), 'float32', dims);
}
