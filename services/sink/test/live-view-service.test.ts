/**
 * The sink service with SINK_LIVE_VIEW_PORT, on the real broker: its page is served, and a frame on the
 * frames topic plus a face event of that frame on the events topic reach a page's WebSocket as one
 * annotated picture; an RTSP stream on the streams topic that ingest admitted gets a relay.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import {
  EMOTION_LABELS,
  encodeMessage,
  encodeStreamStatus,
  eventsTopic,
  KafkaBus,
  makeMessage,
  specUrlDigest,
  streamStatusTopic,
  toProbabilities,
  topicName,
  topics,
  type FaceEmotionEvent,
} from '@emostream/shared';
import { faceEventFixture, freePort, kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor } from '@emostream/shared/testing';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('sink service with the live view on', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it(
    'serves the page and pushes a frame with the faces of its events, read from Kafka; relays the admitted RTSP streams of the streams topic',
    { timeout: 90_000 },
    async () => {
      const prefix = randomPrefix('live-view-svc');
      const port = await freePort();
      const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', main], {
        env: {
          ...process.env,
          KAFKA_BROKERS: kafkaBrokers(),
          EMOSTREAM_TOPIC_PREFIX: prefix,
          EMOSTREAM_OPS_PORT: '0',
          EMOSTREAM_OPS_HOST: '127.0.0.1',
          EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
          EMOSTREAM_LOG_LEVEL: 'warn',
          SINK_LIVE_VIEW_PORT: String(port),
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      cleanup.push(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      });
      const url = `http://127.0.0.1:${port}/`;
      await waitFor(async () => (await fetch(url).catch(() => undefined))?.status === 200, {
        timeoutMs: 60_000,
        message: 'the live view page of the sink service',
      });

      const messages: { type: string; streamId?: string; relay?: string }[] = [];
      const pictures: { header: { streamId: string; seq: number; faces: { label: string; trackId: number }[] }; jpeg: Buffer }[] = [];
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      cleanup.push(() => ws.terminate());
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) return void messages.push(JSON.parse(data.toString('utf8')) as (typeof messages)[number]);
        const length = data.readUInt32BE(0);
        pictures.push({
          header: JSON.parse(data.subarray(4, 4 + length).toString('utf8')) as (typeof pictures)[number]['header'],
          jpeg: data.subarray(4 + length),
        });
      });
      await once(ws, 'open');

      const bus = new KafkaBus(kafkaTestConfig('live-view-svc'));
      cleanup.push(() => bus.close());
      const producer = await bus.producer();
      const jpeg = Uint8Array.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
      const ref = { streamId: 'lobby', seq: 11, ptsMs: 440, capturedAtMs: Date.now(), width: 640, height: 480 };
      const event: FaceEmotionEvent = faceEventFixture({
        ...ref,
        emittedAtMs: Date.now(),
        trackId: 3,
        box: { x: 10, y: 20, width: 100, height: 120 },
        frame: { width: 640, height: 480 },
        label: 'Surprise',
        confidence: 0.6,
        probabilities: toProbabilities(EMOTION_LABELS.map((l) => (l === 'Surprise' ? 0.6 : 0.4 / 6))),
      });
      // The feed starts at the newest offsets once its consumers have joined: send until the picture comes.
      await waitFor(
        async () => {
          await producer.send([
            {
              topic: topicName(topics.frames, prefix),
              key: 'lobby',
              value: encodeMessage(topics.frames, makeMessage(topics.frames, { ref: { ...ref, seq: ++ref.seq }, jpeg })),
            },
          ]);
          await producer.send([
            { topic: topicName(eventsTopic, prefix), key: 'lobby', value: Buffer.from(JSON.stringify({ ...event, seq: ref.seq })) },
          ]);
          return pictures.some((p) => p.header.faces.length > 0);
        },
        { timeoutMs: 45_000, intervalMs: 1_000, message: 'an annotated picture on the page socket' },
      );
      const annotated = pictures.find((p) => p.header.faces.length > 0)!;
      assert.equal(annotated.header.streamId, 'lobby');
      assert.deepEqual(
        annotated.header.faces.map((f) => [f.trackId, f.label]),
        [[3, 'Surprise']],
      );
      assert.deepEqual([...annotated.jpeg], [...jpeg]);
      assert.ok(
        messages.some((m) => m.type === 'faces' && m.streamId === 'lobby'),
        'timeline points were pushed',
      );

      // An RTSP stream on the streams topic that ingest admitted (its status, as ingest writes it) gets
      // a relay (nothing listens there: the relay just retries). Without the status: live-view-feed.test.ts.
      const rtspUrl = 'rtsp://127.0.0.1:9/none';
      const spec = makeMessage(topics.streams, { streamId: 'door', url: rtspUrl, sampleFps: 5, enabled: true, maxWidth: 0 });
      await producer.send([{ topic: topicName(topics.streams, prefix), key: 'door', value: encodeMessage(topics.streams, spec) }]);
      await producer.send([
        {
          topic: topicName(streamStatusTopic, prefix),
          key: 'door',
          value: encodeStreamStatus({
            streamId: 'door',
            state: 'running',
            urlDigest: specUrlDigest(rtspUrl),
            instanceId: 'test',
            atMs: Date.now(),
          }),
        },
      ]);
      await waitFor(() => messages.some((m) => m.type === 'stream' && m.streamId === 'door' && m.relay === '/relay/door'), {
        timeoutMs: 30_000,
        message: 'a relay for the RTSP stream',
      });
      await producer.close();

      // SIGTERM: the stage and the view stop cleanly (exit 0), and the page's socket is closed by the server.
      const socketClosed = once(ws, 'close');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, 'the sink service stops cleanly, its live view with it');
      await socketClosed;
    },
  );
});
