import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPack } from '@emostream/vision';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';
import { importUserOnnx } from '../src/user-onnx.js';
import { tinyBackbone, tinyTemporal } from './helpers/tiny-pack.js';

/** An NCHW backbone stand-in (like a TorchScript conversion) with a fixed or dynamic batch. */
function nchwBackbone(batch: number | string = 'batch'): Uint8Array {
  const g = new OnnxGraphBuilder('nchw');
  const x = g.addInput('image', 'float32', [batch, 3, 224, 224]);
  const mean = g.op('ReduceMean', [x], { axes: [2, 3], keepdims: 0 });
  const f = g.op('Gemm', [mean, g.addInitializer('w1', new Float32Array(3 * 512).fill(0.01), [3, 512])], {}, 'emb');
  g.op('Gemm', [f, g.addInitializer('w2', new Float32Array(512 * 7), [512, 7])], {}, 'logits');
  g.addOutput('emb', 'float32', [batch, 512]);
  g.addOutput('logits', 'float32', [batch, 7]);
  return g.toBytes();
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-user-onnx-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("a user's NHWC backbone and LSTM with matching signatures become a loadable pack", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'b.onnx'), tinyBackbone());
  await writeFile(join(dir, 't.onnx'), tinyTemporal());
  const manifest = await importUserOnnx({ name: 'mine', licence: 'mine', backbone: join(dir, 'b.onnx'), temporal: join(dir, 't.onnx'), out: join(dir, 'pack') });
  assert.equal(manifest.models.backbone.input.layout, 'NHWC');
  assert.equal(manifest.models.temporal?.windowLength, 10);
  const pack = await loadPack(join(dir, 'pack'));
  await Promise.all(Object.values(pack.sessions).map((s) => s.release()));
});

test('an NCHW backbone is recognised and its outputs told apart by shape', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'b.onnx'), nchwBackbone());
  const manifest = await importUserOnnx({ name: 'torch', licence: 'x', backbone: join(dir, 'b.onnx'), out: join(dir, 'pack') });
  assert.equal(manifest.models.backbone.input.layout, 'NCHW');
  assert.equal(manifest.models.backbone.outputs.features.name, 'emb');
  assert.equal(manifest.models.backbone.outputs.probs.name, 'logits');
});

test('a backbone with a fixed batch is refused with the reason', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'b.onnx'), nchwBackbone(1));
  await assert.rejects(importUserOnnx({ name: 'x', licence: 'x', backbone: join(dir, 'b.onnx'), out: join(dir, 'pack') }), /b\.onnx: "image" has a fixed batch of 1; .* must be dynamic/);
});

test('a temporal model given as the backbone is refused, naming the expected input', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 't.onnx'), tinyTemporal());
  await assert.rejects(importUserOnnx({ name: 'x', licence: 'x', backbone: join(dir, 't.onnx'), out: join(dir, 'pack') }), /t\.onnx: backbone input "window" is float32 \[-1,10,512\]; expected float32 \[-1,H,W,3\] or \[-1,3,H,W\]/);
});
