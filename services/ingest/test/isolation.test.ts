/**
 * Issue 27: one oversized frame failed other streams. Ingest puts the pending frames of all its
 * streams in one transaction; a record over the broker's limit made the broker refuse the lot, and
 * a healthy file stream stopped mid-way with no end marker. Here, on the real broker, the frames
 * topic's max.message.bytes is lowered so that a noise stream's frames are over it (cheap "oversized"),
 * while two healthy streams run beside it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { FrameSchema, KafkaBus, topicName, topics, type Frame } from '@emostream/shared';
import { kafkaTestConfig, sharedData, testMediaDirs, waitFor } from '@emostream/shared/testing';
import { IngestMetrics, IngestWorker, ingestSettingsSchema, putStream } from '../src/index.js';

const TOPIC_MAX_BYTES = 120_000;

describe('ingest isolates streams from an oversized frame (issue 27; real broker)', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('drops and counts the frames the broker refuses as too large, on their stream only: two healthy streams beside it publish every frame once and end', async () => {
    // 2 s of 640×640 noise: every JPEG ingest makes of it is ~400 kB, over the topic's limit.
    const dir = mkdtempSync(path.join(tmpdir(), 'poison-'));
    const noise = path.join(dir, 'noise.avi');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'nullsrc=s=640x640:r=25:d=2,geq=lum=random(1)*255:cb=random(2)*255:cr=random(3)*255',
      '-c:v',
      'mjpeg',
      '-q:v',
      '2',
      noise,
    ]);

    const prefix = `isolation-${process.pid}-${Date.now()}`;
    const bus = new KafkaBus(kafkaTestConfig('isolation-test'));
    cleanup.push(() => bus.close());
    const framesTopic = topicName(topics.frames, prefix);
    await bus.createTopics([
      { name: framesTopic, partitions: topics.frames.defaultPartitions, configEntries: { 'max.message.bytes': String(TOPIC_MAX_BYTES) } },
    ]);
    const registry = new Registry();
    const worker = new IngestWorker({
      bus,
      topicPrefix: prefix,
      metrics: new IngestMetrics(registry),
      settings: ingestSettingsSchema.parse({ mediaRoots: [...testMediaDirs(), dir] }),
    });
    await worker.start();
    cleanup.push(() => worker.stop());

    const frames: Frame[] = [];
    const reader = await bus.consumer({
      groupId: `${prefix}.reader`,
      topics: [framesTopic],
      fromBeginning: true,
      readCommitted: true,
      sessionTimeoutMs: 6_000,
    });
    await reader.run({
      eachBatch: (batch) => {
        frames.push(...batch.records.map((r) => fromBinary(FrameSchema, r.value!)));
        return Promise.resolve();
      },
    });
    cleanup.push(() => reader.close());
    const of = (streamId: string) => frames.filter((f) => f.ref!.streamId === streamId);
    const dropped = async () =>
      (await registry.getSingleMetric('emostream_ingest_frames_dropped_total')!.get()).values.find(
        (v) => v.labels.stream === 'noise' && v.labels.reason === 'refused_by_broker',
      )?.value ?? 0;

    // All three at once, so their frames share transactions.
    const clip = sharedData('labelled/cremad_1001_DFA_happy.flv');
    await Promise.all([
      putStream(bus, prefix, { streamId: 'noise', url: noise, sampleFps: 0, maxWidth: 0 }),
      putStream(bus, prefix, { streamId: 'healthy-a', url: clip, sampleFps: 0, maxWidth: 0 }),
      putStream(bus, prefix, { streamId: 'healthy-b', url: clip, sampleFps: 0, maxWidth: 0 }),
    ]);
    await waitFor(() => ['noise', 'healthy-a', 'healthy-b'].every((id) => of(id).some((f) => f.ref!.endOfStream)), {
      timeoutMs: 90_000,
      message: () =>
        `every stream's end marker (frames: ${['noise', 'healthy-a', 'healthy-b'].map((id) => `${id} ${of(id).length}`).join(', ')}; outcomes: ${JSON.stringify([...worker.outcomes])})`,
    });

    // The healthy streams: every sampled frame once, in order, then the marker (the reference's numbering: worker.test.ts).
    for (const id of ['healthy-a', 'healthy-b']) {
      assert.deepEqual(
        of(id).map((f) => f.ref!.seq),
        [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 57],
        `${id}: ${of(id)
          .map((f) => f.ref!.seq)
          .join(',')}`,
      );
      assert.equal(worker.outcomes.get(id)?.state, 'ended');
    }
    // The noise stream: its frames dropped and counted (all 10 sampled), the stream itself ended normally.
    assert.deepEqual(
      of('noise').filter((f) => !f.ref!.endOfStream),
      [],
      'a frame over the limit was published',
    );
    assert.equal(await dropped(), 10);
    assert.equal(worker.outcomes.get('noise')?.state, 'ended');
  });
});
