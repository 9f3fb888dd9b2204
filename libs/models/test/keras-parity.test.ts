// Fidelity to Keras: fixtures made by scripts/make_keras_fixtures.py (TensorFlow 2.21, tf-keras)
// are imported through our HDF5 reader and ONNX builders and run in onnxruntime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { readKerasWeights } from '../src/emo-affectnet/keras-h5.js';
import { KerasWeightSource } from '../src/emo-affectnet/weights.js';
import { RESNET50_SPEC, backboneSpecFromKeras, buildBackbone } from '../src/emo-affectnet/backbone.js';
import { buildTemporal, temporalSpecFromKeras } from '../src/emo-affectnet/temporal.js';
import { formulaInput, maxAbsDiff } from './helpers/formula-input.js';
import { FormulaWeightSource } from './helpers/formula-weights.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/keras/${name}`, import.meta.url));
/** A fixture of scripts/make_keras_fixtures.py: how the input was made, and what Keras computed from it. */
interface KerasFixture {
  input: { shape: number[]; salt: number; divide: number; zeroSteps: [number, number][] };
  features: number[][];
  probs: number[][];
}
const readJson = (name: string) => JSON.parse(readFileSync(fixture(name), 'utf8')) as KerasFixture;

test('the Keras backbone (full ResNet50 topology at 1/16 width) matches Keras within 1e-4 on features and probabilities', async (t) => {
  const source = new KerasWeightSource(await readKerasWeights(fixture('backbone_w16.h5')));
  const spec = backboneSpecFromKeras(source);
  const expected = readJson('backbone_w16.json');
  const session = await ort.InferenceSession.create(buildBackbone(source, spec));
  const [n, h, w, c] = expected.input.shape;
  const out = await session.run({ input: new ort.Tensor('float32', formulaInput(n! * h! * w! * c!, expected.input.salt), [n!, h!, w!, c!]) });
  const featuresError = maxAbsDiff(out['features']!.data as Float32Array, expected.features.flat());
  const probsError = maxAbsDiff(out['probs']!.data as Float32Array, expected.probs.flat());
  t.diagnostic(`max |ONNX − Keras|: features ${featuresError.toExponential(2)}, probs ${probsError.toExponential(2)}`);
  assert.ok(featuresError <= 1e-4, `features differ by ${featuresError}`);
  assert.ok(probsError <= 1e-4, `probs differ by ${probsError}`);
  await session.release();
});

test('the backbone widths and block counts are read from the h5 file', async () => {
  const source = new KerasWeightSource(await readKerasWeights(fixture('backbone_w16.h5')));
  const spec = backboneSpecFromKeras(source);
  assert.equal(spec.stem, 4);
  assert.deepEqual(spec.stages.map((s) => s.blocks), RESNET50_SPEC.stages.map((s) => s.blocks));
  assert.deepEqual(spec.stages.map((s) => s.filters), RESNET50_SPEC.stages.map((s) => s.filters.map((f) => f / 16)));
  assert.equal(spec.features, 64);
  assert.equal(spec.classes, 7);
});

test('the Keras LSTM model matches Keras within 1e-5, including masked (all-zero) steps', async (t) => {
  const source = new KerasWeightSource(await readKerasWeights(fixture('temporal_small.h5')));
  const spec = temporalSpecFromKeras(source);
  const expected = readJson('temporal_small.json');
  const [n, T, F] = expected.input.shape as [number, number, number];
  const window = formulaInput(n * T * F, expected.input.salt).map((v) => v / expected.input.divide);
  for (const [b, step] of expected.input.zeroSteps) window.fill(0, (b * T + step) * F, (b * T + step + 1) * F);
  const session = await ort.InferenceSession.create(buildTemporal(source, spec));
  const out = await session.run({ window: new ort.Tensor('float32', window, [n, T, F]) });
  const error = maxAbsDiff(out['probs']!.data as Float32Array, expected.probs.flat());
  t.diagnostic(`max |ONNX − Keras| on LSTM probabilities: ${error.toExponential(2)}`);
  assert.ok(error <= 1e-5, `LSTM output differs by ${error}`);
  await session.release();
});

test('a Keras file without the expected layer fails naming the file and the layer', async () => {
  const source = new KerasWeightSource(await readKerasWeights(fixture('temporal_small.h5')));
  assert.throws(() => buildBackbone(source), /temporal_small\.h5: has no weights for layer "conv1_7x7_s2"/);
});

test('a Keras file whose shapes do not fit the requested widths fails with both shapes', async () => {
  const source = new KerasWeightSource(await readKerasWeights(fixture('backbone_w16.h5')));
  assert.throws(() => buildBackbone(source, RESNET50_SPEC), /backbone_w16\.h5: layer "conv1_7x7_s2" kernel has shape \[7,7,3,4\], expected \[7,7,3,64\]/);
});

test('a missing h5 file is reported by name', async () => {
  await assert.rejects(readKerasWeights('/nonexistent/RAVDESS_with_config.h5'), /RAVDESS_with_config\.h5: file not found/);
});

// Full size, weights from a formula shared with the fixture script (no weights stored).
test('the full-size backbone (64…2048 channels, 512 features) matches Keras within 1e-4', async (t) => {
  const expected = readJson('backbone_full_formula.json');
  const session = await ort.InferenceSession.create(buildBackbone(new FormulaWeightSource(), RESNET50_SPEC));
  const out = await session.run({ input: new ort.Tensor('float32', formulaInput(2 * 224 * 224 * 3, expected.input.salt), [2, 224, 224, 3]) });
  const featuresError = maxAbsDiff(out['features']!.data as Float32Array, expected.features.flat());
  const probsError = maxAbsDiff(out['probs']!.data as Float32Array, expected.probs.flat());
  t.diagnostic(`full size, max |ONNX − Keras|: features ${featuresError.toExponential(2)}, probs ${probsError.toExponential(2)}`);
  assert.ok(featuresError <= 1e-4, `features differ by ${featuresError}`);
  assert.ok(probsError <= 1e-4, `probs differ by ${probsError}`);
  await session.release();
});

test('the full-size LSTM model (10×512 → 512 → 256 → 7) matches Keras within 1e-5, with masked steps', async (t) => {
  const expected = readJson('temporal_full_formula.json');
  const [n, T, F] = expected.input.shape as [number, number, number];
  const window = formulaInput(n * T * F, expected.input.salt).map((v) => v / expected.input.divide);
  for (const [b, step] of expected.input.zeroSteps) window.fill(0, (b * T + step) * F, (b * T + step + 1) * F);
  const session = await ort.InferenceSession.create(buildTemporal(new FormulaWeightSource()));
  const out = await session.run({ window: new ort.Tensor('float32', window, [n, T, F]) });
  const error = maxAbsDiff(out['probs']!.data as Float32Array, expected.probs.flat());
  t.diagnostic(`full size, max |ONNX − Keras| on LSTM probabilities: ${error.toExponential(2)}`);
  assert.ok(error <= 1e-5, `LSTM output differs by ${error}`);
  await session.release();
});

test('reads files written by older h5py/Keras: fixed-length string attributes, chunked layer_names', async () => {
  const modern = await readKerasWeights(fixture('temporal_small.h5'));
  const legacy = await readKerasWeights(fixture('temporal_small_legacy_attrs.h5'));
  assert.deepEqual(legacy.layerNames, modern.layerNames);
  assert.deepEqual(legacy.weightedLayers, ['lstm', 'lstm_1', 'dense_1']);
  assert.deepEqual(legacy.layer('lstm').get('recurrent_kernel')!.data, modern.layer('lstm').get('recurrent_kernel')!.data);
});

test('reads weights of layers nested inside a model that was used as a layer', async () => {
  const flat = await readKerasWeights(fixture('temporal_small.h5'));
  const nested = await readKerasWeights(fixture('temporal_small_nested.h5'));
  assert.deepEqual(nested.weightedLayers, ['lstm', 'lstm_1', 'dense_1']);
  assert.deepEqual(nested.layer('lstm_1').get('kernel')!.data, flat.layer('lstm_1').get('kernel')!.data);
  const source = new KerasWeightSource(nested);
  assert.deepEqual(temporalSpecFromKeras(source), temporalSpecFromKeras(new KerasWeightSource(flat)));
});
