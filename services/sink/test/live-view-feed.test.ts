/**
 * The sink's live view relays a camera named in the streams topic only once ingest has admitted that
 * very URL (its stream-status record): whoever can write the streams topic must not make the sink
 * connect where ingest's source policy would not.
 */
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
import { assertStaysTrue, waitFor, wrapBus } from '@emostream/shared/testing';
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
    // The feed's records, counted once handled: the positive control that a record it must ignore was read.
    const handled = new Map<string, number>();
    const handledOf = (topic: string) => handled.get(topic) ?? 0;
    const counted = wrapBus(bus, {
      consumer: (consumer) => {
        const run = consumer.run.bind(consumer);
        consumer.run = (handlers) =>
          run({
            ...handlers,
            eachBatch: async (batch, context) => {
              await handlers.eachBatch(batch, context);
              handled.set(batch.topic, handledOf(batch.topic) + batch.records.length);
            },
          });
        return consumer;
      },
    });
    const close = await liveViewFeed(counted, PREFIX, view, { relayRtsp: true });
    const producer = await bus.producer();
    const sent = new Map<string, number>();
    const sentTo = (topic: string) => sent.get(topic) ?? 0;
    const send = async (records: OutgoingRecord[]) => {
      for (const record of records) sent.set(record.topic, sentTo(record.topic) + 1);
      await producer.send(records);
    };
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
    /** Sends `records` and asserts `condition` holds until the feed has handled them (and 50 ms more). */
    const sendAndHold = async (records: OutgoingRecord[], condition: () => boolean, message: string) => {
      // One topic at a time, and the earlier records of it handled, so the count points at these.
      const topic = records[0]!.topic;
      await waitFor(() => handledOf(topic) === sentTo(topic), { message: `the feed to handle what was sent to ${topic} before` });
      const target = sentTo(topic) + records.length;
      await send(records);
      await assertStaysTrue(condition, {
        forMs: 50,
        provenPossible: () => handledOf(topic) >= target,
        message,
        provenMessage: `the feed handled the records sent to ${topic}`,
      });
    };
    try {
      await sendAndHold([spec(admitted)], () => started.length === 0, 'a spec ingest has not admitted is not relayed');

      await send([status('running', admitted)]);
      await waitFor(() => relays.get('door') === admitted, { message: 'the relay of the admitted URL' });

      // The spec is changed to another URL: the old admission does not cover it.
      await send([spec(hostile)]);
      await waitFor(() => !relays.has('door'), { message: 'the relay to stop' });
      await sendAndHold([status('refused')], () => !started.includes(hostile), 'the URL ingest refused was never relayed');

      await send([spec(admitted), status('running', admitted)]);
      await waitFor(() => relays.get('door') === admitted, { message: 'the relay again once admitted again' });
      await send([status('refused')]);
      await waitFor(() => !relays.has('door'), { message: 'the relay to stop when ingest refuses the stream' });
    } finally {
      await producer.close();
      await close();
      await bus.close();
    }
  });
});
