import { randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { eventsTopic, FrameSchema, StreamSpecSchema, moduleLogger, topicName, topics, type Bus, type BusConsumer, type PartitionBatch, type TopicPartitionOffset, type EmotionEvent, type Logger } from '@emostream/shared';
import type { LiveView } from './live-view.js';

/**
 * Feeds a LiveView from a deployment's topics: the frames topic (pictures) and the public events
 * topic (boxes, labels, timelines, summaries). Both `emo run --serve` and the sink service use it.
 *
 * The consumers have their own group (a fresh id per call, so several views each see everything)
 * and start at the newest records: a live view shows what happens from now on, never history. They
 * commit after each batch: on the in-memory bus an uncommitted group would hold back the producers
 * (its backlog is bounded); on Kafka it costs little. A record that cannot be read is logged and
 * skipped. With `relayRtsp`, it also reads the compacted streams topic from its beginning and keeps a
 * relay running for each enabled rtsp:// or rtsps:// stream. Returns a closer.
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
  try {
    // Two consumers, so big frame batches never hold back the events (or the other way round).
    const frames = await bus.consumer({ groupId: `${group}.frames`, topics: [framesTopic], fromBeginning: false, readCommitted: false, maxBatchRecords: 16 });
    consumers.push(frames);
    await frames.run({
      eachBatch: async (batch) => {
        for (const record of batch.records) {
          if (!record.value) continue;
          try {
            const frame = fromBinary(FrameSchema, record.value);
            const ref = frame.ref;
            if (!ref || ref.endOfStream || frame.jpeg.length === 0) continue;
            view.frame(ref.streamId, { seq: ref.seq, ptsMs: ref.ptsMs, width: ref.width, height: ref.height, jpeg: frame.jpeg });
          } catch (error) {
            logger.warn({ err: error, topic: record.topic, offset: record.offset }, 'live view: skipped a frame it cannot read');
          }
        }
        if (batch.records.length > 0) await frames.commit([nextOffset(batch)]);
      },
    });
    const eventsConsumer = await bus.consumer({ groupId: `${group}.events`, topics: [events], fromBeginning: false, readCommitted: false, maxBatchRecords: 256 });
    consumers.push(eventsConsumer);
    await eventsConsumer.run({
      eachBatch: async (batch) => {
        for (const record of batch.records) {
          if (!record.value) continue;
          try {
            view.event(JSON.parse(Buffer.from(record.value).toString('utf8')) as EmotionEvent);
          } catch (error) {
            logger.warn({ err: error, topic: record.topic, offset: record.offset }, 'live view: skipped an event it cannot read');
          }
        }
        if (batch.records.length > 0) await eventsConsumer.commit([nextOffset(batch)]);
      },
    });
    if (options.relayRtsp) {
      const streamsTopic = topicName(topics.streams, prefix);
      await bus.createTopics([{ name: streamsTopic, partitions: topics.streams.defaultPartitions, configEntries: topics.streams.configEntries! }]);
      const streams = await bus.consumer({ groupId: `${group}.streams`, topics: [streamsTopic], fromBeginning: true, readCommitted: false });
      consumers.push(streams);
      await streams.run({
        eachBatch: async (batch) => {
          for (const record of batch.records) {
            try {
              const spec = record.value ? fromBinary(StreamSpecSchema, record.value) : undefined;
              if (spec && spec.enabled && /^rtsps?:\/\//i.test(spec.url)) view.addRtspSource(record.key, spec.url);
              else view.removeRtspSource(record.key);
            } catch (error) {
              logger.warn({ err: error, topic: record.topic, offset: record.offset }, 'live view: skipped a stream spec it cannot read');
            }
          }
          if (batch.records.length > 0) await streams.commit([nextOffset(batch)]);
        },
      });
    }
  } catch (error) {
    await close();
    throw error;
  }
  return close;
}

function nextOffset(batch: PartitionBatch): TopicPartitionOffset {
  return { topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) };
}
