// The synthetic pack: the full-size EMO-AffectNet architecture with seeded weights.
// Building it takes ~5 s and running ResNet50 a few hundred ms per face on 2 cores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPack, type LoadedPack, type PackManifest } from '@emostream/vision';
import { buildSyntheticPack } from '../src/synthetic.js';
import { decodeModel } from '../src/onnx/builder.js';
import { buildBackbone } from '../src/emo-affectnet/backbone.js';
import { SeededWeightSource } from '../src/emo-affectnet/weights.js';
import { readFile } from 'node:fs/promises';

const dirs: string[] = [];
async function buildInTemp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-synthetic-'));
  dirs.push(dir);
  await buildSyntheticPack(dir);
  return dir;
}
test.after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

let pack: LoadedPack | undefined;
test.after(async () => {
  await Promise.all(Object.values(pack?.sessions ?? {}).map((s) => s.release()));
});

test('the synthetic pack builds, loads, and says it is not trained', async () => {
  pack = await loadPack(await buildInTemp());
  assert.equal(pack.manifest.name, 'synthetic');
  assert.equal(pack.manifest.trained, false);
  assert.deepEqual(pack.manifest.models.backbone.input.shape, [-1, 224, 224, 3]);
  assert.equal(pack.manifest.models.temporal?.windowLength, 10);
});

for (const n of [1, 3]) {
  test(`the synthetic backbone gives ${n}×512 non-negative features and ${n}×7 probabilities summing to 1`, async () => {
    assert.ok(pack, 'pack was not loaded');
    const input = Float32Array.from({ length: n * 224 * 224 * 3 }, (_, i) => ((i * 7919) % 256) - 128);
    const out = await pack.sessions.backbone!.run({ input: { data: input, dims: [n, 224, 224, 3] } });
    assert.deepEqual(out['features']!.dims, [n, 512]);
    assert.deepEqual(out['probs']!.dims, [n, 7]);
    const features = out['features']!.data;
    assert.ok(features.every((v) => Number.isFinite(v) && v >= 0), 'features must be finite ReLU outputs');
    assert.ok(features.some((v) => v > 0), 'features are all zero: activations died');
    for (let row = 0; row < n; row++) {
      const probs = out['probs']!.data.subarray(row * 7, row * 7 + 7);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
    }
  });
}

test('the synthetic temporal model maps a 10×512 window to 7 probabilities', async () => {
  assert.ok(pack, 'pack was not loaded');
  const out = await pack.sessions.temporal!.run({ window: { data: new Float32Array(2 * 10 * 512).fill(0.3), dims: [2, 10, 512] } });
  assert.deepEqual(out['probs']!.dims, [2, 7]);
});

test('building the synthetic pack twice gives byte-identical models (same sha256)', async () => {
  const first = JSON.parse(await readFile(join(dirs[0]!, 'manifest.json'), 'utf8')) as PackManifest;
  const second = JSON.parse(await readFile(join(await buildInTemp(), 'manifest.json'), 'utf8')) as PackManifest;
  assert.equal(second.models.backbone.sha256, first.models.backbone.sha256);
  assert.equal(second.models.temporal?.sha256, first.models.temporal?.sha256);
});

test('the backbone graph has every Keras layer of ResNet50 as a named node: 53 convs, each with its BN', () => {
  const model = decodeModel(buildBackbone(new SeededWeightSource(1)));
  const nodes = model.graph!.node!;
  const convs = nodes.filter((n) => n.opType === 'Conv').map((n) => n.name);
  assert.equal(convs.length, 53);
  for (const name of ['conv1_7x7_s2', 'conv2_1_1x1_proj', 'conv3_4_3x3', 'conv4_6_1x1_increase', 'conv5_3_1x1_reduce']) {
    assert.ok(convs.includes(name), `missing ${name}`);
    assert.ok(nodes.some((n) => n.opType === 'BatchNormalization' && n.name === `${name}_bn`), `missing ${name}_bn`);
  }
  const stem = nodes.find((n) => n.name === 'conv1_7x7_s2')!;
  // TF "same" for 7×7 stride 2 on 224: 2 before, 3 after.
  assert.deepEqual(stem.attribute!.find((a) => a.name === 'pads')!.ints!.map(Number), [2, 2, 3, 3]);
});
