import type { Bus, BusConsumer, ConsumedRecord } from '../src/index.js';

export { kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor, assertStaysTrue, wrapBus } from '../src/testing.js';
import { randomPrefix } from '../src/testing.js';

export const text = (value: Uint8Array | null): string => (value ? Buffer.from(value).toString('utf8') : '<null>');
export const bytes = (value: string): Uint8Array => Buffer.from(value, 'utf8');

/** Reads a whole topic with a fresh group (read-committed unless asked otherwise), into an array that fills as records arrive. */
export async function collectTopic(
  bus: Bus,
  topic: string,
  { readCommitted = true }: { readCommitted?: boolean } = {},
): Promise<{ records: ConsumedRecord[]; consumer: BusConsumer }> {
  const records: ConsumedRecord[] = [];
  const consumer = await bus.consumer({
    groupId: randomPrefix('reader'),
    topics: [topic],
    fromBeginning: true,
    readCommitted,
    sessionTimeoutMs: 6_000,
  });
  // The group never commits, so a re-joined member reads from the start again: count each record once.
  const seen = new Set<string>();
  await consumer.run({
    eachBatch: (batch) => {
      for (const record of batch.records) {
        if (seen.has(`${record.partition}:${record.offset}`)) continue;
        seen.add(`${record.partition}:${record.offset}`);
        records.push(record);
      }
      return Promise.resolve();
    },
  });
  return { records, consumer };
}
