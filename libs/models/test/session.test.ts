// ModelSession lives in @emostream/shared; tested here where models can be built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelSession, ModelSessionError } from '@emostream/vision';
import { tinyBackbone } from './helpers/tiny-pack.js';

function recordingLogger() {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (_: object, msg: string) => void warnings.push(msg), info: () => {} } };
}

test('reports inputs and outputs with -1 for the dynamic batch and runs any batch size', async () => {
  const session = await ModelSession.create<'input', 'features' | 'probs'>(tinyBackbone(), { intraOpThreads: 1 });
  assert.deepEqual(session.inputs, [{ name: 'input', dtype: 'float32', shape: [-1, 224, 224, 3] }]);
  assert.deepEqual(session.outputs.map((o) => o.name), ['features', 'probs']);
  for (const n of [1, 3]) {
    const out = await session.run({ input: { data: new Float32Array(n * 224 * 224 * 3), dims: [n, 224, 224, 3] } });
    assert.deepEqual(out.features.dims, [n, 512]);
    assert.deepEqual(out.probs.dims, [n, 7]);
  }
  await session.release();
});

test('falls back to CPU with a warning when CUDA cannot be loaded', async () => {
  const { warnings, logger } = recordingLogger();
  const session = await ModelSession.create(tinyBackbone(), { executionProvider: 'cuda' }, { logger });
  // This machine has no CUDA binaries; on a GPU node the provider would stay 'cuda'.
  if (session.executionProvider === 'cpu') assert.deepEqual(warnings, ['CUDA execution provider unavailable; falling back to CPU']);
  else assert.deepEqual(warnings, []);
  await session.release();
});

test('rejects an input of the wrong shape with a message naming the model and input', async () => {
  const session = await ModelSession.create<'input', string>(tinyBackbone(), {}, { label: 'tiny/backbone' });
  await assert.rejects(
    session.run({ input: { data: new Float32Array(3 * 224 * 224), dims: [1, 3, 224, 224] } }),
    (e: unknown) => e instanceof ModelSessionError && /model tiny\/backbone: input "input" has shape \[1,3,224,224\], the model expects \[-1,224,224,3\]/.test(e.message),
  );
  await session.release();
});

test('rejects bytes that are not an ONNX model', async () => {
  await assert.rejects(ModelSession.create(new Uint8Array([1, 2, 3]), {}, { label: 'junk' }), /model junk: onnxruntime cannot load it/);
});
