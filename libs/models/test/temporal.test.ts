import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import { buildTemporal, kerasBiasToOnnx, kerasGatesToOnnx, type TemporalSpec } from '../src/emo-affectnet/temporal.js';
import { SeededWeightSource, type LstmWeights, type WeightSource } from '../src/emo-affectnet/weights.js';
import { maxAbsDiff } from './helpers/formula-input.js';

test('Keras gate order i,f,c,o becomes ONNX i,o,f,c, transposed to [4u, rows]', () => {
  // rows = 1, units = 1: columns are the gates i, f, c, o.
  assert.deepEqual(Array.from(kerasGatesToOnnx(Float32Array.from([10, 20, 30, 40]), 1, 1)), [10, 40, 20, 30]);
  // rows = 2, units = 1: row r, gate g → value 10·g + r.
  const keras = Float32Array.from([0, 10, 20, 30, 1, 11, 21, 31]);
  assert.deepEqual(Array.from(kerasGatesToOnnx(keras, 2, 1)), [0, 1, 30, 31, 10, 11, 20, 21]);
  assert.deepEqual(Array.from(kerasBiasToOnnx(Float32Array.from([1, 2, 3, 4]), 1)), [1, 4, 2, 3, 0, 0, 0, 0]);
});

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Keras's LSTM equations, Keras gate order, one batch row; masked steps keep the state. */
function kerasLstm(x: Float32Array[], mask: boolean[], w: LstmWeights, inputs: number, units: number): number[][] {
  let h = new Array<number>(units).fill(0);
  let c = new Array<number>(units).fill(0);
  const outputs: number[][] = [];
  x.forEach((xt, t) => {
    if (mask[t]) {
      const z = new Array<number>(4 * units).fill(0).map((_, k) => {
        let s = w.bias[k]!;
        for (let r = 0; r < inputs; r++) s += xt[r]! * w.kernel[r * 4 * units + k]!;
        for (let r = 0; r < units; r++) s += h[r]! * w.recurrentKernel[r * 4 * units + k]!;
        return s;
      });
      const gate = (g: number, j: number) => z[g * units + j]!;
      c = c.map((cj, j) => sigmoid(gate(1, j)) * cj + sigmoid(gate(0, j)) * Math.tanh(gate(2, j)));
      h = c.map((cj, j) => sigmoid(gate(3, j)) * Math.tanh(cj));
    }
    outputs.push(h);
  });
  return outputs;
}

function reference(window: Float32Array, spec: TemporalSpec, weights: WeightSource, useMask: boolean): number[] {
  const steps = Array.from({ length: spec.window }, (_, t) => window.subarray(t * spec.features, (t + 1) * spec.features));
  const mask = steps.map((s) => !useMask || s.some((v) => v !== 0));
  const l1 = kerasLstm(steps, mask, weights.lstm('lstm1', spec.features, spec.hidden1), spec.features, spec.hidden1);
  const l2 = kerasLstm(l1.map((h) => Float32Array.from(h)), mask, weights.lstm('lstm2', spec.hidden1, spec.hidden2), spec.hidden1, spec.hidden2);
  const last = l2[l2.length - 1]!;
  const { kernel, bias } = weights.dense('probs', spec.hidden2, spec.classes);
  const logits = Array.from({ length: spec.classes }, (_, k) => last.reduce((s, v, r) => s + v * kernel[r * spec.classes + k]!, bias[k]!));
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Seeded weights with non-zero biases, so the bias mapping is exercised too. */
class BiasedSeeded extends SeededWeightSource {
  override lstm(layer: string, inputs: number, units: number): LstmWeights {
    const w = super.lstm(layer, inputs, units);
    return { ...w, bias: w.bias.map((_, k) => Math.sin(k) * 0.5) };
  }
  override dense(layer: string, inputs: number, units: number) {
    const d = super.dense(layer, inputs, units);
    return { ...d, bias: d.bias.map((_, k) => k * 0.1) };
  }
}

const SPEC: TemporalSpec = { window: 10, features: 12, hidden1: 8, hidden2: 5, classes: 7 };

test('the ONNX LSTM graph agrees with a step-by-step Keras LSTM in plain TypeScript', async () => {
  const weights = new BiasedSeeded(7);
  const session = await ort.InferenceSession.create(buildTemporal(weights, SPEC));
  const window = Float32Array.from({ length: SPEC.window * SPEC.features }, (_, i) => Math.sin(i * 0.37));
  const out = await session.run({ window: new ort.Tensor('float32', window, [1, SPEC.window, SPEC.features]) });
  assert.ok(maxAbsDiff(out['probs']!.data as Float32Array, reference(window, SPEC, weights, true)) < 1e-5);
});

test('an all-zero step is skipped like Keras Masking(0), wherever it is in the window', async () => {
  const weights = new BiasedSeeded(7);
  const session = await ort.InferenceSession.create(buildTemporal(weights, SPEC));
  for (const zeroSteps of [[0, 1], [4], [9], [3, 4, 8]]) {
    const window = Float32Array.from({ length: SPEC.window * SPEC.features }, (_, i) => Math.cos(i * 0.11));
    for (const t of zeroSteps) window.fill(0, t * SPEC.features, (t + 1) * SPEC.features);
    const out = Array.from((await session.run({ window: new ort.Tensor('float32', window, [1, SPEC.window, SPEC.features]) }))['probs']!.data as Float32Array);
    assert.ok(maxAbsDiff(out, reference(window, SPEC, weights, true)) < 1e-5, `masked steps ${zeroSteps.join()}`);
    // And masking matters: treating the zeros as inputs gives a different answer.
    assert.ok(maxAbsDiff(out, reference(window, SPEC, weights, false)) > 1e-4, `zero steps ${zeroSteps.join()} made no difference`);
  }
});

test('the temporal graph takes any batch size', async () => {
  const session = await ort.InferenceSession.create(buildTemporal(new SeededWeightSource(1), SPEC));
  for (const n of [1, 4]) {
    const out = await session.run({ window: new ort.Tensor('float32', new Float32Array(n * SPEC.window * SPEC.features).fill(0.5), [n, SPEC.window, SPEC.features]) });
    assert.deepEqual(out['probs']!.dims, [n, 7]);
  }
});
