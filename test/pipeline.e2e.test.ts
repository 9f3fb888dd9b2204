/**
 * The whole pipeline as five separate processes (`emo serve <stage>`) on the real broker, exactly-once,
 * with two real clips streamed at once. Then the same run with the temporal process SIGKILLed halfway
 * and restarted must give the same events.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { eventsTopic, KafkaBus, samplingStep, topicName, type EmotionEvent, type FaceEmotionEvent } from '@emostream/shared';
import { kafkaBrokers, kafkaTestConfig, readEachRecordOnce, sharedData, testMediaDirs } from '@emostream/shared/testing';
import { waitPipelineDrained } from './pipeline-drained.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const clips = {
  happy: sharedData('labelled/cremad_1001_DFA_happy.flv'),
  anger: sharedData('labelled/cremad_1001_DFA_anger.flv'),
};
// Frames per clip (MANIFEST.md); both are 29.97 fps.
const frameCounts = { happy: 56, anger: 67 };
const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;

function sampled(totalFrames: number): number[] {
  const k = samplingStep(30000 / 1001);
  return Array.from({ length: Math.ceil(totalFrames / k) }, (_, i) => 1 + i * k);
}

interface Pipeline {
  processes: Map<string, ChildProcess>;
  env: Record<string, string>;
  start(stage: (typeof STAGES)[number]): ChildProcess;
  stop(): Promise<void>;
}

function pipeline(prefix: string): Pipeline {
  const env: Record<string, string> = {
    KAFKA_BROKERS: kafkaBrokers(),
    EMOSTREAM_TOPIC_PREFIX: prefix,
    EMOSTREAM_DELIVERY: 'exactly-once',
    EMOSTREAM_OPS_PORT: '0',
    EMOSTREAM_OPS_HOST: '127.0.0.1',
    // Ingest reads file specs only under its media roots (the source policy).
    INGEST_MEDIA_ROOTS: testMediaDirs().join(','),
    EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
    EMOSTREAM_PACK: 'default',
    EMOSTREAM_INTRA_OP_THREADS: '1',
    EMOSTREAM_LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'error',
    // Small batches, so a kill lands in the middle of the run.
    EMOSTREAM_MAX_BATCH_SIZE: '4',
  };
  const processes = new Map<string, ChildProcess>();
  return {
    processes,
    env,
    start(stage) {
      const child = spawn(process.execPath, [emo, 'serve', stage], {
        env: { ...process.env, ...env, EMOSTREAM_INSTANCE_ID: `${stage}-0` },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      processes.set(stage, child);
      return child;
    },
    async stop() {
      await Promise.all(
        [...processes.values()].map(async (child) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          await once(child, 'exit');
        }),
      );
    },
  };
}

/** Runs both clips through the pipeline and returns the events, read with read_committed. */
async function runClips(prefix: string, interrupt?: (events: EmotionEvent[], p: Pipeline) => Promise<void>): Promise<EmotionEvent[]> {
  const p = pipeline(prefix);
  const bus = new KafkaBus(kafkaTestConfig('e2e'));
  const events: EmotionEvent[] = [];
  try {
    const topic = topicName(eventsTopic, prefix);
    await bus.createTopics([{ name: topic, partitions: eventsTopic.defaultPartitions }]);
    const reader = await readEachRecordOnce(bus, `${prefix}.reader`, [topic], (r) => {
      events.push(JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent);
    });
    for (const stage of STAGES) p.start(stage);
    for (const [streamId, file] of Object.entries(clips)) {
      const added = spawnSync(process.execPath, [emo, 'streams', 'add', streamId, file], {
        env: { ...process.env, ...p.env },
        encoding: 'utf8',
      });
      assert.equal(added.status, 0, added.stderr);
    }
    const summaries = () => events.filter((e) => e.schema === 'emostream.event.track_summary.v2').length;
    if (interrupt) await interrupt(events, p);
    const deadline = Date.now() + 240_000;
    while (summaries() < 2) {
      for (const [stage, child] of p.processes) {
        if (child.exitCode !== null) throw new Error(`the ${stage} process exited with code ${child.exitCode}`);
      }
      if (Date.now() > deadline) throw new Error(`no track summaries after 240 s (${events.length} events)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Then until nothing is left to deliver, so the counts below include any late duplicate.
    await waitPipelineDrained(bus, prefix, reader);
    await reader.close();
    return events;
  } finally {
    await p.stop();
    await bus.close();
  }
}

function faceEvents(events: EmotionEvent[], streamId: string): FaceEmotionEvent[] {
  return events.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2' && e.streamId === streamId);
}

describe('the pipeline as five processes on the real broker', () => {
  let uninterrupted: EmotionEvent[] | undefined;
  after(() => {
    uninterrupted = undefined;
  });

  it('delivers every sampled frame of two concurrent clips exactly once, in order, with one track per single-face clip', async () => {
    const events = await runClips(`e2e-${process.pid}-${Date.now()}`);
    for (const [streamId, frames] of Object.entries(frameCounts)) {
      const faces = faceEvents(events, streamId);
      assert.deepEqual(
        faces.map((e) => e.seq),
        sampled(frames),
        `${streamId}: one event per sampled frame, in order; got ${JSON.stringify(faces.map((e) => [e.seq, e.trackId, e.box]))}`,
      );
      assert.deepEqual([...new Set(faces.map((e) => e.trackId))], [1], `${streamId}: one track`);
      const summary = events.filter((e) => e.schema === 'emostream.event.track_summary.v2' && e.streamId === streamId);
      assert.equal(summary.length, 1);
    }
    uninterrupted = events;
  });

  it('gives the same events when the temporal process is SIGKILLed halfway and restarted', async () => {
    assert.ok(uninterrupted, 'needs the uninterrupted run of the previous test');
    const events = await runClips(`e2e-kill-${process.pid}-${Date.now()}`, async (seen, p) => {
      const deadline = Date.now() + 180_000;
      while (faceEvents(seen, 'happy').length + faceEvents(seen, 'anger').length < 6) {
        if (Date.now() > deadline) throw new Error('no events before the kill');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const temporal = p.processes.get('temporal')!;
      temporal.kill('SIGKILL');
      await once(temporal, 'exit');
      p.start('temporal');
    });
    const comparable = (list: EmotionEvent[]) =>
      list
        .map(({ emittedAtMs: _e, ...rest }) => ('capturedAtMs' in rest ? (({ capturedAtMs: _c, ...r }) => r)(rest) : rest))
        .sort((a, b) =>
          JSON.stringify([a.streamId, 'seq' in a ? a.seq : 1e9]).localeCompare(JSON.stringify([b.streamId, 'seq' in b ? b.seq : 1e9])),
        );
    const before = comparable(uninterrupted);
    const afterKill = comparable(events);
    assert.equal(afterKill.length, before.length, 'as many events as the uninterrupted run');
    afterKill.forEach((event, i) => {
      const expected = before[i]!;
      for (const [field, value] of Object.entries(expected)) {
        const actual = (event as Record<string, unknown>)[field];
        if (field === 'probabilities' || field === 'meanProbabilities') {
          for (const [label, p] of Object.entries(value as Record<string, number>)) {
            assert.ok(
              Math.abs((actual as Record<string, number>)[label]! - p) <= 1e-6,
              `${event.streamId} ${field}.${label}: ${(actual as Record<string, number>)[label]} vs ${p}`,
            );
          }
        } else if (typeof value === 'number' && !Number.isInteger(value)) {
          // Scores can differ in the last float bits when faces are batched differently.
          assert.ok(Math.abs((actual as number) - value) <= 1e-6, `${event.streamId} ${field}: ${String(actual)} vs ${value}`);
        } else {
          assert.deepEqual(actual, value, `${event.streamId} field ${field}`);
        }
      }
    });
  });
});
