import type { Bus, BusConsumer, ConsumedRecord, KafkaConfig } from '../src/index.js';
import { randomBytes } from 'node:crypto';

/**
 * The brokers of the real Kafka broker that `npm test` starts (scripts/with-kafka.mjs sets KAFKA_BROKERS).
 * A test that needs Kafka fails here, loudly, when there is none: broker tests are never skipped.
 */
export function kafkaBrokers(): string {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test` (it starts a Kafka broker), or `node scripts/with-kafka.mjs <command>`');
  }
  return brokers;
}

/** Client settings for the test broker: plaintext on loopback, no SASL. */
export function kafkaTestConfig(clientId = 'emostream-test'): KafkaConfig {
  return { brokers: kafkaBrokers(), clientId, ssl: { enabled: false, rejectUnauthorized: true }, sasl: { mechanism: 'none' } };
}

/** A fresh topic prefix per test, so tests never see each other's records. */
export function randomPrefix(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

/** Polls `condition` until it holds (waiting on conditions, never sleeping a guessed time). */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 30_000, intervalMs = 50, message = 'condition' }: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof message === 'function' ? message() : message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const text = (value: Uint8Array | null): string => (value ? Buffer.from(value).toString('utf8') : '<null>');
export const bytes = (value: string): Uint8Array => Buffer.from(value, 'utf8');


/** Reads a whole topic with a fresh group (read-committed unless asked otherwise), into an array that fills as records arrive. */
export async function collectTopic(
  bus: Bus,
  topic: string,
  { readCommitted = true }: { readCommitted?: boolean } = {},
): Promise<{ records: ConsumedRecord[]; consumer: BusConsumer }> {
  const records: ConsumedRecord[] = [];
  const consumer = await bus.consumer({ groupId: randomPrefix('reader'), topics: [topic], fromBeginning: true, readCommitted, sessionTimeoutMs: 6_000 });
  // The group never commits, so a re-joined member reads from the start again: count each record once.
  const seen = new Set<string>();
  await consumer.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        if (seen.has(`${record.partition}:${record.offset}`)) continue;
        seen.add(`${record.partition}:${record.offset}`);
        records.push(record);
      }
    },
  });
  return { records, consumer };
}
