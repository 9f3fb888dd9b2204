import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { FrameSchema, KafkaBus, topicName, topics, type Frame } from '@emostream/shared';
import { freePort, kafkaTestConfig, loopedH264Clip, sharedData, startRtspServer, waitFor } from '@emostream/shared/testing';
import { IngestMetrics, IngestWorker, ingestSettingsSchema, putStream } from '../src/index.js';

describe('ingest from a real RTSP server, on the real broker', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('reconnects when the server stops for a few seconds, publishes a gap marker, resumes, and counts the reconnect', async () => {
    // About 11 s of H.264 made by ffmpeg from a test clip (the server plays it in real time).
    const clip = path.join(mkdtempSync(path.join(tmpdir(), 'rtsp-')), 'live.mp4');
    loopedH264Clip(sharedData('labelled/cremad_1001_DFA_happy.flv'), clip, 6);

    const port = await freePort();
    let server = await startRtspServer(port, clip);
    cleanup.push(() => server.kill('SIGKILL'));

    const prefix = `rtsp-${process.pid}-${Date.now()}`;
    const bus = new KafkaBus(kafkaTestConfig('rtsp-test'));
    const registry = new Registry();
    const worker = new IngestWorker({
      bus,
      topicPrefix: prefix,
      metrics: new IngestMetrics(registry),
      // The source policy refuses loopback by default: this test allows its own RTSP server.
      settings: ingestSettingsSchema.parse({
        allowHosts: [`127.0.0.1:${port}`],
        liveSampleFps: 5,
        reconnectInitialMs: 200,
        reconnectMaxMs: 1_000,
        readTimeoutMs: 3_000,
        connectTimeoutMs: 3_000,
      }),
    });
    await worker.start();
    cleanup.push(async () => {
      await worker.stop();
      await bus.close();
    });

    const frames: Frame[] = [];
    const reader = await bus.consumer({
      groupId: `${prefix}.reader`,
      topics: [topicName(topics.frames, prefix)],
      fromBeginning: true,
      sessionTimeoutMs: 6_000,
    });
    await reader.run({
      eachBatch: (batch) => {
        frames.push(...batch.records.map((r) => fromBinary(FrameSchema, r.value!)));
        return Promise.resolve();
      },
    });
    cleanup.push(() => reader.close());

    await putStream(bus, prefix, { streamId: 'door-cam', url: `rtsp://127.0.0.1:${port}/live`, sampleFps: 0, maxWidth: 0 });
    await waitFor(() => frames.length >= 5, { message: 'five frames from the camera' });

    server.kill('SIGTERM');
    await once(server, 'exit');
    const reconnectsBefore = await reconnects(registry);
    // Down until ingest has seen it: the lost session and at least one reconnect refused while down.
    await waitFor(async () => (await reconnects(registry)) >= reconnectsBefore + 2, {
      message: 'ingest to lose the camera and fail a reconnect while it is down',
      timeoutMs: 30_000,
    });
    server = await startRtspServer(port, clip);

    await waitFor(() => frames.some((f) => f.ref!.gapBefore), { message: 'a frame marked as following a gap', timeoutMs: 30_000 });
    const gapAt = frames.findIndex((f) => f.ref!.gapBefore);
    await waitFor(() => frames.length >= gapAt + 5, { message: 'five frames after the reconnect' });

    assert.ok((await reconnects(registry)) > reconnectsBefore, 'the reconnect was not counted');
    const seqs = frames.map((f) => f.ref!.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      'frame numbers must keep counting across the reconnect',
    );
    assert.ok(frames.every((f) => f.jpeg.length > 0 && f.ref!.width === 480 && f.ref!.height === 360));
    assert.equal(frames.filter((f) => f.ref!.gapBefore).length, 1);
  });
});

async function reconnects(registry: Registry): Promise<number> {
  const metric = (await registry.getSingleMetric('emostream_ingest_reconnects_total')!.get()).values.find(
    (v) => v.labels.stream === 'door-cam',
  );
  return metric?.value ?? 0;
}
