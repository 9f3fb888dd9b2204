/**
 * Ingest replicas taking a file over from one another on the real broker (issue 15, item 2): the
 * progress lives on the broker (the ingest-progress topic, written in the frames' transactions), so
 * a replica with another instance id continues after the last frame its predecessor published,
 * and a finished file is never published again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { FrameSchema, KafkaBus, topicName, topics } from '@emostream/shared';
import { concatenatedClip, kafkaTestConfig, randomPrefix, readEachRecordOnce, sharedData, waitFor } from '@emostream/shared/testing';
import { IngestMetrics, IngestWorker, ingestSettingsSchema, putStream } from '../src/index.js';

describe('ingest replicas taking a file over on the real broker', () => {
  const bus = new KafkaBus(kafkaTestConfig('ingest-takeover'));
  const dir = mkdtempSync(path.join(tmpdir(), 'ingest-takeover-'));
  after(async () => {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('continues a file after the last frame another replica published, and never publishes a finished file again', async () => {
    // The happy clip 60 times over, joined without re-encoding: 560 sampled frames, seconds of publishing.
    const file = concatenatedClip(sharedData('labelled/cremad_1001_DFA_happy.flv'), path.join(dir, 'long.flv'), 60);

    const prefix = randomPrefix('takeover');
    const frames: { seq: number; endOfStream: boolean }[] = [];
    await bus.createTopics([{ name: topicName(topics.frames, prefix), partitions: topics.frames.defaultPartitions }]);
    const reader = await readEachRecordOnce(bus, `${prefix}.reader`, [topicName(topics.frames, prefix)], (r) => {
      const ref = fromBinary(FrameSchema, r.value!).ref!;
      frames.push({ seq: ref.seq, endOfStream: ref.endOfStream });
    });
    const replica = async (instanceId: string) => {
      const registry = new Registry();
      const worker = new IngestWorker({
        bus,
        topicPrefix: prefix,
        settings: ingestSettingsSchema.parse({ mediaRoots: dir }),
        metrics: new IngestMetrics(registry),
        instanceId,
      });
      await worker.start();
      return { worker, registry };
    };

    const first = await replica('replica-a');
    await putStream(bus, prefix, { streamId: 'long', url: file, sampleFps: 0, maxWidth: 0 });
    await waitFor(() => frames.length >= 20, {
      timeoutMs: 60_000,
      message: () => `20 frames from the first replica (have ${frames.length})`,
    });
    await first.worker.stop();
    const byFirst = frames.length;
    assert.ok(!frames.some((f) => f.endOfStream), 'the first replica finished the file before it was stopped');

    const second = await replica('replica-b');
    await waitFor(() => frames.some((f) => f.endOfStream), {
      timeoutMs: 120_000,
      message: () => `the second replica to finish the file (have ${frames.length} frames)`,
    });
    await second.worker.stop();
    const seqs = frames.filter((f) => !f.endOfStream).map((f) => f.seq);
    assert.equal(seqs.length, 560, `every sampled frame once (the first replica published ${byFirst})`);
    assert.deepEqual(
      seqs,
      Array.from({ length: 560 }, (_, i) => 1 + 6 * i),
      'in order, none repeated, none missing',
    );
    const published = frames.length;

    const third = await replica('replica-c');
    const skipped = async () =>
      (await third.registry.getSingleMetric('emostream_ingest_finished_streams_skipped_total')!.get()).values.find(
        (v) => v.labels.stream === 'long',
      )?.value ?? 0;
    await waitFor(async () => (await skipped()) === 1, { timeoutMs: 60_000, message: 'the third replica to find the file finished' });
    await third.worker.stop();
    await reader.close();
    assert.equal(frames.length, published, 'a finished file was published again');
  });
});
