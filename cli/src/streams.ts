import { fromBinary } from '@bufbuild/protobuf';
import {
  decodeStreamStatus,
  redactUrl,
  streamStatusTopic,
  StreamSpecSchema,
  topicName,
  topics,
  type Bus,
  type StreamSpec,
  type StreamStatus,
} from '@emostream/shared';
import { assertValidStreamId } from '@emostream/ingest';

/**
 * The desired set of streams: reads the compacted streams topic from its start up to its current end
 * (a fresh consumer group, so no replica's position moves), latest record per stream wins.
 */
export async function listStreams(bus: Bus, topicPrefix: string): Promise<StreamSpec[]> {
  const latest = await readCompacted(bus, topicName(topics.streams, topicPrefix), topicPrefix, (value) =>
    fromBinary(StreamSpecSchema, value),
  );
  return [...latest.values()].filter((s): s is StreamSpec => s !== undefined).sort((a, b) => a.streamId.localeCompare(b.streamId));
}

/** What ingest last said about each stream (running on a replica, or refused and why), by stream id. */
export async function listStreamStatuses(bus: Bus, topicPrefix: string): Promise<Map<string, StreamStatus>> {
  const latest = await readCompacted(bus, topicName(streamStatusTopic, topicPrefix), topicPrefix, decodeStreamStatus);
  return new Map([...latest].filter((entry): entry is [string, StreamStatus] => entry[1] !== undefined));
}

/** One line of `emo streams list`: id, enabled, the URL without credentials, rate, and ingest's status. */
export function formatStreamLine(spec: StreamSpec, status: StreamStatus | undefined): string {
  const state = status ? `\t${status.state}${status.reason ? ` (${status.reason}: ${status.message ?? ''})` : ''}` : '';
  return `${spec.streamId}\t${spec.enabled ? 'enabled' : 'disabled'}\t${redactUrl(spec.url)}${spec.sampleFps ? `\t${spec.sampleFps} fps` : ''}${state}`;
}

/**
 * Checks a spec before `emo streams add` writes it: a valid id, and no inline credential (the
 * compacted streams topic keeps every URL forever and every stage could read it): a password or a
 * query value must be a reference, `${env:INGEST_CREDENTIAL_…}` or `${file:NAME}` (docs/operations.md).
 */
export function assertStorableSpec(streamId: string, url: string): void {
  assertValidStreamId(streamId);
  const withoutReferences = url.replace(/\$\{(env|file):[^}]*\}/g, 'REF');
  let parsed: URL | undefined;
  try {
    parsed = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? new URL(withoutReferences) : undefined;
  } catch {
    parsed = undefined;
  }
  const inlinePassword = parsed !== undefined && parsed.password !== '' && parsed.password !== 'REF';
  const inlineQuery = parsed !== undefined && [...parsed.searchParams.values()].some((value) => value !== 'REF' && value !== '');
  if (inlinePassword || inlineQuery) {
    throw new Error(
      `${redactUrl(url)} carries a credential inline (${inlinePassword ? 'a password' : 'a query value'}); the streams topic keeps it forever: ` +
        'put it in a Kubernetes Secret and name it as ${env:INGEST_CREDENTIAL_NAME} or ${file:NAME} in the URL',
    );
  }
}

async function readCompacted<T>(
  bus: Bus,
  topic: string,
  topicPrefix: string,
  decode: (value: Uint8Array) => T,
): Promise<Map<string, T | undefined>> {
  const latest = new Map<string, T | undefined>();
  if ((await bus.partitionCount(topic)) === undefined) return latest;
  const ends = new Map((await bus.endOffsets(topic)).map((e) => [e.partition, Number(e.offset)]));
  const reached = new Map<number, number>();
  const consumer = await bus.consumer({
    groupId: `${topicPrefix}.cli-list-${process.pid}-${Date.now()}`,
    topics: [topic],
    fromBeginning: true,
  });
  const done = () => [...ends].every(([partition, end]) => end === 0 || (reached.get(partition) ?? 0) >= end);
  await consumer.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) latest.set(record.key, record.value ? decode(record.value) : undefined);
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
  return latest;
}
