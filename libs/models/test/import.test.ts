import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPack } from '@emostream/vision';
import { importEmoAffectNet } from '../src/emo-affectnet/import.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/keras/${name}`, import.meta.url));

test('importing a backbone and an LSTM gives one loadable, trained pack named after the LSTM corpus', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'emostream-import-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const packs = await importEmoAffectNet({ backbone: fixture('backbone_w16.h5'), temporal: [fixture('temporal_small.h5')], out });
  assert.equal(packs.length, 1);
  assert.equal(packs[0]!.manifest.name, 'emo-affectnet-temporal-small');
  assert.equal(packs[0]!.manifest.trained, true);
  assert.match(packs[0]!.manifest.licence, /scientific usage only/);
  const loaded = await loadPack(packs[0]!.dir);
  assert.deepEqual(loaded.manifest.models.backbone.outputs.features.shape, [-1, 64]);
  assert.deepEqual(loaded.manifest.models.temporal?.input.shape, [-1, 10, 64]);
  await Promise.all(Object.values(loaded.sessions).map((s) => s.release()));
});

test('importing a backbone alone gives a backbone-only pack', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'emostream-import-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const [pack] = await importEmoAffectNet({ backbone: fixture('backbone_w16.h5'), out });
  assert.equal(pack!.manifest.name, 'emo-affectnet-backbone-w16');
  assert.equal(pack!.manifest.models.temporal, undefined);
});

test('an LSTM that is passed as the backbone is rejected with a clear message', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'emostream-import-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  await assert.rejects(importEmoAffectNet({ backbone: fixture('temporal_small.h5'), out }), /temporal_small\.h5: .*not an EMO-AffectNet backbone|has no weights for layer/);
});
