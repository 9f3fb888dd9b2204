// Reads TensorFlow.js weight files (a weights manifest + the .bin shards it names) into float32
// and int32 arrays, dequantising exactly as tfjs-core's `io.decodeWeights` does:
// value = q * scale + min, computed in float64 and stored once into float32.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

export interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface Weight {
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export type WeightMap = Map<string, Weight>;

/** Loads face-api style `*-weights_manifest.json` (an array of groups) and its shards. */
export function loadWeightsManifest(manifestPath: string): WeightMap {
  const groups = JSON.parse(readFileSync(manifestPath, 'utf8')) as WeightGroup[];
  return decodeGroups(groups, dirname(manifestPath));
}

/** Concatenates each group's shards and decodes its weights in manifest order. */
export function decodeGroups(groups: WeightGroup[], folder: string): WeightMap {
  const map: WeightMap = new Map();
  for (const group of groups) {
    const buffer = Buffer.concat(group.paths.map((p) => readFileSync(join(folder, p))));
    let offset = 0;
    for (const spec of group.weights) {
      const { weight, bytes } = decodeWeight(spec, buffer, offset);
      map.set(spec.name, weight);
      offset += bytes;
    }
    if (offset !== buffer.length) throw new Error(`${group.paths.join(',')}: decoded ${offset} of ${buffer.length} bytes`);
  }
  return map;
}

function decodeWeight(spec: WeightSpec, buffer: Buffer, offset: number): { weight: Weight; bytes: number } {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const q = spec.quantization;
  if (q && q.dtype !== 'uint8') throw new Error(`${spec.name}: quantisation ${q.dtype} not supported`);
  if (q) {
    const scale = q.scale ?? 1;
    const min = q.min ?? 0;
    const raw = buffer.subarray(offset, offset + size);
    // tfjs: Float32Array.from(q, v => v * scale + min); int32 weights are rounded.
    const data = spec.dtype === 'int32'
      ? Int32Array.from(raw, (v) => Math.round(v * scale + min))
      : Float32Array.from(raw, (v) => v * scale + min);
    return { weight: { shape: spec.shape, dtype: spec.dtype, data }, bytes: size };
  }
  // Unquantised: copy, because shard offsets need not be 4-byte aligned.
  const copy = new Uint8Array(buffer.subarray(offset, offset + size * 4));
  const data = spec.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  return { weight: { shape: spec.shape, dtype: spec.dtype, data }, bytes: size * 4 };
}

/** The named float weight, checked for shape. */
export function floatWeight(map: WeightMap, name: string, shape?: number[]): Weight & { data: Float32Array } {
  const w = map.get(name);
  if (!w) throw new Error(`missing weight ${name}`);
  if (!(w.data instanceof Float32Array)) throw new Error(`weight ${name} is not float32`);
  if (shape && w.shape.join() !== shape.join()) throw new Error(`weight ${name}: shape [${w.shape.join()}] != [${shape.join()}]`);
  return w as Weight & { data: Float32Array };
}
