import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { Registry } from 'prom-client';
import { BusError, FrameSchema, InMemoryBus, topicName, topics, type Bus, type ConsumedRecord } from '@emostream/shared';
import { assertStaysTrue, freePort, sharedData, testMediaDirs, waitFor, wrapBus } from '@emostream/shared/testing';
import { IngestMetrics, IngestWorker, ingestSettingsSchema, putStream } from '../src/index.js';

// The source policy refuses loopback and files outside media roots by default: these tests allow
// their own loopback servers and media explicitly.
const settings = ingestSettingsSchema.parse({
  reconnectInitialMs: 100,
  reconnectMaxMs: 400,
  connectTimeoutMs: 2_000,
  readTimeoutMs: 2_000,
  allowHosts: ['127.0.0.1'],
  mediaRoots: [...testMediaDirs(), tmpdir()],
});

async function startWorker(prefix: string, wrap: (bus: Bus) => Bus = (bus) => bus, overrides: Partial<typeof settings> = {}) {
  const bus = new InMemoryBus();
  const registry = new Registry();
  const metrics = new IngestMetrics(registry);
  const worker = new IngestWorker({ bus: wrap(bus), topicPrefix: prefix, settings: { ...settings, ...overrides }, metrics });
  await worker.start();
  const frames: ConsumedRecord[] = [];
  const reader = await bus.consumer({ groupId: 'reader', topics: [topicName(topics.frames, prefix)], fromBeginning: true });
  await reader.run({
    eachBatch: async (batch) => {
      frames.push(...batch.records);
      await reader.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
    },
  });
  const framesOf = (streamId: string) => frames.filter((r) => r.key === streamId).map((r) => fromBinary(FrameSchema, r.value!));
  const metricValue = async (name: string, labels: Record<string, string>) =>
    (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
      ?.value ?? 0;
  return { bus, worker, framesOf, metricValue, close: async () => (await worker.stop(), await bus.close()) };
}

/**
 * The bus, except that one transaction of frames (the `nth`) is committed and yet reported failed,
 * as when the broker takes a commit and goes away before answering.
 */
function commitAnswerLost(nth: number): { wrap: (bus: Bus) => Bus; lost: () => boolean } {
  let transactions = 0;
  const wrap = (bus: Bus) =>
    wrapBus(bus, {
      producer: (producer) => ({
        send: (records) => producer.send(records),
        settle: () => producer.settle(),
        close: () => producer.close(),
        async sendInTransaction(records, commit) {
          await producer.sendInTransaction(records, commit);
          if (records.some((r) => r.topic.endsWith('frames.v1')) && ++transactions === nth) {
            throw new BusError('transaction failed: the broker went away before answering the commit (test)');
          }
        },
      }),
    });
  return { wrap, lost: () => transactions >= nth };
}

/**
 * The bus, with a count of the stream specs the worker has finished handling, by stream id: the
 * positive control that a spec was read and acted on (or deliberately not).
 */
function specsHandled(): { wrap: (bus: Bus) => Bus; handled: (streamId: string) => number } {
  const counts = new Map<string, number>();
  const wrap = (bus: Bus) =>
    wrapBus(bus, {
      consumer: (consumer, options) => {
        if (!options.topics.some((t) => t.endsWith(topicName(topics.streams, '')))) return consumer;
        const run = consumer.run.bind(consumer);
        consumer.run = (handlers) =>
          run({
            ...handlers,
            eachBatch: async (batch, context) => {
              await handlers.eachBatch(batch, context);
              for (const record of batch.records) if (record.key) counts.set(record.key, (counts.get(record.key) ?? 0) + 1);
            },
          });
        return consumer;
      },
    });
  return { wrap, handled: (streamId) => counts.get(streamId) ?? 0 };
}

describe('ingest worker', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of closers) await close();
  });

  it("publishes a file's sampled frames with the reference's frame numbers, then an end-of-stream marker", async () => {
    const ingest = await startWorker('ingest-file');
    closers.push(ingest.close);
    await putStream(ingest.bus, 'ingest-file', {
      streamId: 'happy',
      url: sharedData('labelled/cremad_1001_DFA_happy.flv'),
      sampleFps: 0,
      maxWidth: 0,
    });
    await waitFor(() => ingest.framesOf('happy').some((f) => f.ref!.endOfStream), { message: 'the end-of-stream marker' });
    const frames = ingest.framesOf('happy');
    assert.deepEqual(
      frames.filter((f) => !f.ref!.endOfStream).map((f) => f.ref!.seq),
      [1, 7, 13, 19, 25, 31, 37, 43, 49, 55],
    );
    const marker = frames.at(-1)!;
    assert.equal(marker.ref!.seq, 57);
    assert.equal(marker.jpeg.length, 0);
    assert.equal(await ingest.metricValue('emostream_ingest_frames_total', { stream: 'happy' }), 10);
    assert.equal(ingest.worker.outcomes.get('happy')?.state, 'ended');
  });

  it('publishes a frame once when its transaction was committed but reported failed (the broker took the commit and went away)', async () => {
    const fault = commitAnswerLost(3);
    const ingest = await startWorker('ingest-lost-answer', fault.wrap);
    closers.push(ingest.close);
    await putStream(ingest.bus, 'ingest-lost-answer', {
      streamId: 'happy',
      url: sharedData('labelled/cremad_1001_DFA_happy.flv'),
      sampleFps: 0,
      maxWidth: 0,
    });
    await waitFor(() => ingest.framesOf('happy').some((f) => f.ref!.endOfStream), { message: 'the end-of-stream marker' });
    assert.ok(fault.lost(), 'the fault did not happen');
    assert.deepEqual(
      ingest.framesOf('happy').map((f) => f.ref!.seq),
      [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 57],
      'each frame once, then the end-of-stream marker',
    );
  });

  it('does not ingest a finished file again when its spec is delivered again (as after a rebalance), until the stream is removed and re-added', async () => {
    const specs = specsHandled();
    const ingest = await startWorker('ingest-again', specs.wrap);
    closers.push(ingest.close);
    const spec = { streamId: 'sad', url: sharedData('labelled/cremad_1001_DFA_sad.flv'), sampleFps: 0, maxWidth: 0 };
    await putStream(ingest.bus, 'ingest-again', spec);
    await waitFor(() => ingest.framesOf('sad').some((f) => f.ref!.endOfStream), { message: 'the first run to end' });
    const once = ingest.framesOf('sad').length;
    const handledBefore = specs.handled('sad');
    await putStream(ingest.bus, 'ingest-again', spec);
    // A second run would be a runner of 'sad' from the moment the spec is handled (then its frames).
    const runningSad = () => ingest.worker.running().some((s) => s.streamId === 'sad');
    await assertStaysTrue(() => ingest.framesOf('sad').length === once && !runningSad(), {
      forMs: 500,
      provenPossible: () => specs.handled('sad') > handledBefore,
      message: () => `the same spec again must not publish the file twice (${ingest.framesOf('sad').length - once} frames more)`,
      provenMessage: 'the worker handled the spec delivered again',
    });
    await putStream(ingest.bus, 'ingest-again', spec, true);
    await putStream(ingest.bus, 'ingest-again', spec);
    await waitFor(() => ingest.framesOf('sad').length === 2 * once, { message: 'a re-added stream to run again' });
  });

  it('gives a missing file, an unreachable RTSP URL and a truncated video each a clear error and a metric, while a healthy stream keeps flowing', async () => {
    const ingest = await startWorker('ingest-bad');
    closers.push(ingest.close);
    const dir = mkdtempSync(path.join(tmpdir(), 'ingest-'));
    const truncated = path.join(dir, 'truncated.flv');
    const original = readFileSync(sharedData('labelled/cremad_1001_DFA_fear.flv'));
    writeFileSync(truncated, original.subarray(0, Math.floor(original.length / 2)));
    const port = await freePort();

    await putStream(ingest.bus, 'ingest-bad', { streamId: 'missing', url: path.join(dir, 'no-such-clip.mp4'), sampleFps: 0, maxWidth: 0 });
    await putStream(ingest.bus, 'ingest-bad', { streamId: 'unreachable', url: `rtsp://127.0.0.1:${port}/live`, sampleFps: 0, maxWidth: 0 });
    await putStream(ingest.bus, 'ingest-bad', { streamId: 'truncated', url: truncated, sampleFps: 0, maxWidth: 0 });
    await putStream(ingest.bus, 'ingest-bad', {
      streamId: 'healthy',
      url: sharedData('scenes/intel_headpose_2people_female_male.gif'),
      sampleFps: 0,
      maxWidth: 0,
    });

    await waitFor(() => ingest.framesOf('healthy').some((f) => f.ref!.endOfStream), { message: 'the healthy stream to finish' });
    assert.equal(ingest.framesOf('healthy').filter((f) => !f.ref!.endOfStream).length, 28); // 56 frames at 12 fps, every 2nd

    const missing = ingest.worker.outcomes.get('missing');
    assert.equal(missing?.state, 'failed');
    assert.match(missing.state === 'failed' ? missing.error.message : '', /no such file: .*no-such-clip\.mp4/);
    assert.equal(await ingest.metricValue('emostream_ingest_stream_errors_total', { stream: 'missing', reason: 'SOURCE_NOT_FOUND' }), 1);

    await waitFor(async () => (await ingest.metricValue('emostream_ingest_reconnects_total', { stream: 'unreachable' })) >= 2, {
      message: 'reconnect attempts',
    });
    assert.ok((await ingest.metricValue('emostream_ingest_stream_errors_total', { stream: 'unreachable', reason: 'SOURCE_FAILED' })) >= 1);
    assert.ok(
      ingest.worker.running().some((s) => s.streamId === 'unreachable'),
      'an unreachable live source must keep retrying',
    );

    await waitFor(() => ingest.framesOf('truncated').some((f) => f.ref!.endOfStream), { message: 'the truncated stream to end' });
    const decoded = ingest.framesOf('truncated').filter((f) => !f.ref!.endOfStream).length;
    assert.ok(decoded > 0 && decoded < 11, `the truncated clip gave ${decoded} frames`);
    assert.equal(await ingest.metricValue('emostream_ingest_stream_errors_total', { stream: 'truncated', reason: 'SOURCE_TRUNCATED' }), 1);
  });

  it('reads an HTTP stream as a live source at the configured rate', async () => {
    const clip = readFileSync(sharedData('labelled/cremad_1001_DFA_neutral.flv'));
    const server = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': clip.length });
      response.end(clip);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const ingest = await startWorker('ingest-http');
    closers.push(async () => {
      await ingest.close();
      await new Promise((resolve) => server.close(resolve));
    });
    await putStream(ingest.bus, 'ingest-http', { streamId: 'web', url: `http://127.0.0.1:${port}/neutral.flv`, sampleFps: 5, maxWidth: 0 });
    await waitFor(() => ingest.framesOf('web').length >= 5, { message: 'five frames over HTTP' });
    const frames = ingest.framesOf('web');
    assert.deepEqual(
      frames.slice(0, 5).map((f) => f.ref!.seq),
      [1, 2, 3, 4, 5],
    );
    assert.ok(frames.every((f) => f.jpeg.length > 0 && f.ref!.width === 480));
  });

  it('starts a stream the bus refused again after a back-off, without a restart, and finishes it with every frame once (issue 27: a healthy file stopped mid-way for good)', async () => {
    // The bus refuses the stream's end marker once, for good (not retriable), as it refused a healthy stream's frames before issue 27.
    let refusals = 0;
    const wrap = (bus: Bus) =>
      wrapBus(bus, {
        producer: (producer) => ({
          send: (records) => producer.send(records),
          settle: () => producer.settle(),
          close: () => producer.close(),
          async sendInTransaction(records, commit) {
            const marker = records.some((r) => r.value !== null && Buffer.from(r.value).toString('utf8').includes('"done":true'));
            if (marker && refusals === 0) {
              refusals += 1;
              throw new BusError('transaction failed: the broker refused the records (test)', {
                code: 'RECORD_TOO_LARGE',
              });
            }
            await producer.sendInTransaction(records, commit);
          },
        }),
      });
    const ingest = await startWorker('ingest-retried', wrap);
    closers.push(ingest.close);
    await putStream(ingest.bus, 'ingest-retried', {
      streamId: 'happy',
      url: sharedData('labelled/cremad_1001_DFA_happy.flv'),
      sampleFps: 0,
      maxWidth: 0,
    });
    await waitFor(() => ingest.framesOf('happy').some((f) => f.ref!.endOfStream), { message: 'the end-of-stream marker, after the retry' });
    assert.equal(refusals, 1, 'the bus refused the marker once');
    assert.deepEqual(
      ingest.framesOf('happy').map((f) => f.ref!.seq),
      [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 57],
    );
    assert.ok((await ingest.metricValue('emostream_ingest_reconnects_total', { stream: 'happy' })) >= 1, 'the restart is counted');
    await waitFor(() => ingest.worker.outcomes.get('happy')?.state === 'ended', { message: 'the stream to end' });
  });

  it('stops a removed stream within seconds', async () => {
    const ingest = await startWorker('ingest-remove');
    closers.push(ingest.close);
    const port = await freePort();
    await putStream(ingest.bus, 'ingest-remove', { streamId: 'cam', url: `rtsp://127.0.0.1:${port}/live`, sampleFps: 0, maxWidth: 0 });
    await waitFor(() => ingest.worker.running().length === 1, { message: 'the stream to start' });
    const removedAt = Date.now();
    await putStream(ingest.bus, 'ingest-remove', { streamId: 'cam', url: '', sampleFps: 0, maxWidth: 0 }, true);
    await waitFor(() => ingest.worker.running().length === 0, { message: 'the stream to stop', timeoutMs: 5_000 });
    assert.ok(Date.now() - removedAt < 5_000);
  });

  it('starts a spec refused for want of room once a stream here stops, oldest first, unless it was removed meanwhile', async () => {
    const ingest = await startWorker('ingest-room', undefined, { maxStreams: 1 });
    closers.push(ingest.close);
    const port = await freePort();
    const put = (streamId: string, url: string, remove = false) =>
      putStream(ingest.bus, 'ingest-room', { streamId, url, sampleFps: 0, maxWidth: 0 }, remove);
    // A camera that is not answering holds the one slot (it keeps reconnecting).
    await put('camera', `rtsp://127.0.0.1:${port}/live`);
    await waitFor(() => ingest.worker.running().length === 1, { message: 'the camera to start' });
    await put('happy', sharedData('labelled/cremad_1001_DFA_happy.flv'));
    await put('sad', sharedData('labelled/cremad_1001_DFA_sad.flv'));
    await waitFor(async () => (await ingest.metricValue('emostream_ingest_streams_refused_total', { reason: 'CAPACITY' })) === 2, {
      message: 'both files refused for want of room',
    });
    await put('sad', '', true);
    await put('camera', '', true);
    await waitFor(() => ingest.framesOf('happy').some((f) => f.ref!.endOfStream), {
      message: 'the waiting file to run once the camera stopped',
    });
    // 'sad' waited in line before 'happy' was started from it, and its removal was read long before: a
    // wrongly started sad would be running once happy's run is over (or have published frames).
    await assertStaysTrue(() => ingest.framesOf('sad').length === 0 && !ingest.worker.running().some((s) => s.streamId === 'sad'), {
      forMs: 500,
      provenPossible: () => ingest.worker.running().length === 0,
      message: () => `a removed spec does not start (sad published ${ingest.framesOf('sad').length} frames)`,
      provenMessage: 'the worker has no stream running any more',
    });
    assert.equal(ingest.framesOf('happy').filter((f) => !f.ref!.endOfStream).length, 10);
    assert.equal(ingest.framesOf('sad').length, 0, 'a removed spec does not start');
  });
});
