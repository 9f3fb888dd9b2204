// `emo models quantize` end to end on the default pack (its trained expression model): the int8 pack
// it writes loads and runs in `emo run` by its path, unchanged, and its held-out agreement with
// float32, re-measured from the same footage, is at least what its manifest records.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { measureHeldOutAgreement, writeDefaultPack } from '@emostream/models';
import { PackManifestSchema, readPack, type PackManifest } from '@emostream/vision';

const emoBin = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const labelled = fileURLToPath(new URL('../../test/media/labelled', import.meta.url));
const emo = (args: string[], timeout = 600_000) =>
  spawnSync(process.execPath, [emoBin, ...args], { env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' }, encoding: 'utf8', timeout });

describe('emo models quantize', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'emo-quantized-'));
  after(() => rm(dir, { recursive: true, force: true }));
  const fp32 = path.join(dir, 'default');
  const int8 = path.join(dir, 'default-int8');
  await writeDefaultPack(fp32);

  it('writes an int8 pack whose manifest records the method, the candidates and the held-out agreement', async () => {
    // The CREMA-D clips of the shipped set (one face a frame), 45 crops: 30 calibrate, 15 held out;
    // every scheme with min/max calibration, so the choice among schemes is exercised.
    const made = emo([
      'models',
      'quantize',
      fp32,
      '--calibration',
      labelled,
      '--max-crops',
      '45',
      '--calibrate-method',
      'minmax',
      '--out',
      int8,
    ]);
    assert.equal(made.status, 0, made.stderr);
    assert.match(
      made.stdout,
      /quantized pack "default-int8" in .*: (u8s8|u8s8-reduce-range|u8u8) minmax, top-1 agreement with float32 [\d.]+ % \(\d+\/15 held-out crops\)/,
    );
    const { manifest, files } = await readPack(int8);
    const q = manifest.models.backbone.quantization!;
    assert.ok(q, 'the manifest records the quantization');
    assert.equal(manifest.models.backbone.file, 'face-expression.int8.onnx');
    assert.match(q.method, /quantize_static \(onnxruntime 1\.30\.0\)/);
    assert.deepEqual(q.opTypes, ['Conv']);
    assert.deepEqual(
      q.candidates.map((c) => c.scheme),
      ['u8s8', 'u8s8-reduce-range', 'u8u8'],
    );
    const best = Math.max(...q.candidates.map((c) => c.calibrationAgreement.top1Crops));
    assert.equal(
      q.candidates.find((c) => c.scheme === q.scheme)!.calibrationAgreement.top1Crops,
      best,
      'the scheme chosen has the most calibration crops in agreement',
    );
    assert.equal(q.calibration.crops, 30);
    assert.equal(q.heldOut.agreement.crops, 15);
    assert.match(q.measuredOn, /\(.*\)/);
    // The detectors and detection.json come along, unchanged.
    const source = await readPack(fp32);
    assert.equal(manifest.models.detector!.sha256, source.manifest.models.detector!.sha256);
    assert.ok(readFileSync(path.join(int8, 'detection.json')).equals(readFileSync(path.join(fp32, 'detection.json'))));
    assert.ok(readFileSync(files.backbone!).length < readFileSync(source.files.backbone!).length / 2, 'int8 weights are smaller');
  });

  it('agrees with float32 on the held-out crops at least as the manifest records, and fails when it records more', async () => {
    const measured = await measureHeldOutAgreement({ int8PackDir: int8, fp32PackDir: fp32, detectorPackDir: fp32 });
    const recorded = PackManifestSchema.parse(JSON.parse(readFileSync(path.join(int8, 'manifest.json'), 'utf8'))).models.backbone
      .quantization!;
    assert.ok(measured.top1Crops >= recorded.heldOut.agreement.top1Crops);

    // A manifest claiming more than the model does (no feature error at all) must fail the check.
    const claimed = path.join(dir, 'overclaimed');
    spawnSync('cp', ['-r', int8, claimed]);
    const manifest = JSON.parse(readFileSync(path.join(claimed, 'manifest.json'), 'utf8')) as PackManifest;
    manifest.models.backbone.quantization!.heldOut.agreement.relativeEmbeddingError = 0;
    writeFileSync(path.join(claimed, 'manifest.json'), JSON.stringify(manifest));
    await assert.rejects(
      measureHeldOutAgreement({ int8PackDir: claimed, fp32PackDir: fp32, detectorPackDir: fp32 }),
      /agrees with float32 less than its manifest records: relative embedding error [\d.]+ > recorded 0\.0000/,
    );
  });

  it('verifies like any pack, and verify names how its backbone was made', () => {
    const verified = emo(['models', 'verify', int8]);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(
      verified.stdout,
      /backbone: int8 \((u8s8|u8s8-reduce-range|u8u8), minmax calibration\) from pack "default"; top-1 agreement with float32 [\d.]+ % \(\d+\/15 held-out crops\)/,
    );
    assert.match(verified.stdout, /verify: ok/);
  });

  it('runs in emo run by its path, unchanged', () => {
    const out = path.join(dir, 'run');
    const run = emo([
      'run',
      path.join(labelled, 'cremad_1001_DFA_happy.flv'),
      '--pack',
      int8,
      '--detector-pack',
      int8,
      '--out',
      out,
      '--no-video',
      '--json',
    ]);
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { faces: number };
    assert.ok(summary.faces >= 10, `faces embedded: ${summary.faces}`);
    const csv = readFileSync(path.join(out, 'cremad_1001_DFA_happy.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'frame,Neutral,Happiness,Sadness,Surprise,Fear,Disgust,Anger,track');
    assert.equal(csv.length - 1, 56, 'one row per frame of the 56-frame clip (one face)');
  });
});
