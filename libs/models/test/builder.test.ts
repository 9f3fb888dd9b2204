import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import ort from 'onnxruntime-node';
import { OnnxGraphBuilder, attr, decodeModel } from '../src/onnx/builder.js';
import { hwioToOihw, tfSamePads, tfValidPads } from '../src/onnx/tf-layout.js';

function tinyModel(): Uint8Array {
  const g = new OnnxGraphBuilder('tiny');
  const x = g.addInput('x', 'float32', ['N', 2]);
  const w = g.addInitializer('w', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const b = g.addInitializer('b', Float32Array.from([0.5, -100, 0]), [3]);
  const y = g.op('Gemm', [x, w, b], { alpha: attr.float(1), transB: 0 }, 'y');
  g.op('Relu', [y], {}, 'relu');
  g.addOutput('relu', 'float32', ['N', 3]);
  return g.toBytes({ metadata: { purpose: 'test' } });
}

test('a built model round-trips through protobuf with its inputs, outputs, initializers and metadata', () => {
  const model = decodeModel(tinyModel());
  assert.equal(model.graph?.input?.[0]?.name, 'x');
  assert.equal(model.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimParam, 'N');
  assert.equal(model.graph?.output?.[0]?.name, 'relu');
  assert.deepEqual(model.graph?.initializer?.map((t) => t.name), ['w', 'b']);
  assert.equal(Number(model.opsetImport?.[0]?.version), 17);
  assert.equal(model.metadataProps?.[0]?.value, 'test');
});

test('a built model runs in onnxruntime with a dynamic batch', async () => {
  const session = await ort.InferenceSession.create(tinyModel());
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1, 2, 0, 0, 0]), [3, 2]) });
  assert.deepEqual(out['relu']!.dims, [3, 3]);
  assert.deepEqual(Array.from(out['relu']!.data as Float32Array), [5.5, 0, 9, 2.5, 0, 6, 0.5, 0, 0]);
});

test('serialisation is deterministic', () => {
  const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  assert.equal(hash(tinyModel()), hash(tinyModel()));
});

test('rejects a float passed as an int attribute, an undefined input and a duplicate name', () => {
  const g = new OnnxGraphBuilder('bad');
  const x = g.addInput('x', 'float32', [1]);
  assert.throws(() => g.op('LeakyRelu', [x], { alpha: 0.1 }), /wrap floats with attr.float/);
  assert.throws(() => g.op('Relu', ['nope']), /uses "nope", which nothing defines yet/);
  assert.throws(() => g.addInput('x', 'float32', [1]), /defined twice/);
  assert.throws(() => g.addInitializer('w', new Float32Array(3), [2, 2]), /has 3 values but dims \[2,2\] need 4/);
});

test('TF "same" padding puts the odd extra pixel at the end', () => {
  assert.deepEqual(tfSamePads(224, 7, 2), { begin: 2, end: 3, outSize: 112 });
  assert.deepEqual(tfSamePads(56, 3, 1), { begin: 1, end: 1, outSize: 56 });
  assert.deepEqual(tfSamePads(5, 2, 2), { begin: 0, end: 1, outSize: 3 });
  assert.deepEqual(tfValidPads(112, 3, 2), { begin: 0, end: 0, outSize: 55 });
});

test('HWIO kernels become OIHW', () => {
  // kh=1, kw=2, cin=1, cout=2: HWIO values [x0o0, x0o1, x1o0, x1o1]
  assert.deepEqual(Array.from(hwioToOihw(Float32Array.from([1, 2, 3, 4]), 1, 2, 1, 2)), [1, 3, 2, 4]);
});

test('auto-named nodes get distinct names (regression: two LSTM nodes were both named "LSTM")', async () => {
  const g = new OnnxGraphBuilder('names');
  const x = g.addInput('x', 'float32', [1]);
  const [a] = g.node('Relu', [x]);
  const [b] = g.node('Relu', [a!]);
  g.addOutput(b!, 'float32', [1]);
  const names = decodeModel(g.toBytes()).graph!.node!.map((n) => n.name);
  assert.equal(new Set(names).size, 2);
  await ort.InferenceSession.create(g.toBytes());
  assert.throws(() => g.node('Relu', [x], {}, 1, names[0]!), /node name "Relu" is used twice/);
});
