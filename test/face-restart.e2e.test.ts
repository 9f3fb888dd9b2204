/**
 * Tracker state survives a face-stage restart: face, backbone, temporal and sink run as processes
 * (`emo serve <stage>`) on the real broker, exactly-once, on a clip of two people (after a third one
 * left, so a tracker that started again from nothing would number them differently); the test writes
 * the sampled frames as ingest would. With the face process SIGKILLed in the middle of the clip and
 * restarted, the faces topic must carry what an undisturbed run carries — the same track ids, boxes,
 * scores and crops for every sampled frame — the events must be the same (ids, probabilities within
 * 1e-6, summaries), and no track id may ever cover two people.
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
import {
  encodeMessage,
  eventsTopic,
  FaceCropsSchema,
  KafkaBus,
  makeMessage,
  topicName,
  topics,
  type EmotionEvent,
  type FaceCrops,
  type FaceEmotionEvent,
  type TrackSummaryEvent,
} from '@emostream/shared';
import { kafkaBrokers, kafkaTestConfig, randomPrefix, readEachRecordOnce, unshippedMediaMissing, waitFor } from '@emostream/shared/testing';
import { cutPortraits, renderScene, type RenderedScene } from '@emostream/fixtures/synthetic-scenes';
import { cachedStageDetector, sampleFile, type SampledFile } from '@emostream/fixtures/track-file';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const STREAM = 'duo';

const STAGES = ['face', 'backbone', 'temporal', 'sink'] as const;

function startStage(stage: (typeof STAGES)[number], prefix: string): ChildProcess {
  return spawn(process.execPath, [emo, 'serve', stage], {
    env: {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: prefix,
      EMOSTREAM_DELIVERY: 'exactly-once',
      EMOSTREAM_INSTANCE_ID: `${stage}-0`,
      EMOSTREAM_OPS_PORT: '0',
      EMOSTREAM_OPS_HOST: '127.0.0.1',
      EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
      EMOSTREAM_PACK: 'default',
      EMOSTREAM_INTRA_OP_THREADS: '1',
      EMOSTREAM_LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'error',
      // Small batches, so the kill lands between transactions in the middle of the clip.
      EMOSTREAM_MAX_BATCH_SIZE: '4',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

interface Run {
  /** The faces topic by frame. */
  faces: Map<number, FaceCrops>;
  events: EmotionEvent[];
}

const isSummary = (e: EmotionEvent): e is TrackSummaryEvent => 'meanProbabilities' in e;
const isFace = (e: EmotionEvent): e is FaceEmotionEvent => 'probabilities' in e;

/**
 * Streams the sampled clip through the stage processes and returns the faces and events topics
 * (read_committed); `interrupt` may kill and restart the face process while it runs.
 */
async function runPipeline(
  sampled: SampledFile,
  interrupt?: (seen: () => number, restartFace: () => Promise<void>) => Promise<void>,
): Promise<Run> {
  const prefix = randomPrefix('face-restart');
  const bus = new KafkaBus(kafkaTestConfig('face-restart'));
  const processes = new Map(STAGES.map((stage) => [stage, startStage(stage, prefix)]));
  const faces = new Map<number, FaceCrops>();
  const events: EmotionEvent[] = [];
  const duplicates: number[] = [];
  try {
    const facesTopic = topicName(topics.faces, prefix);
    const framesTopic = topicName(topics.frames, prefix);
    const eventsName = topicName(eventsTopic, prefix);
    await bus.createTopics([
      { name: facesTopic, partitions: topics.faces.defaultPartitions },
      { name: framesTopic, partitions: topics.frames.defaultPartitions },
      { name: eventsName, partitions: eventsTopic.defaultPartitions },
    ]);
    const reader = await readEachRecordOnce(bus, `${prefix}.reader`, [facesTopic, eventsName], (record) => {
      if (record.topic === eventsName) {
        events.push(JSON.parse(Buffer.from(record.value!).toString('utf8')) as EmotionEvent);
        return;
      }
      const message = fromBinary(FaceCropsSchema, record.value!);
      const seq = message.ref!.seq;
      if (faces.has(seq)) duplicates.push(seq);
      faces.set(seq, message);
    });
    const producer = await bus.producer();
    const last = sampled.frames.at(-1)!;
    await producer.send(
      [
        ...sampled.frames.map((f) =>
          makeMessage(topics.frames, { ref: { streamId: STREAM, seq: f.seq, width: f.width, height: f.height }, jpeg: f.jpeg }),
        ),
        makeMessage(topics.frames, {
          ref: { streamId: STREAM, seq: last.seq + 1, width: last.width, height: last.height, endOfStream: true },
          jpeg: new Uint8Array(),
        }),
      ].map((m) => ({ topic: framesTopic, key: STREAM, value: encodeMessage(topics.frames, m) })),
    );
    if (interrupt) {
      await interrupt(
        () => faces.size,
        async () => {
          const face = processes.get('face')!;
          face.kill('SIGKILL');
          await once(face, 'exit');
          processes.set('face', startStage('face', prefix));
        },
      );
    }
    // Done when the end marker went through the face stage and every track has its summary.
    const trackIds = () => new Set(events.filter(isFace).map((e) => e.trackId));
    await waitFor(
      () => {
        for (const [stage, child] of processes)
          if (child.exitCode !== null) throw new Error(`the ${stage} process exited with code ${child.exitCode}`);
        return faces.has(last.seq + 1) && trackIds().size > 0 && events.filter(isSummary).length >= trackIds().size;
      },
      {
        timeoutMs: 300_000,
        intervalMs: 100,
        message: () =>
          `the end marker and every track summary (${faces.size} of ${sampled.frames.length + 1} frames, ${events.length} events)`,
      },
    );
    await reader.close();
    assert.deepEqual(duplicates, [], 'frames that came twice on the faces topic (read_committed)');
    return { faces, events };
  } finally {
    await Promise.all(
      [...processes.values()].map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
    await bus.close();
  }
}

/** An event without its wall-clock times, for comparing two runs. */
function comparable(event: EmotionEvent): Record<string, unknown> {
  const { emittedAtMs: _emitted, ...rest } = event as EmotionEvent & { capturedAtMs?: number };
  delete (rest as { capturedAtMs?: number }).capturedAtMs;
  return rest;
}

// Two of its actors are cut from face-api's example stills, which the project may not ship.
const stills = ['stills/faceapi_angry.jpg', 'stills/faceapi_happy.jpg'];
describe(
  'the face process restarted in the middle of a two-person clip (real broker, exactly-once)',
  { skip: unshippedMediaMissing(...stills) },
  () => {
    let workDir: string;
    let scene: RenderedScene;
    let sampled: SampledFile;
    before(async () => {
      workDir = mkdtempSync(path.join(tmpdir(), 'emostream-face-restart-'));
      const detector = await cachedStageDetector();
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
                {
                  person: 'faceapi_angry#0',
                  path: [
                    { t: 0, x: 240, y: 120, width: 70 },
                    { t: 1, x: 300, y: 110, width: 70 },
                    { t: 1.4, x: 560, y: 110, width: 70 },
                  ],
                },
                {
                  person: 'sample2#0',
                  path: [
                    { t: 0.8, x: 80, y: 150, width: 65 },
                    { t: 6, x: 380, y: 140, width: 70 },
                  ],
                },
                {
                  person: 'faceapi_happy#0',
                  path: [
                    { t: 1.2, x: 420, y: 150, width: 65 },
                    { t: 6, x: 120, y: 135, width: 70 },
                  ],
                },
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

    it('carries on with the same ids, boxes, scores, crops and events as an undisturbed run, and no id covers two people', async () => {
      const undisturbed = await runPipeline(sampled);
      const frames = sampled.frames.length;
      const restarted = await runPipeline(sampled, async (seen, restartFace) => {
        // Past the frames where the first person left, before the two cross.
        await waitFor(() => seen() >= Math.round(frames * 0.4), {
          timeoutMs: 240_000,
          message: 'faces of 40 % of the frames before the kill',
        });
        await restartFace();
      });

      const idsOf = (m: FaceCrops) => m.faces.map((f) => f.trackId);
      for (const [label, run] of [
        ['undisturbed', undisturbed.faces],
        ['restarted', restarted.faces],
      ] as const) {
        assert.equal(run.size, frames + 1, `${label}: every sampled frame and the end marker exactly once`);
        const tracked = sampled.frames.map((f) => ({
          truth: scene.truth[f.seq - 1] ?? [],
          tracked: run.get(f.seq)!.faces.map((face) => ({
            id: String(face.trackId),
            box: { x: face.box!.x, y: face.box!.y, width: face.box!.width, height: face.box!.height },
          })),
        }));
        const metrics = motMetrics(tracked);
        assert.equal(metrics.idsOnSeveralPeople, 0, `${label}: a track id covered two people`);
        assert.equal(metrics.idSwitches, 0, `${label}: ${metrics.idSwitches} id switches`);
        assert.ok(metrics.idf1 >= 0.9, `${label}: IDF1 ${metrics.idf1}`);
      }
      assert.ok(
        new Set([...undisturbed.faces.values()].flatMap(idsOf)).size === 3,
        'three people, three ids (the clip is what the test needs)',
      );

      for (const f of [...sampled.frames.map((s) => s.seq), sampled.frames.at(-1)!.seq + 1]) {
        const want = undisturbed.faces.get(f)!;
        const got = restarted.faces.get(f)!;
        assert.deepEqual(
          idsOf(got),
          idsOf(want),
          `frame ${f}: track ids ${idsOf(got).join()} after the restart, ${idsOf(want).join()} undisturbed`,
        );
        assert.deepEqual(got.endedTrackIds, want.endedTrackIds, `frame ${f}: ended tracks`);
        got.faces.forEach((face, i) => {
          const expected = want.faces[i]!;
          assert.deepEqual(face.box, expected.box, `frame ${f} track ${face.trackId}: box`);
          assert.equal(face.score, expected.score, `frame ${f} track ${face.trackId}: score`);
          assert.ok(Buffer.from(face.crop).equals(Buffer.from(expected.crop)), `frame ${f} track ${face.trackId}: crop bytes`);
        });
      }

      // The events: same set (stream, seq, track), same ids, probabilities within 1e-6.
      const key = (e: EmotionEvent) => (isFace(e) ? `face ${e.seq} ${e.trackId}` : `summary ${e.trackId}`);
      const byKey = (list: EmotionEvent[]) => new Map(list.map((e) => [key(e), comparable(e)]));
      const want = byKey(undisturbed.events);
      const got = byKey(restarted.events);
      assert.equal(restarted.events.length, undisturbed.events.length, 'as many events as the undisturbed run');
      assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'the same events by frame and track id');
      for (const [k, expected] of want) {
        const actual = got.get(k)!;
        for (const [field, value] of Object.entries(expected)) {
          if (field === 'probabilities' || field === 'meanProbabilities') {
            for (const [label, p] of Object.entries(value as Record<string, number>)) {
              const q = (actual[field] as Record<string, number>)[label]!;
              assert.ok(Math.abs(q - p) <= 1e-6, `${k} ${field}.${label}: ${q} after the restart, ${p} undisturbed`);
            }
          } else if (typeof value === 'number' && !Number.isInteger(value)) {
            assert.ok(Math.abs((actual[field] as number) - value) <= 1e-6, `${k} ${field}: ${String(actual[field])} vs ${value}`);
          } else {
            assert.deepEqual(actual[field], value, `${k} field ${field}`);
          }
        }
      }
    });
  },
);
