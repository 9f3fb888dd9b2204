import { endsToRead, eventsTopic, hasReadTo, topicName, topics, type Bus, type BusConsumer } from '@emostream/shared';
import { waitFor } from '@emostream/shared/testing';

/** The stages that read a topic (their consumer group is `<prefix>.<stage>`), with that topic. */
const READING_STAGES = [
  ['face', topics.frames],
  ['backbone', topics.faces],
  ['temporal', topics.embeddings],
  ['sink', topics.emotions],
] as const;

/**
 * Whether nothing is left to deliver in the pipeline under `prefix`: every stage's group committed its
 * input topic to the end, and `eventReader` read the events topic to the end. A late output (a
 * duplicate from a redelivered input) can only come from an input not yet committed, so once this
 * holds none can come: what a test counts then is final.
 */
export async function pipelineDrained(bus: Bus, prefix: string, eventReader: BusConsumer): Promise<boolean> {
  for (const [stage, input] of READING_STAGES) {
    const topic = topicName(input, prefix);
    const [committed, ends] = await Promise.all([bus.committedOffsets(`${prefix}.${stage}`, topic), endsToRead(bus, topic)]);
    if (!hasReadTo({ readPositions: () => committed }, ends)) return false;
  }
  return hasReadTo(eventReader, await endsToRead(bus, topicName(eventsTopic, prefix)));
}

/** Waits until {@link pipelineDrained} holds; a failed offset read (a broker just back) counts as not yet. */
export async function waitPipelineDrained(bus: Bus, prefix: string, eventReader: BusConsumer, timeoutMs = 60_000): Promise<void> {
  let lastError = '';
  await waitFor(
    () =>
      pipelineDrained(bus, prefix, eventReader).catch((error: unknown) => {
        lastError = ` (last offset read failed: ${String(error)})`;
        return false;
      }),
    {
      timeoutMs,
      intervalMs: 200,
      message: () => `every stage to commit its input to the end and the events to be read to the end${lastError}`,
    },
  );
}
