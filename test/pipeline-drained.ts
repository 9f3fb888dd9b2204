import { endsToRead, eventsTopic, hasReadTo, topicName, topics, type Bus, type BusConsumer } from '@emostream/shared';
import { randomPrefix, waitFor } from '@emostream/shared/testing';

/** The stages that read a topic (their consumer group is `<prefix>.<stage>`), with that topic. */
const READING_STAGES = [
  ['face', topics.frames],
  ['backbone', topics.faces],
  ['temporal', topics.embeddings],
  ['sink', topics.emotions],
] as const;

/**
 * Waits until nothing is left to deliver in the pipeline under `prefix`: every stage's group committed
 * past the last record of its input topic that a read_committed reader sees, and `eventReader` read
 * the events topic to its end. A late output (a duplicate from a redelivered input) can only come from
 * an input not yet committed, so once this holds none can come: what a test counts then is final.
 * (An end offset alone would not do: a transaction's commit marker takes an offset no group commits.)
 */
export async function waitPipelineDrained(bus: Bus, prefix: string, eventReader: BusConsumer, timeoutMs = 60_000): Promise<void> {
  const inputs = await Promise.all(
    READING_STAGES.map(async ([stage, topic]) => {
      const name = topicName(topic, prefix);
      const lastSeen = new Map<number, bigint>(); // partition → offset of its last committed record
      const reader = await bus.consumer({
        groupId: randomPrefix('drained'),
        topics: [name],
        fromBeginning: true,
        readCommitted: true,
        sessionTimeoutMs: 6_000,
      });
      await reader.run({
        eachBatch: (batch) => {
          for (const record of batch.records) {
            const offset = BigInt(record.offset);
            if (offset > (lastSeen.get(batch.partition) ?? -1n)) lastSeen.set(batch.partition, offset);
          }
          return Promise.resolve();
        },
      });
      return { group: `${prefix}.${stage}`, name, reader, lastSeen };
    }),
  );
  const drained = async () => {
    for (const { group, name, reader, lastSeen } of inputs) {
      if (!hasReadTo(reader, await endsToRead(bus, name))) return false;
      const committed = await bus.committedOffsets(group, name);
      for (const [partition, last] of lastSeen) {
        if (BigInt(committed.find((c) => c.partition === partition)?.offset ?? '-1') <= last) return false;
      }
    }
    return hasReadTo(eventReader, await endsToRead(bus, topicName(eventsTopic, prefix)));
  };
  let lastError = '';
  try {
    await waitFor(
      () =>
        drained().catch((error: unknown) => {
          lastError = ` (last offset read failed: ${String(error)})`; // a broker just back may still be loading
          return false;
        }),
      {
        timeoutMs,
        intervalMs: 200,
        message: () => `every stage to commit past the last record of its input and the events to be read to the end${lastError}`,
      },
    );
  } finally {
    await Promise.all(inputs.map(({ reader }) => reader.close()));
  }
}
