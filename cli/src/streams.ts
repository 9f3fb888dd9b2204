import { fromBinary } from '@bufbuild/protobuf';
import { StreamSpecSchema, topicName, topics, type Bus, type StreamSpec } from '@emostream/shared';

/**
 * The desired set of streams: reads the compacted streams topic from its start up to its current end
 * (a fresh consumer group, so no replica's position moves), latest record per stream wins.
 */
export async function listStreams(bus: Bus, topicPrefix: string): Promise<StreamSpec[]> {
  const topic = topicName(topics.streams, topicPrefix);
  if ((await bus.partitionCount(topic)) === undefined) return [];
  const ends = new Map((await bus.endOffsets(topic)).map((e) => [e.partition, Number(e.offset)]));
  const reached = new Map<number, number>();
  const latest = new Map<string, StreamSpec | null>();
  const consumer = await bus.consumer({ groupId: `${topicPrefix}.cli-list-${process.pid}-${Date.now()}`, topics: [topic], fromBeginning: true });
  const done = () => [...ends].every(([partition, end]) => end === 0 || (reached.get(partition) ?? 0) >= end);
  await consumer.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) latest.set(record.key, record.value ? fromBinary(StreamSpecSchema, record.value) : null);
      reached.set(batch.partition, Number(batch.records.at(-1)!.offset) + 1);
    },
  });
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) {
      await consumer.close();
      throw new Error(`could not read ${topic} to its end within 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await consumer.close();
  return [...latest.values()].filter((s): s is StreamSpec => s !== null).sort((a, b) => a.streamId.localeCompare(b.streamId));
}
