import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAgreementHolds, measureAgreement, type BackboneOutputs } from '../src/quantize/agreement.js';
import { ensureQuantizeVenv } from '../src/quantize/python-env.js';
import { selectCrops, sourceFiles, SHIPPED } from '../src/quantize/crops.js';
import { runModelsCli } from '../src/cli.js';

const outputs = (rows: [number[], number[]][]): BackboneOutputs => ({
  probs: rows.map(([p]) => Float32Array.from(p)),
  features: rows.map(([, f]) => Float32Array.from(f)),
});

test('agreement: top-1 share, features error against the face-to-face spread, largest probability error', () => {
  const reference = outputs([
    [[0.9, 0.1], [0, 0]],
    [[0.2, 0.8], [3, 4]],
    [[0.6, 0.4], [6, 8]],
  ]);
  const same = measureAgreement(reference, reference);
  assert.equal(same.top1, 1);
  assert.equal(same.embeddingError, 0);
  // Pairwise distances 5, 10, 5: spread 20/3.
  assert.ok(Math.abs(same.faceSpread - 20 / 3) < 1e-9);

  const derived = outputs([
    [[0.9, 0.1], [0, 0]],
    [[0.2, 0.8], [3, 4]],
    [[0.4, 0.6], [6, 9]], // label flipped, features 1 away
  ]);
  const measured = measureAgreement(reference, derived);
  assert.equal(measured.top1Crops, 2);
  assert.ok(Math.abs(measured.top1 - 2 / 3) < 1e-9);
  assert.ok(Math.abs(measured.embeddingError - 1 / 3) < 1e-6);
  assert.ok(Math.abs(measured.relativeEmbeddingError - 1 / 3 / (20 / 3)) < 1e-6);
  assert.ok(Math.abs(measured.maxProbabilityError - 0.2) < 1e-6);

  assertAgreementHolds(measured, measured);
  assertAgreementHolds(measured, same); // better than recorded is fine
  assert.throws(() => assertAgreementHolds(same, measured), /less than its manifest records: top-1 agreement 66\.7 % \(2\/3\) < recorded 100\.0 % \(3\/3\); relative embedding error/);
});

test('held-out crops are every third one, in order', () => {
  const set = { data: Float32Array.from([0, 1, 2, 3, 4, 5, 6]), count: 7, shape: [1], origins: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
  const held = selectCrops(set, (i) => i % 3 === 2);
  assert.deepEqual([...held.data], [2, 5]);
  assert.deepEqual(held.origins, ['c', 'f']);
});

test('the shipped calibration set is the repository test media: six CREMA-D clips and four Intel GIFs', () => {
  const files = sourceFiles(SHIPPED).map((f) => f.split('/').slice(-2).join('/'));
  assert.equal(files.filter((f) => f.startsWith('labelled/') && f.endsWith('.flv')).length, 6);
  assert.equal(files.filter((f) => f.startsWith('scenes/') && f.endsWith('.gif')).length, 4);
  assert.throws(() => sourceFiles('/nonexistent/footage.mp4'), /calibration source \/nonexistent\/footage\.mp4 does not exist/);
});

test('quantizing without a usable Python fails loudly, naming what to install', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'emo-quantize-venv-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const saved = process.env['EMOSTREAM_PYTHON'];
  process.env['EMOSTREAM_PYTHON'] = join(dir, 'no-such-python');
  t.after(() => (saved === undefined ? delete process.env['EMOSTREAM_PYTHON'] : (process.env['EMOSTREAM_PYTHON'] = saved)));
  assert.throws(() => ensureQuantizeVenv(() => {}, join(dir, 'venv')), /needs Python 3 with its venv and ensurepip modules .* cannot be run .*apt-get install python3 python3-venv/);
  assert.equal(existsSync(join(dir, 'venv')), false);
});

test('models quantize refuses bad options before any work', async () => {
  const err: string[] = [];
  const io = { out: () => {}, err: (l: string) => err.push(l) };
  assert.equal(await runModelsCli(['quantize', 'default', '--scheme', 's8s8'], io), 2);
  assert.match(err.join('\n'), /--scheme must be auto, u8s8, u8s8-reduce-range, u8u8, not s8s8/);
  assert.equal(await runModelsCli(['quantize', 'default', '--calibrate-method', 'entropy'], io), 2);
  assert.match(err.join('\n'), /--calibrate-method must be auto, minmax, percentile, not entropy/);
  assert.equal(await runModelsCli(['quantize', 'default', '--max-crops', '0'], io), 2);
  assert.match(err.join('\n'), /--max-crops must be a positive whole number/);
});
