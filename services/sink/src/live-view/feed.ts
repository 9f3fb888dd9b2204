import { randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import {
  ACTIVE_STREAM_STATES,
  decodeStreamStatus,
  eventsTopic,
  followTopic,
  FrameSchema,
  specUrlDigest,
  streamStatusTopic,
  StreamSpecSchema,
  moduleLogger,
  topicName,
  topics,
  type Bus,
  type BusConsumer,
  type ConsumedRecord,
  type EmotionEvent,
  type Logger,
} from '@emostream/shared';
import type { LiveView } from './live-view.js';

/**
 * Feeds a LiveView from a deployment's topics: the frames topic (pictures) and the public events
 * topic (boxes, labels, timelines, summaries). Both `emo run --serve` and the sink service use it.
 *
 * The consumers have their own group (a fresh id per call, so several views each see everything)
 * and start at the newest records: a live view shows what happens from now on, never history. They
 * commit after each batch: on the in-memory bus an uncommitted group would hold back the producers
 * (its backlog is bounded); on Kafka it costs little. A record that cannot be read is logged and
 * skipped. With `relayRtsp`, it also reads the compacted streams and stream-status topics from their
 * beginning and keeps a relay running for each enabled rtsp:// or rtsps:// stream that ingest admitted
 * with that very URL: a spec is written by whoever can write the topic, and ingest's source policy
 * (no cloud metadata, loopback or cluster addresses unless allowed) decides what is fetched, for the
 * relay too. Returns a closer.
 */
export async function liveViewFeed(
  bus: Bus,
  prefix: string,
  view: Pick<LiveView, 'frame' | 'event' | 'addRtspSource' | 'removeRtspSource'>,
  options: {
    groupId?: string;
    logger?: Logger;
    /** Also follow the streams topic and relay its enabled RTSP streams as live video (the sink service does). */
    relayRtsp?: boolean;
  } = {},
): Promise<() => Promise<void>> {
  const logger = options.logger ?? moduleLogger('live-view-feed');
  const group = options.groupId ?? `${prefix}.live-view.${randomBytes(4).toString('hex')}`;
  const framesTopic = topicName(topics.frames, prefix);
  const events = topicName(eventsTopic, prefix);
  // Consumers must find their topics; the stages create them too (same specs), whichever runs first.
  await bus.createTopics([
    { name: framesTopic, partitions: topics.frames.defaultPartitions },
    { name: events, partitions: eventsTopic.defaultPartitions },
  ]);
  const consumers: BusConsumer[] = [];
  const close = async () => {
    await Promise.all(consumers.map((c) => c.close()));
  };
  // Each reader skips (and logs) a record it cannot read.
  const follow = async (
    what: string,
    topic: string,
    fromBeginning: boolean,
    maxBatchRecords: number | undefined,
    onRecord: (record: ConsumedRecord) => void,
  ) => {
    consumers.push(
      await followTopic(
        bus,
        {
          groupId: `${group}.${what}`,
          topic,
          fromBeginning,
          readCommitted: false,
          logger,
          ...(maxBatchRecords ? { maxBatchRecords } : {}),
        },
        onRecord,
      ),
    );
  };
  try {
    // Two readers, so big frame batches never hold back the events (or the other way round).
    await follow('frames', framesTopic, false, 16, (record) => {
      if (!record.value) return;
      const frame = fromBinary(FrameSchema, record.value);
      const ref = frame.ref;
      if (!ref || ref.endOfStream || frame.jpeg.length === 0) return;
      view.frame(ref.streamId, { seq: ref.seq, ptsMs: ref.ptsMs, width: ref.width, height: ref.height, jpeg: frame.jpeg });
    });
    await follow('events', events, false, 256, (record) => {
      if (record.value) view.event(JSON.parse(Buffer.from(record.value).toString('utf8')) as EmotionEvent);
    });
    if (options.relayRtsp) {
      const streamsTopic = topicName(topics.streams, prefix);
      await bus.createTopics([
        { name: streamsTopic, partitions: topics.streams.defaultPartitions, configEntries: topics.streams.configEntries! },
      ]);
      const statusTopic = topicName(streamStatusTopic, prefix);
      await bus.createTopics([
        { name: statusTopic, partitions: streamStatusTopic.defaultPartitions, configEntries: streamStatusTopic.configEntries },
      ]);
      // Both compacted topics from their beginning: every declared stream (a null value removes one),
      // and what ingest last did with each.
      const rtspUrls = new Map<string, string>();
      const admitted = new Map<string, string>(); // stream → digest of the URL ingest admitted
      const update = (streamId: string) => {
        const url = rtspUrls.get(streamId);
        if (url !== undefined && admitted.get(streamId) === specUrlDigest(url)) view.addRtspSource(streamId, url);
        else view.removeRtspSource(streamId);
      };
      await follow('streams', streamsTopic, true, undefined, (record) => {
        const spec = record.value ? fromBinary(StreamSpecSchema, record.value) : undefined;
        if (spec && spec.enabled && /^rtsps?:\/\//i.test(spec.url)) rtspUrls.set(record.key, spec.url);
        else rtspUrls.delete(record.key);
        update(record.key);
      });
      await follow('stream-status', statusTopic, true, undefined, (record) => {
        const status = record.value ? decodeStreamStatus(record.value) : undefined;
        // Admitted and not over (starting, running or reconnecting): the camera may be relayed.
        if (status && ACTIVE_STREAM_STATES.includes(status.state) && status.urlDigest) admitted.set(record.key, status.urlDigest);
        else admitted.delete(record.key);
        update(record.key);
      });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}
