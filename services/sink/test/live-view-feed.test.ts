/**
 * The sink's live view relays a camera named in the streams topic only once ingest has admitted that
 * very URL (its stream-status record): whoever can write the streams topic must not make the sink
 * connect where ingest's source policy would not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toBinary, create } from '@bufbuild/protobuf';
import {
  encodeStreamStatus,
  InMemoryBus,
  specUrlDigest,
  streamStatusTopic,
  StreamSpecSchema,
  topicName,
  topics,
  type OutgoingRecord,
} from '@emostream/shared';
import { waitFor } from '@emostream/shared/testing';
import { liveViewFeed } from '../src/index.js';

const PREFIX = 'feed';

describe('live view feed: RTSP relays', () => {
  it('relays a spec only while ingest reports it running with the same URL', async () => {
    const bus = new InMemoryBus();
    const relays = new Map<string, string>();
    const started: string[] = [];
    const view = {
      frame: () => {},
      event: () => {},
      addRtspSource: (streamId: string, url: string) => {
        relays.set(streamId, url);
        started.push(url);
      },
      removeRtspSource: (streamId: string) => void relays.delete(streamId),
    };
    const close = await liveViewFeed(bus, PREFIX, view, { relayRtsp: true });
    const producer = await bus.producer();
    const spec = (url: string): OutgoingRecord => ({
      topic: topicName(topics.streams, PREFIX),
      key: 'door',
      value: toBinary(StreamSpecSchema, create(StreamSpecSchema, { streamId: 'door', url, sampleFps: 2, maxWidth: 0, enabled: true })),
    });
    const status = (state: 'running' | 'refused', url?: string): OutgoingRecord => ({
      topic: topicName(streamStatusTopic, PREFIX),
      key: 'door',
      value: encodeStreamStatus({
        streamId: 'door',
        state,
        ...(url ? { urlDigest: specUrlDigest(url) } : { reason: 'ADDRESS_NOT_ALLOWED' }),
        instanceId: 'i',
        atMs: Date.now(),
      }),
    });
    const admitted = 'rtsp://cam.example:554/door';
    const hostile = 'rtsp://169.254.169.254:554/latest';
    const settle = () => new Promise((resolve) => setTimeout(resolve, 300));
    try {
      await producer.send([spec(admitted)]);
      await settle();
      assert.equal(started.length, 0, 'a spec ingest has not admitted is not relayed');

      await producer.send([status('running', admitted)]);
      await waitFor(() => relays.get('door') === admitted, { message: 'the relay of the admitted URL' });

      // The spec is changed to another URL: the old admission does not cover it.
      await producer.send([spec(hostile)]);
      await waitFor(() => !relays.has('door'), { message: 'the relay to stop' });
      await producer.send([status('refused')]);
      await settle();
      assert.ok(!started.includes(hostile), 'the URL ingest refused was never relayed');

      await producer.send([spec(admitted), status('running', admitted)]);
      await waitFor(() => relays.get('door') === admitted, { message: 'the relay again once admitted again' });
      await producer.send([status('refused')]);
      await waitFor(() => !relays.has('door'), { message: 'the relay to stop when ingest refuses the stream' });
    } finally {
      await producer.close();
      await close();
      await bus.close();
    }
  });
});
