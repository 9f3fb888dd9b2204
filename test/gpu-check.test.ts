// scripts/gpu-check.sh cannot run its GPU parts on a machine without a GPU; what can be checked here:
// the script parses, it refuses to go on without a working nvidia-smi (loudly, exit 1), and the
// benchmark it runs for the float32/float16/int8 backbones and the JPEG-decode ceiling runs on the
// CPU end to end (a small pack, a few faces: correctness, not speed).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeDefaultPack } from '@emostream/models';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = path.join(root, 'scripts', 'gpu-check.sh');

describe('scripts/gpu-check.sh', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'emo-gpu-check-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('parses', () => {
    const parsed = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
    assert.equal(parsed.status, 0, parsed.stderr);
  });

  it('fails at once, saying why, when nvidia-smi does not work', () => {
    const bin = path.join(dir, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(
      path.join(bin, 'nvidia-smi'),
      '#!/bin/sh\necho "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver." >&2\nexit 9\n',
    );
    chmodSync(path.join(bin, 'nvidia-smi'), 0o755);
    const run = spawnSync('bash', [script], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      timeout: 30_000,
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /gpu-check: nvidia-smi failed, so no usable GPU: NVIDIA-SMI has failed/);
  });

  it('runs its variants benchmark on the CPU: float32, float16, int8 and the JPEG-decode ceiling', async () => {
    const pack = path.join(dir, 'default');
    await writeDefaultPack(pack);
    const results = path.join(dir, 'variants.json');
    const env = {
      ...process.env,
      EMOSTREAM_LOG_LEVEL: 'fatal',
      BENCH_DEVICE: 'cpu',
      BENCH_VARIANTS_PACK: pack,
      BENCH_VARIANTS_DIR: path.join(dir, 'variants'),
      BENCH_CALIBRATION: path.join(root, 'test', 'media', 'labelled'),
      BENCH_MAX_CROPS: '24',
      BENCH_INT8_SCHEME: 'u8u8',
      BENCH_INT8_CALIBRATE_METHOD: 'minmax',
      BENCH_FACES: '8',
      BENCH_BATCH: '4',
      BENCH_JPEG_CROPS: '64',
      BENCH_RESULTS: results,
    };
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'backbone-variants.bench.ts')], {
      encoding: 'utf8',
      env,
      cwd: root,
      timeout: 600_000,
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const report = JSON.parse(readFileSync(results, 'utf8')) as {
      device: string;
      variants: { variant: string; facesPerSecond: number; maxProbabilityErrorVsFloat32: number }[];
      int8: { scheme: string; heldOut: { crops: number } };
      jpegCeiling: { oneAtATime: number; allCores: number };
    };
    assert.equal(report.device, 'cpu');
    assert.deepEqual(
      report.variants.map((v) => v.variant),
      ['float32', 'float16', 'int8 (u8u8, minmax)'],
    );
    for (const v of report.variants) assert.ok(v.facesPerSecond > 0, `${v.variant}: ${v.facesPerSecond} faces/s`);
    assert.equal(report.variants[0]!.maxProbabilityErrorVsFloat32, 0);
    // float16 computes the same model: its probabilities stay close to float32's.
    assert.ok(
      report.variants[1]!.maxProbabilityErrorVsFloat32 < 0.05,
      `float16 max |Δp| ${report.variants[1]!.maxProbabilityErrorVsFloat32}`,
    );
    assert.equal(report.int8.heldOut.crops, 8);
    assert.ok(report.jpegCeiling.oneAtATime > 0 && report.jpegCeiling.allCores > 0);
  });
});
