/**
 * Tracker state survives a face-stage restart: the face stage runs as a process (`emo serve face`) on
 * the real broker, exactly-once, on a clip of two people (after a third one left, so a tracker that
 * started again from nothing would number them differently). Once SIGKILLed in the middle of the clip
 * and restarted, its faces topic must carry what an undisturbed run carries — the same track ids,
 * boxes, scores and crops for every sampled frame (so the backbone, temporal stage and sink, which
 * are deterministic in their input, give the same events) — and no track id may ever cover two people.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { motMetrics } from '@emostream/face';
import { encodeMessage, FaceCropsSchema, KafkaBus, makeMessage, topicName, topics, type ConsumedRecord, type FaceCrops } from '@emostream/shared';
import { kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor } from '@emostream/shared/testing';
import { cutPortraits, renderScene, type RenderedScene } from './synthetic-scenes.js';
import { cachedPackDetector, sampleFile, type SampledFile } from './track-file.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const STREAM = 'duo';

function startFace(prefix: string): ChildProcess {
  return spawn(process.execPath, [emo, 'serve', 'face'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: prefix,
      EMOSTREAM_DELIVERY: 'exactly-once',
      EMOSTREAM_INSTANCE_ID: 'face-0',
      EMOSTREAM_OPS_PORT: '0',
      EMOSTREAM_OPS_HOST: '127.0.0.1',
      EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
      EMOSTREAM_PACK: 'default',
      EMOSTREAM_INTRA_OP_THREADS: '1',
      EMOSTREAM_LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
      // Small batches, so the kill lands between transactions in the middle of the clip.
      EMOSTREAM_MAX_BATCH_SIZE: '4',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/**
 * Streams the sampled clip through a face process and returns the faces topic (read_committed) by
 * frame; `interrupt` may kill and restart the process while it runs.
 */
async function runFace(sampled: SampledFile, interrupt?: (seen: () => number, restart: () => Promise<void>) => Promise<void>): Promise<Map<number, FaceCrops>> {
  const prefix = randomPrefix('face-restart');
  const bus = new KafkaBus(kafkaTestConfig('face-restart'));
  let face = startFace(prefix);
  const byFrame = new Map<number, FaceCrops>();
  const offsets = new Set<string>();
  const duplicates: number[] = [];
  try {
    const facesTopic = topicName(topics.faces, prefix);
    const framesTopic = topicName(topics.frames, prefix);
    await bus.createTopics([
      { name: facesTopic, partitions: topics.faces.defaultPartitions },
      { name: framesTopic, partitions: topics.frames.defaultPartitions },
    ]);
    const reader = await bus.consumer({ groupId: `${prefix}.reader`, topics: [facesTopic], fromBeginning: true, readCommitted: true, sessionTimeoutMs: 6_000 });
    await reader.run({
      eachBatch: async (batch) => {
        for (const record of batch.records as ConsumedRecord[]) {
          // The reader never commits: a re-created group member reads from the start again.
          const at = `${record.partition}:${record.offset}`;
          if (offsets.has(at)) continue;
          offsets.add(at);
          const message = fromBinary(FaceCropsSchema, record.value!);
          const seq = message.ref!.seq;
          if (byFrame.has(seq)) duplicates.push(seq);
          byFrame.set(seq, message);
        }
      },
    });
    const producer = await bus.producer();
    const last = sampled.frames.at(-1)!;
    await producer.send(
      [
        ...sampled.frames.map((f) => makeMessage(topics.frames, { ref: { streamId: STREAM, seq: f.seq, width: f.width, height: f.height }, jpeg: f.jpeg })),
        makeMessage(topics.frames, { ref: { streamId: STREAM, seq: last.seq + 1, width: last.width, height: last.height, endOfStream: true }, jpeg: new Uint8Array() }),
      ].map((m) => ({ topic: framesTopic, key: STREAM, value: encodeMessage(topics.frames, m) })),
    );
    if (interrupt) {
      await interrupt(
        () => byFrame.size,
        async () => {
          face.kill('SIGKILL');
          await once(face, 'exit');
          face = startFace(prefix);
        },
      );
    }
    await waitFor(
      () => {
        if (face.exitCode !== null) throw new Error(`the face process exited with code ${face.exitCode}`);
        return byFrame.has(last.seq + 1);
      },
      { timeoutMs: 300_000, intervalMs: 100, message: () => `the end-of-stream marker on the faces topic (${byFrame.size} of ${sampled.frames.length + 1} frames)` },
    );
    await reader.close();
    assert.deepEqual(duplicates, [], 'frames that came twice on the faces topic (read_committed)');
    return byFrame;
  } finally {
    if (face.exitCode === null && face.signalCode === null) {
      face.kill('SIGTERM');
      await once(face, 'exit');
    }
    await bus.close();
  }
}

describe('the face stage restarted in the middle of a two-person clip (real broker, exactly-once)', () => {
  let workDir: string;
  let scene: RenderedScene;
  let sampled: SampledFile;
  before(async () => {
    workDir = mkdtempSync(path.join(tmpdir(), 'emostream-face-restart-'));
    const detector = await cachedPackDetector();
    const portraits = await cutPortraits((frame) => detector.detectRgb(frame));
    scene = await renderScene(
      {
        name: STREAM,
        width: 480,
        height: 270,
        fps: 25,
        shots: [
          {
            seconds: 6,
            palette: ['#34495e', '#95a5a6', '#7e5109'],
            actors: [
              // Seen first and gone after a second: the two that stay get ids 2 and 3.
              { person: 'faceapi_angry#0', path: [{ t: 0, x: 240, y: 120, width: 70 }, { t: 1, x: 300, y: 110, width: 70 }, { t: 1.4, x: 560, y: 110, width: 70 }] },
              { person: 'sample2#0', path: [{ t: 0.8, x: 80, y: 150, width: 65 }, { t: 6, x: 380, y: 140, width: 70 }] },
              { person: 'faceapi_happy#0', path: [{ t: 1.2, x: 420, y: 150, width: 65 }, { t: 6, x: 120, y: 135, width: 70 }] },
            ],
          },
        ],
      },
      portraits,
      path.join(workDir, 'duo.mp4'),
    );
    sampled = await sampleFile(scene.file, STREAM);
  });
  after(() => rmSync(workDir, { recursive: true, force: true }));

  it('carries on with the same ids, boxes, scores and crops as an undisturbed run, and no id covers two people', async () => {
    const undisturbed = await runFace(sampled);
    const frames = sampled.frames.length;
    const restarted = await runFace(sampled, async (seen, restart) => {
      // Past the frames where the first person left, before the two cross.
      await waitFor(() => seen() >= Math.round(frames * 0.4), { timeoutMs: 240_000, message: 'faces of 40 % of the frames before the kill' });
      await restart();
    });

    const idsOf = (m: FaceCrops) => m.faces.map((f) => f.trackId);
    for (const [label, run] of [['undisturbed', undisturbed], ['restarted', restarted]] as const) {
      assert.equal(run.size, frames + 1, `${label}: every sampled frame and the end marker exactly once`);
      const tracked = sampled.frames.map((f) => ({
        truth: scene.truth[f.seq - 1] ?? [],
        tracked: run.get(f.seq)!.faces.map((face) => ({ id: String(face.trackId), box: { x: face.box!.x, y: face.box!.y, width: face.box!.width, height: face.box!.height } })),
      }));
      const metrics = motMetrics(tracked);
      assert.equal(metrics.idsOnSeveralPeople, 0, `${label}: a track id covered two people`);
      assert.equal(metrics.idSwitches, 0, `${label}: ${metrics.idSwitches} id switches`);
      assert.ok(metrics.idf1 >= 0.9, `${label}: IDF1 ${metrics.idf1}`);
    }
    assert.ok(new Set([...undisturbed.values()].flatMap(idsOf)).size === 3, 'three people, three ids (the clip is what the test needs)');

    for (const f of [...sampled.frames.map((s) => s.seq), sampled.frames.at(-1)!.seq + 1]) {
      const want = undisturbed.get(f)!;
      const got = restarted.get(f)!;
      assert.deepEqual(idsOf(got), idsOf(want), `frame ${f}: track ids ${idsOf(got)} after the restart, ${idsOf(want)} undisturbed`);
      assert.deepEqual(got.endedTrackIds, want.endedTrackIds, `frame ${f}: ended tracks`);
      got.faces.forEach((face, i) => {
        const expected = want.faces[i]!;
        assert.deepEqual(face.box, expected.box, `frame ${f} track ${face.trackId}: box`);
        assert.equal(face.score, expected.score, `frame ${f} track ${face.trackId}: score`);
        assert.ok(Buffer.from(face.crop).equals(Buffer.from(expected.crop)), `frame ${f} track ${face.trackId}: crop bytes`);
      });
    }
  });
});
