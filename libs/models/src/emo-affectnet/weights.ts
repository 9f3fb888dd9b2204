/**
 * Where the EMO-AffectNet builders get their weights from.
 *
 * The builders ask for weights by Keras layer name and expected shape, always in Keras layout
 * (conv kernels HWIO, dense kernels [in, out], LSTM kernels [in, 4·units] in gate order
 * i, f, c, o); converting to ONNX layout is the builders' job. Two sources:
 * - {@link SeededWeightSource}: deterministic random weights (the synthetic pack);
 * - {@link KerasWeightSource}: a Keras `.h5` file (the authors' published weights, or the
 *   parity fixtures).
 *
 * Layers the authors left unnamed (the final Dense, the two LSTMs) are asked for by the logical
 * names in {@link LOGICAL_LAYERS}; the Keras source finds them by position.
 */
import type { KerasWeightsFile, StoredWeight } from './keras-h5.js';

/** Keras BatchNormalization weights. */
export interface BatchNormWeights {
  readonly gamma: Float32Array;
  readonly beta: Float32Array;
  readonly movingMean: Float32Array;
  readonly movingVariance: Float32Array;
}
/** Keras Dense weights: kernel [inputs, units], bias [units]. */
export interface DenseWeights {
  readonly kernel: Float32Array;
  readonly bias: Float32Array;
}
/** Keras LSTM weights: kernel [inputs, 4u], recurrentKernel [u, 4u], bias [4u]; gates i, f, c, o. */
export interface LstmWeights {
  readonly kernel: Float32Array;
  readonly recurrentKernel: Float32Array;
  readonly bias: Float32Array;
  /** PyTorch's second bias (`bias_hh`), same layout; Keras has none (zero). */
  readonly recurrentBias?: Float32Array;
}

/** Logical names for the layers the authors' code leaves unnamed. */
export const LOGICAL_LAYERS = {
  /** The backbone's final Dense 7 (softmax). */
  backboneProbs: 'probs',
  /** The temporal model's first and second LSTM, and its Dense 7. */
  lstm1: 'lstm1',
  lstm2: 'lstm2',
  temporalProbs: 'probs',
} as const;

/** A provider of Keras-layout weights by layer name. */
export interface WeightSource {
  /** For manifests and errors, e.g. `seeded(2022)` or `weights_0_66_49_wo_gl.h5`. */
  readonly description: string;
  /** Conv2D kernel without bias, HWIO `[kh, kw, in, out]`. */
  conv(layer: string, shape: readonly [number, number, number, number]): Float32Array;
  batchNorm(layer: string, channels: number): BatchNormWeights;
  dense(layer: string, inputs: number, units: number): DenseWeights;
  lstm(layer: string, inputs: number, units: number): LstmWeights;
}

/**
 * Deterministic random weights. Each layer's stream is seeded from (seed, layer name), so a
 * layer's weights do not depend on which layers were asked for before it.
 *
 * Scales keep activations O(1) through 16 residual blocks without calibration: He-normal convs
 * (std √(2/fan_in)); the stem divided by 60 because its input is mean-subtracted pixels (std ≈ 60),
 * not unit-variance values; the last BN of each residual branch (`_1x1_increase_bn`) with γ = 0.2
 * so that adding branches does not make activations grow block after block.
 */
export class SeededWeightSource implements WeightSource {
  readonly description: string;
  constructor(readonly seed: number) {
    this.description = `seeded(${seed})`;
  }

  conv(layer: string, shape: readonly [number, number, number, number]): Float32Array {
    const [kh, kw, cin] = shape;
    const fanIn = kh * kw * cin;
    const std = Math.sqrt(2 / fanIn) / (layer === 'conv1_7x7_s2' ? 60 : 1);
    return this.normal(layer, shape.reduce((a, b) => a * b, 1), std);
  }

  batchNorm(layer: string, channels: number): BatchNormWeights {
    const gamma = layer.endsWith('_1x1_increase_bn') ? 0.2 : 1;
    return {
      gamma: new Float32Array(channels).fill(gamma),
      beta: new Float32Array(channels),
      movingMean: new Float32Array(channels),
      movingVariance: new Float32Array(channels).fill(1),
    };
  }

  dense(layer: string, inputs: number, units: number): DenseWeights {
    return { kernel: this.normal(`${layer}/kernel`, inputs * units, Math.sqrt(2 / inputs)), bias: new Float32Array(units) };
  }

  lstm(layer: string, inputs: number, units: number): LstmWeights {
    // Glorot-like scales; LSTMs saturate gracefully, so exact scales matter little for cost tests.
    return {
      kernel: this.normal(`${layer}/kernel`, inputs * 4 * units, Math.sqrt(1 / inputs)),
      recurrentKernel: this.normal(`${layer}/recurrent_kernel`, units * 4 * units, Math.sqrt(1 / units)),
      bias: new Float32Array(4 * units),
    };
  }

  private normal(stream: string, length: number, std: number): Float32Array {
    const next = mulberry32(hashString(`${this.seed}:${stream}`));
    const out = new Float32Array(length);
    // Box–Muller, two normals per pair of uniforms.
    for (let i = 0; i < length; i += 2) {
      const u1 = 1 - next();
      const u2 = next();
      const r = Math.sqrt(-2 * Math.log(u1)) * std;
      out[i] = r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }
}

/** Weights from a Keras `.h5` file, checked against the shapes the builder expects. */
export class KerasWeightSource implements WeightSource {
  readonly description: string;
  private readonly dense7: string | undefined;
  private readonly lstms: readonly string[];

  constructor(private readonly file: KerasWeightsFile) {
    this.description = file.name;
    // Unnamed layers, found by position: the last Dense with 7 units, and the LSTMs in order.
    this.lstms = file.weightedLayers.filter((l) => file.layer(l).has('recurrent_kernel'));
    this.dense7 = [...file.weightedLayers].reverse().find((l) => {
      const kernel = file.layer(l).get('kernel');
      return !file.layer(l).has('recurrent_kernel') && kernel?.shape.length === 2 && kernel.shape[1] === 7;
    });
  }

  conv(layer: string, shape: readonly [number, number, number, number]): Float32Array {
    const weights = this.file.layer(layer);
    if (weights.has('bias')) throw new Error(`${this.file.name}: conv layer "${layer}" has a bias; the VGGFace2 ResNet50 convs have none`);
    return this.get(layer, 'kernel', shape);
  }

  batchNorm(layer: string, channels: number): BatchNormWeights {
    return {
      gamma: this.get(layer, 'gamma', [channels]),
      beta: this.get(layer, 'beta', [channels]),
      movingMean: this.get(layer, 'moving_mean', [channels]),
      movingVariance: this.get(layer, 'moving_variance', [channels]),
    };
  }

  dense(layer: string, inputs: number, units: number): DenseWeights {
    const name = this.resolve(layer);
    return { kernel: this.get(name, 'kernel', [inputs, units]), bias: this.get(name, 'bias', [units]) };
  }

  lstm(layer: string, inputs: number, units: number): LstmWeights {
    const name = this.resolve(layer);
    return {
      kernel: this.get(name, 'kernel', [inputs, 4 * units]),
      recurrentKernel: this.get(name, 'recurrent_kernel', [units, 4 * units]),
      bias: this.get(name, 'bias', [4 * units]),
    };
  }

  /** A stored weight's shape, for builders that read layer widths from the file. */
  shape(layer: string, weight: string): readonly number[] {
    const stored = this.file.layer(this.resolve(layer)).get(weight);
    if (!stored) throw new Error(`${this.file.name}: layer "${layer}" has no "${weight}"`);
    return stored.shape;
  }

  /** The file's `model_config` (whole saved models only). */
  get modelConfig(): unknown {
    return this.file.modelConfig;
  }

  /** Whether the file has weights for this (logical or real) layer name. */
  has(layer: string): boolean {
    try {
      return this.file.weightedLayers.includes(this.resolve(layer));
    } catch {
      return false;
    }
  }

  private resolve(layer: string): string {
    if (layer === LOGICAL_LAYERS.lstm1 || layer === LOGICAL_LAYERS.lstm2) {
      const found = this.lstms[layer === LOGICAL_LAYERS.lstm1 ? 0 : 1];
      if (!found) throw new Error(`${this.file.name}: expected two LSTM layers, found ${this.lstms.length}`);
      return found;
    }
    if (layer === LOGICAL_LAYERS.backboneProbs) {
      if (!this.dense7) throw new Error(`${this.file.name}: no Dense layer with 7 units (the emotion classifier)`);
      return this.dense7;
    }
    return layer;
  }

  private get(layer: string, weight: string, shape: readonly number[]): Float32Array {
    const stored: StoredWeight | undefined = this.file.layer(layer).get(weight);
    if (!stored) throw new Error(`${this.file.name}: layer "${layer}" has no "${weight}" weight`);
    if (stored.shape.length !== shape.length || stored.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.file.name}: layer "${layer}" ${weight} has shape [${stored.shape.join(',')}], expected [${shape.join(',')}]`);
    }
    return stored.data;
  }
}

/** 32-bit FNV-1a: a stable seed from a string. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast, well-mixed PRNG; returns uniforms in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
