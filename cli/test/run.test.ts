import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { EMOTION_LABELS, type EmotionEvent } from '@emostream/shared';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, sharedData, videoInfo } from '@emostream/shared/testing';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const happy = sharedData('labelled/cremad_1001_DFA_happy.flv');

function runEmo(args: string[]) {
  return spawnSync(process.execPath, [emo, 'run', ...args], { env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' }, encoding: 'utf8' });
}

describe('emo run (one process, no broker)', () => {
  it('writes the reference CSV with a row per video frame, the events, and names the predicted emotion', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-run-'));
    const result = runEmo([happy, '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    const summary = new RegExp(
      `cremad_1001_DFA_happy\\.flv: video emotion (${EMOTION_LABELS.join('|')}), mean emotion (${EMOTION_LABELS.join('|')}) — 10 faces, 1 track\\(s\\), 10 sampled of 56 frames`,
    );
    assert.match(result.stdout, summary);

    const csv = readFileSync(path.join(out, 'cremad_1001_DFA_happy.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], `frame,${EMOTION_LABELS.join(',')},track`);
    assert.equal(csv.length - 1, 56, 'one row per frame of the 56-frame clip');
    csv.slice(1).forEach((line, i) => {
      const [frame, ...cells] = line.split(',');
      const probs = cells.slice(0, 7);
      assert.equal(frame, String(i + 1).padStart(6, '0'));
      assert.equal(cells[7], '1', 'its one track');
      assert.equal(probs.length, 7);
      assert.ok(
        Math.abs(probs.reduce((s, p) => s + Number(p), 0) - 1) <= 1e-3,
        `frame ${frame} sums to ${probs.reduce((s, p) => s + Number(p), 0)}`,
      );
    });
    assert.equal(
      videoInfo(path.join(out, 'cremad_1001_DFA_happy.annotated.mp4')).frames,
      56,
      'the annotated video has every frame of the clip',
    );
    const events = readFileSync(path.join(out, 'cremad_1001_DFA_happy.events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EmotionEvent);
    assert.equal(events.filter((e) => e.schema === 'emostream.event.face.v2').length, 10);
    assert.equal(events.filter((e) => e.schema === 'emostream.event.track_summary.v2').length, 1);
  });

  it('reports a missing and an unreadable input clearly, without a stack trace, and exits non-zero only when nothing could be processed', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-run-'));
    const junk = path.join(out, 'not-a-video.mp4');
    writeFileSync(junk, 'this is not a video');
    const bad = runEmo([path.join(out, 'missing.mp4'), junk, '--out', out]);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /missing\.mp4: no such file: .*missing\.mp4/);
    assert.match(bad.stdout, /not-a-video\.mp4: cannot open .*not-a-video\.mp4: .*Invalid data/);
    assert.doesNotMatch(bad.stdout + bad.stderr, /\n\s+at .*:\d+:\d+/);

    const noPack = runEmo([happy, '--pack', 'emo-affectnet', '--models-dir', out, '--out', out]);
    assert.equal(noPack.status, 2, 'a pack that is not there is a usage error');
    assert.match(noPack.stderr, /^emo: model pack "emo-affectnet": not found: .*emo models import emo-affectnet/m);
    assert.doesNotMatch(noPack.stdout + noPack.stderr, /\n\s+at .*:\d+:\d+/);

    const mixed = runEmo([path.join(out, 'missing.mp4'), happy, '--out', out]);
    assert.equal(mixed.status, 0, 'one good input is enough for success');
    assert.match(mixed.stdout, /missing\.mp4: no such file/);
  });

  // The inputs start while the backbone's pack loads: a pack that then fails must stop them and fail
  // the run, not leave it waiting on a backbone that never comes, nor write reports of nothing.
  it('fails, naming the pack, when its backbone cannot be loaded, and writes no reports', () => {
    const models = mkdtempSync(path.join(tmpdir(), 'emo-models-'));
    const out = mkdtempSync(path.join(tmpdir(), 'emo-run-'));
    const packDir = path.join(models, 'broken');
    mkdirSync(packDir);
    const notOnnx = Buffer.from('these bytes are no ONNX model');
    writeFileSync(path.join(packDir, 'backbone.onnx'), notOnnx);
    writeFileSync(
      path.join(packDir, 'manifest.json'),
      JSON.stringify({
        schemaVersion: 1,
        name: 'broken',
        description: 'a backbone file that is not a model',
        trained: false,
        licence: 'MIT',
        labels: [...EMOTION_LABELS],
        models: {
          backbone: {
            file: 'backbone.onnx',
            sha256: createHash('sha256').update(notOnnx).digest('hex'),
            input: { name: 'input', shape: [-1, 224, 224, 3], dtype: 'float32', layout: 'NHWC' },
            preprocessing: {
              colorOrder: 'BGR',
              mean: [91.4953, 103.8827, 131.0912],
              scale: 1,
              resize: 'nearest',
              inputSize: { width: 224, height: 224 },
            },
            crop: { expand: 1, square: false },
            outputs: { features: { name: 'features', shape: [-1, 512] }, probs: { name: 'probs', shape: [-1, 7] } },
          },
        },
      }),
    );
    const started = Date.now();
    const broken = spawnSync(process.execPath, [emo, 'run', happy, '--pack', packDir, '--out', out], {
      env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(broken.status, 1, `exit ${broken.status} after ${Date.now() - started} ms: ${broken.stderr}`);
    assert.match(broken.stderr, /^emo: model pack "broken": backbone model backbone\.onnx cannot be loaded/m);
    assert.doesNotMatch(broken.stdout + broken.stderr, /\n\s+at .*:\d+:\d+/);
    assert.deepEqual(readdirSync(out), [], 'no reports');
  });

  // The face stage's models load while the inputs start too (issue 29): a detector pack whose model
  // then fails to load fails the run the same way.
  it("fails, naming the pack, when the detector pack's identity model cannot be loaded, and writes no reports", () => {
    const packDir = mkdtempSync(path.join(tmpdir(), 'emo-detector-pack-'));
    const out = mkdtempSync(path.join(tmpdir(), 'emo-run-'));
    const source = path.join(DEFAULT_MODELS_DIR, 'default');
    for (const file of readdirSync(source))
      if (file !== '.sha256-cache.json') copyFileSync(path.join(source, file), path.join(packDir, file));
    const notOnnx = Buffer.from('these bytes are no ONNX model');
    const manifest = JSON.parse(readFileSync(path.join(packDir, 'manifest.json'), 'utf8')) as {
      models: { identity: { file: string; sha256: string } };
    };
    writeFileSync(path.join(packDir, manifest.models.identity.file), notOnnx);
    manifest.models.identity.sha256 = createHash('sha256').update(notOnnx).digest('hex');
    writeFileSync(path.join(packDir, 'manifest.json'), JSON.stringify(manifest));
    const broken = spawnSync(process.execPath, [emo, 'run', happy, '--detector-pack', packDir, '--out', out], {
      env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(broken.status, 1, broken.stderr);
    assert.match(broken.stderr, /^emo: model pack "default": identity model face-recognition\.onnx cannot be loaded/m);
    assert.deepEqual(readdirSync(out), [], 'no reports');
  });
});

describe('emo run --kafka', () => {
  it('gives the same events on the real broker as on the in-memory bus', () => {
    const brokers = kafkaBrokers();
    const memoryOut = mkdtempSync(path.join(tmpdir(), 'emo-run-mem-'));
    const kafkaOut = mkdtempSync(path.join(tmpdir(), 'emo-run-kafka-'));
    const memory = runEmo([happy, '--out', memoryOut]);
    const kafka = runEmo([happy, '--out', kafkaOut, '--kafka', brokers]);
    assert.equal(memory.status, 0, memory.stderr);
    assert.equal(kafka.status, 0, kafka.stderr);
    const read = (dir: string) =>
      readFileSync(path.join(dir, 'cremad_1001_DFA_happy.events.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => {
          const { emittedAtMs: _emitted, capturedAtMs: _captured, ...rest } = JSON.parse(line) as Record<string, unknown>;
          return rest;
        });
    const expected = read(memoryOut);
    const actual = read(kafkaOut);
    assert.equal(actual.length, expected.length);
    actual.forEach((event, i) => assertClose(event, expected[i]!, `event ${i}`));
  });

  it('leaves none of its topics on the cluster', async () => {
    const admin = new Kafka({ brokers: kafkaBrokers().split(','), clientId: 'emo-run-test', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const left = (await admin.listTopics()).filter((topic) => topic.startsWith('emo-run-'));
      assert.deepEqual(left, [], 'emo run --kafka deletes the topics of its run');
    } finally {
      await admin.disconnect();
    }
  });
});

/** Deep equality, numbers within 1e-6 (batches may differ between the buses, and with them the last float bits). */
function assertClose(actual: unknown, expected: unknown, where: string): void {
  if (typeof expected === 'number') {
    assert.ok(typeof actual === 'number' && Math.abs(actual - expected) <= 1e-6, `${where}: ${String(actual)} vs ${expected}`);
  } else if (expected && typeof expected === 'object') {
    for (const [key, value] of Object.entries(expected)) assertClose((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
  } else {
    assert.equal(actual, expected, where);
  }
}
