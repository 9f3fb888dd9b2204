import { redactUrlsIn, topicName, type Bus, type BusProducer } from '@emostream/shared';
import type { RefusalReason } from './source-policy.js';

/**
 * What ingest did with each spec, for `emo streams list`: a compacted topic keyed by stream id,
 * JSON values. Ingest writes it; the CLI (an operator) reads it. It never holds a URL.
 */
export const streamStatusTopic = {
  base: 'stream-status',
  version: 1,
  defaultPartitions: 6,
  configEntries: { 'cleanup.policy': 'compact' },
} as const;

export interface StreamStatus {
  streamId: string;
  /** running: admitted and started on `instanceId`; refused: never fetched, `reason` says why. */
  state: 'running' | 'refused';
  reason?: RefusalReason;
  /** The human reason (URLs redacted). */
  message?: string;
  instanceId: string;
  atMs: number;
}

export function encodeStreamStatus(status: StreamStatus): Buffer {
  return Buffer.from(JSON.stringify({ ...status, ...(status.message ? { message: redactUrlsIn(status.message).slice(0, 500) } : {}) }));
}

export function decodeStreamStatus(value: Uint8Array): StreamStatus | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(value).toString('utf8')) as StreamStatus;
    return typeof parsed.streamId === 'string' && (parsed.state === 'running' || parsed.state === 'refused') ? parsed : undefined;
  } catch {
    return undefined; // not ours to fail on: the CLI shows no status for it
  }
}

/** Writes statuses; failures to write are the caller's to log (a status is advisory, streams go on). */
export class StreamStatusWriter {
  private producer: BusProducer | undefined;
  readonly topic: string;

  constructor(
    private readonly bus: Bus,
    topicPrefix: string,
  ) {
    this.topic = topicName(streamStatusTopic, topicPrefix);
  }

  async start(): Promise<void> {
    await this.bus.createTopics([
      { name: this.topic, partitions: streamStatusTopic.defaultPartitions, configEntries: streamStatusTopic.configEntries },
    ]);
    this.producer = await this.bus.producer();
  }

  async write(status: StreamStatus): Promise<void> {
    await this.producer?.send([{ topic: this.topic, key: status.streamId, value: encodeStreamStatus(status) }]);
  }

  async close(): Promise<void> {
    await this.producer?.close();
  }
}
