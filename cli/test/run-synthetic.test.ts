import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { EMOTION_LABELS } from '@emostream/shared';
import { sharedData } from '@emostream/shared/testing';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

function emoCommand(args: string[]) {
  return spawnSync(process.execPath, [emo, ...args], { env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' }, encoding: 'utf8' });
}

interface FeatureRow {
  trackId: number;
  frame: number;
  features: number[];
}

/**
 * REFERENCE.md's offline use, written out here independently of services/temporal: windows of 10
 * sampled frames with step 5 (a window starts at every 5th sampled frame), a short window padded with
 * its last feature; each window's prediction covers the frame numbers from its first to its last
 * real sampled frame; frames after the last window get the last prediction; overlaps are averaged.
 */
async function expectedRows(rows: FeatureRow[], totalFrames: number, lstm: ort.InferenceSession): Promise<Map<number, number[]>> {
  const windows: { first: number; last: number; items: number[][] }[] = [];
  for (let start = 0; start < rows.length; start += 5) {
    const real = rows.slice(start, start + 10);
    const items = Array.from({ length: 10 }, (_, t) => (real[t] ?? real.at(-1)!).features);
    windows.push({ first: real[0]!.frame, last: real.at(-1)!.frame, items });
  }
  const input = new ort.Tensor('float32', Float32Array.from(windows.flatMap((w) => w.items.flat())), [windows.length, 10, 512]);
  const output = (await lstm.run({ window: input })).probs!.data as Float32Array;
  const predictions = windows.map((_, w) => [...output.subarray(w * 7, w * 7 + 7)]);

  const sums = new Map<number, { sum: number[]; count: number }>();
  const add = (frame: number, p: number[]) => {
    const at = sums.get(frame) ?? { sum: [0, 0, 0, 0, 0, 0, 0], count: 0 };
    at.sum = at.sum.map((v, i) => v + p[i]!);
    at.count += 1;
    sums.set(frame, at);
  };
  windows.forEach((w, i) => {
    for (let frame = w.first; frame <= w.last; frame++) add(frame, predictions[i]!);
  });
  for (let frame = windows.at(-1)!.last + 1; frame <= totalFrames; frame++) add(frame, predictions.at(-1)!);
  return new Map([...sums].map(([frame, { sum, count }]) => [frame, sum.map((v) => v / count)]));
}

describe('emo run on the synthetic pack', () => {
  // A fresh models folder: emo run builds the synthetic pack (and the default detectors) on first use.
  const modelsDir = mkdtempSync(path.join(tmpdir(), 'emo-models-'));
  const packDir = path.join(modelsDir, 'synthetic');

  it('writes the CSV that the reference offline windowing implies for the features the backbone produced', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-run-synthetic-'));
    const result = emoCommand([
      'run',
      sharedData('labelled/cremad_1001_DFA_happy.flv'),
      '--models-dir',
      modelsDir,
      '--pack',
      'synthetic',
      '--features',
      '--out',
      out,
    ]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /building the synthetic model pack/);

    const features = readFileSync(path.join(out, 'cremad_1001_DFA_happy.features.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as FeatureRow);
    // 56 frames at 29.97 fps: the reference samples every 6th frame, 1, 7, …, 55.
    assert.deepEqual(
      features.map((f) => f.frame),
      Array.from({ length: 10 }, (_, i) => 1 + 6 * i),
    );
    assert.ok(features.every((f) => f.trackId === features[0]!.trackId && f.features.length === 512));

    const lstm = await ort.InferenceSession.create(path.join(packDir, 'temporal.onnx'));
    const expected = await expectedRows(features, 56, lstm);
    await lstm.release();
    // Frames 1–30 lie in the first window only, 31–55 in both, 56 after the last: real averaging happens.
    assert.equal(expected.size, 56);

    const csv = readFileSync(path.join(out, 'cremad_1001_DFA_happy.csv'), 'utf8').trim().split('\n');
    assert.equal(csv[0], `frame,${EMOTION_LABELS.join(',')},track`);
    assert.equal(csv.length - 1, 56);
    for (const line of csv.slice(1)) {
      const [frame, ...cells] = line.split(',');
      const probs = cells.slice(0, 7);
      const want = expected.get(Number(frame))!;
      probs.forEach((p, i) =>
        assert.ok(Math.abs(Number(p) - want[i]!) <= 2e-6, `frame ${frame} ${EMOTION_LABELS[i]}: CSV ${p}, windowing ${want[i]}`),
      );
    }
    // The first and second windows must differ, or the averaging above would prove nothing.
    assert.notDeepEqual(expected.get(1), expected.get(31));
  });
});
