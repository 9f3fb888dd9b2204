import { moduleLogger, type Logger } from '../log.js';
import type { Bus, BusConsumer, ConsumedRecord, TopicPartitionOffset } from './types.js';

export interface FollowOptions {
  groupId: string;
  topic: string;
  /** From the earliest record (true), or only records written from now on. */
  fromBeginning: boolean;
  maxBatchRecords?: number;
  /** Only records of committed transactions (default). The live view reads uncommitted ones too: it wants them early. */
  readCommitted?: boolean;
  logger?: Logger;
}

/**
 * Reads every record of one topic as it comes, for readers beside the stages (emo run's reports,
 * the live view), committing after each batch (on the in-memory bus an
 * uncommitted group would hold back the producers). A record `onRecord` throws on is logged and
 * skipped, so one bad record never stalls the reader. Returns the consumer (close it when done).
 */
export async function followTopic(bus: Bus, options: FollowOptions, onRecord: (record: ConsumedRecord) => void): Promise<BusConsumer> {
  const logger = options.logger ?? moduleLogger('follow');
  const consumer = await bus.consumer({
    groupId: options.groupId,
    topics: [options.topic],
    fromBeginning: options.fromBeginning,
    readCommitted: options.readCommitted ?? true,
    ...(options.maxBatchRecords ? { maxBatchRecords: options.maxBatchRecords } : {}),
  });
  await consumer.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        try {
          onRecord(record);
        } catch (error) {
          logger.warn(
            { err: error, topic: record.topic, partition: record.partition, offset: record.offset },
            'skipped a record it cannot read',
          );
        }
      }
      const last = batch.records.at(-1);
      if (last) await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
    },
  });
  return consumer;
}

/**
 * A topic's end offsets, less the partitions with nothing left to read (start = end: empty, or every
 * record deleted by retention), which a reader's position would never reach. With
 * {@link hasReadTo}, how a reader tells it has read a topic to its end.
 */
export async function endsToRead(bus: Bus, topic: string): Promise<TopicPartitionOffset[]> {
  const [starts, ends] = await Promise.all([bus.startOffsets(topic), bus.endOffsets(topic)]);
  return ends.filter((end) => starts.find((start) => start.partition === end.partition)?.offset !== end.offset);
}

/** Whether a member's read positions (past transaction markers and aborted records) reach every one of `ends`. */
export function hasReadTo(consumer: Pick<BusConsumer, 'readPositions'>, ends: readonly TopicPartitionOffset[]): boolean {
  const positions = consumer.readPositions();
  return ends.every((end) => BigInt(positions.find((p) => p.partition === end.partition)?.offset ?? '-1') >= BigInt(end.offset));
}
