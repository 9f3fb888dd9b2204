/**
 * EMO-AffectNet's temporal model as an ONNX graph:
 * Masking(0) → LSTM 512 (return sequences) → LSTM 256 → Dense 7 softmax (REFERENCE.md).
 *
 * input  `window` [N, 10, 512] float32 — ten backbone feature vectors, oldest first
 * output `probs`  [N, 7]
 *
 * Masking. Keras's Masking(0) marks a time step whose features are all exactly 0; an LSTM then
 * skips it: state and output stay what they were (a leading masked step leaves the zero state).
 * ONNX's LSTM only knows `sequence_lens` (trailing padding per batch row), which cannot express
 * a masked step in the middle. So each layer is unrolled over the (fixed) window: one ONNX LSTM
 * node per step, seeded with the previous step's state, followed by `Where(mask, new, old)` for
 * h and c. This reproduces Keras exactly for any mask; the cost is 2 × 10 small nodes instead of 2.
 *
 * Gate layout. Keras stores kernel [in, 4u] and recurrent_kernel [u, 4u] with gates in the order
 * i, f, c, o and one bias [4u]. ONNX wants W [1, 4u, in] and R [1, 4u, u] (transposed) with gates
 * i, o, f, c, and B [1, 8u] = input bias then recurrent bias (Keras has none: zeros).
 * Activations are ONNX's defaults (sigmoid, tanh, tanh), which are Keras 2's LSTM defaults.
 * Dropout is training-only and left out.
 *
 * The PyTorch port (`LSTMPyTorch`) has no Masking layer and a second (recurrent) bias: built with
 * `masking: false`, each layer is one ONNX LSTM node over the whole window, with both biases.
 */
import { OnnxGraphBuilder } from '../onnx/builder.js';
import { KerasWeightSource, LOGICAL_LAYERS, type LstmWeights, type WeightSource } from './weights.js';

export const TEMPORAL_INPUT = 'window';
export const TEMPORAL_PROBS = 'probs';

/** Sizes; the real model is {@link TEMPORAL_SPEC}, the parity fixture a smaller one. */
export interface TemporalSpec {
  readonly window: number;
  readonly features: number;
  readonly hidden1: number;
  readonly hidden2: number;
  readonly classes: number;
}
export const TEMPORAL_SPEC: TemporalSpec = { window: 10, features: 512, hidden1: 512, hidden2: 256, classes: 7 };

/** Reads the sizes from a Keras file (window length from its config when present, else 10). */
export function temporalSpecFromKeras(source: KerasWeightSource, window = TEMPORAL_SPEC.window): TemporalSpec {
  const [features, gates1] = source.shape(LOGICAL_LAYERS.lstm1, 'kernel');
  const [, gates2] = source.shape(LOGICAL_LAYERS.lstm2, 'kernel');
  return {
    window,
    features: features!,
    hidden1: gates1! / 4,
    hidden2: gates2! / 4,
    classes: source.shape(LOGICAL_LAYERS.temporalProbs, 'kernel')[1]!,
  };
}

/** Keras gate block index for each ONNX gate position (ONNX order i, o, f, c; Keras i, f, c, o). */
export const ONNX_GATE_FROM_KERAS = [0, 3, 1, 2] as const;

/**
 * Keras `[rows, 4u]` (gates i,f,c,o along columns) → ONNX `[4u, rows]` (gates i,o,f,c along rows).
 * Used for both kernel (rows = inputs) and recurrent kernel (rows = units).
 */
export function kerasGatesToOnnx(matrix: Float32Array, rows: number, units: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let onnxGate = 0; onnxGate < 4; onnxGate++) {
    const kerasGate = ONNX_GATE_FROM_KERAS[onnxGate]!;
    for (let j = 0; j < units; j++)
      for (let r = 0; r < rows; r++) {
        out[(onnxGate * units + j) * rows + r] = matrix[r * 4 * units + kerasGate * units + j]!;
      }
  }
  return out;
}

/**
 * Keras bias [4u] (i,f,c,o) → ONNX B [8u]: input bias (i,o,f,c) then the recurrent bias, which is
 * zero for Keras and PyTorch's `bias_hh` for the PyTorch port.
 */
export function kerasBiasToOnnx(bias: Float32Array, units: number, recurrentBias?: Float32Array): Float32Array {
  const out = new Float32Array(8 * units);
  for (let onnxGate = 0; onnxGate < 4; onnxGate++) {
    const from = ONNX_GATE_FROM_KERAS[onnxGate]! * units;
    out.set(bias.subarray(from, from + units), onnxGate * units);
    if (recurrentBias) out.set(recurrentBias.subarray(from, from + units), (4 + onnxGate) * units);
  }
  return out;
}

export interface TemporalBuildOptions {
  /**
   * Keras's `Masking(0)` (the authors' Keras model): skip all-zero steps, which needs the unrolled
   * graph. The PyTorch port (`LSTMPyTorch`) has no masking: every step counts, and each LSTM is
   * one ONNX node. Default true.
   */
  readonly masking?: boolean;
}

/** Builds the temporal graph and returns the serialised model. */
export function buildTemporal(weights: WeightSource, spec: TemporalSpec = TEMPORAL_SPEC, options: TemporalBuildOptions = {}): Uint8Array {
  const g = new OnnxGraphBuilder('emo_affectnet_temporal');
  const input = g.addInput(TEMPORAL_INPUT, 'float32', ['N', spec.window, spec.features]);

  // Time-major [T, N, F], as ONNX's LSTM wants (onnxruntime has no batch-major LSTM).
  const timeMajor = g.op('Transpose', [input], { perm: [1, 0, 2] }, 'window_time_major');
  if (options.masking === false) return finishTemporal(g, weights, spec, unmaskedLstms(g, weights, spec, timeMajor), 'no masking (PyTorch LSTMPyTorch)');
  // Masking(0): a step is kept when any feature is non-zero. [T, N, 1], broadcast over units.
  const anyNonZero = g.op('ReduceMax', [g.op('Abs', [timeMajor], {}, 'window_abs')], { axes: [2], keepdims: 1 }, 'window_max_abs');
  const keep = g.op('Greater', [anyNonZero, g.addInitializer('zero', new Float32Array([0]), [])], {}, 'masking');
  const steps = splitSteps(g, timeMajor, spec.window, 'x');
  const keepSteps = splitSteps(g, keep, spec.window, 'keep');

  const layer1 = maskedLstm(g, 'lstm', steps, keepSteps, spec.features, spec.hidden1, weights.lstm(LOGICAL_LAYERS.lstm1, spec.features, spec.hidden1));
  const layer2 = maskedLstm(g, 'lstm_1', layer1, keepSteps, spec.hidden1, spec.hidden2, weights.lstm(LOGICAL_LAYERS.lstm2, spec.hidden1, spec.hidden2));
  const last = g.op('Squeeze', [layer2[layer2.length - 1]!, g.addInt64s('axis0', [0])], {}, 'lstm_1_last');
  return finishTemporal(g, weights, spec, last, 'Masking(0), unrolled for exact masking');
}

/** Dense 7 + softmax on the last step's h [N, hidden2], then the model's bytes. */
function finishTemporal(g: OnnxGraphBuilder, weights: WeightSource, spec: TemporalSpec, last: string, masking: string): Uint8Array {
  const { kernel, bias } = weights.dense(LOGICAL_LAYERS.temporalProbs, spec.hidden2, spec.classes);
  const logits = g.op(
    'Gemm',
    [last, g.addInitializer('dense/kernel', kernel, [spec.hidden2, spec.classes]), g.addInitializer('dense/bias', bias, [spec.classes])],
    {},
    'dense',
  );
  g.op('Softmax', [logits], { axis: 1 }, TEMPORAL_PROBS);
  g.addOutput(TEMPORAL_PROBS, 'float32', ['N', spec.classes]);
  return g.toBytes({
    docString: `EMO-AffectNet temporal model: LSTM → LSTM → Dense 7 softmax; ${masking}`,
    metadata: { weights: weights.description, architecture: 'emo-affectnet-temporal', sizes: JSON.stringify(spec) },
  });
}

/** Two plain ONNX LSTM nodes over the whole window (PyTorch's semantics); returns the last h [N, hidden2]. */
function unmaskedLstms(g: OnnxGraphBuilder, weights: WeightSource, spec: TemporalSpec, timeMajor: string): string {
  const layer = (name: string, x: string, logical: string, inputs: number, units: number) => {
    const w = weights.lstm(logical, inputs, units);
    const W = g.addInitializer(`${name}/W`, kerasGatesToOnnx(w.kernel, inputs, units), [1, 4 * units, inputs]);
    const R = g.addInitializer(`${name}/R`, kerasGatesToOnnx(w.recurrentKernel, units, units), [1, 4 * units, units]);
    const B = g.addInitializer(`${name}/B`, kerasBiasToOnnx(w.bias, units, w.recurrentBias), [1, 8 * units]);
    return g.node('LSTM', [x, W, R, B], { hidden_size: units }, [`${name}_y`, `${name}_h`, `${name}_c`], name);
  };
  // Y is [T, 1 direction, N, units]; the next layer reads [T, N, units].
  const [y1] = layer('lstm', timeMajor, LOGICAL_LAYERS.lstm1, spec.features, spec.hidden1);
  const sequence = g.op('Squeeze', [y1!, g.addInt64s('axis1', [1])], {}, 'lstm_sequence');
  const [, h2] = layer('lstm_1', sequence, LOGICAL_LAYERS.lstm2, spec.hidden1, spec.hidden2);
  return g.op('Squeeze', [h2!, g.addInt64s('axis0', [0])], {}, 'lstm_1_last');
}

/** Splits [T, ...] into T values of shape [1, ...]. */
function splitSteps(g: OnnxGraphBuilder, x: string, count: number, prefix: string): string[] {
  // Opset 17 Split without a `split` input cuts into as many equal parts as it has outputs.
  const names = Array.from({ length: count }, (_, t) => `${prefix}_t${t}`);
  return g.node('Split', [x], { axis: 0 }, names, `${prefix}_split`);
}

/**
 * One Keras LSTM layer over masked steps; returns each step's output h [1, N, units].
 * Masked steps repeat the previous h (Keras's behaviour); the next layer skips them anyway.
 */
function maskedLstm(
  g: OnnxGraphBuilder,
  layer: string,
  steps: readonly string[],
  keep: readonly string[],
  inputs: number,
  units: number,
  weights: LstmWeights,
): string[] {
  const W = g.addInitializer(`${layer}/W`, kerasGatesToOnnx(weights.kernel, inputs, units), [1, 4 * units, inputs]);
  const R = g.addInitializer(`${layer}/R`, kerasGatesToOnnx(weights.recurrentKernel, units, units), [1, 4 * units, units]);
  const B = g.addInitializer(`${layer}/B`, kerasBiasToOnnx(weights.bias, units, weights.recurrentBias), [1, 8 * units]);

  // The zero initial state, [1, N, units] for the dynamic N: zeros shaped like one step's h.
  const first = g.node('LSTM', [steps[0]!, W, R, B], { hidden_size: units }, [`${layer}_t0_y`, `${layer}_t0_h`, `${layer}_t0_c`], `${layer}_t0`);
  const zeros = g.op('ConstantOfShape', [g.op('Shape', [first[1]!], {}, `${layer}_state_shape`)], {}, `${layer}_zero_state`);
  let h = g.op('Where', [keep[0]!, first[1]!, zeros], {}, `${layer}_t0_h_masked`);
  let c = g.op('Where', [keep[0]!, first[2]!, zeros], {}, `${layer}_t0_c_masked`);
  const outputs = [h];
  for (let t = 1; t < steps.length; t++) {
    const [, ht, ct] = g.node('LSTM', [steps[t]!, W, R, B, '', h, c], { hidden_size: units }, [`${layer}_t${t}_y`, `${layer}_t${t}_h`, `${layer}_t${t}_c`], `${layer}_t${t}`);
    h = g.op('Where', [keep[t]!, ht!, h], {}, `${layer}_t${t}_h_masked`);
    c = g.op('Where', [keep[t]!, ct!, c], {}, `${layer}_t${t}_c_masked`);
    outputs.push(h);
  }
  return outputs;
}
