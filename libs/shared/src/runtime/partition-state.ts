import type { PartitionBatch, TopicPartition } from '../bus/types.js';
import type { Logger } from '../log.js';

/** A partition's key in per-partition maps. */
export function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}

/**
 * What a stage runner knows of each partition between its batches, and of the streams it read there:
 * - batches in turn: a partition's batches are handled one at a time (see `inTurn`);
 * - delivered: the offset up to which this replica delivered (outputs sent, offsets committed), so
 *   records handed again are skipped;
 * - rewind: partitions whose last batch was handled but not delivered, so the handler's per-key
 *   state ran ahead of what was delivered and must be rebuilt before the next batch;
 * - streams: the partition each open stream (record key) was last read from, so the streams of a
 *   revoked partition can be named; a stream's end removes it.
 */
export class PartitionState {
  readonly #inHand = new Map<string, Promise<void>>();
  readonly #deliveredUntil = new Map<string, bigint>();
  readonly #rewind = new Set<string>();
  readonly #streamPartitions = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  /**
   * Runs `work` once the partition's batch in hand, if any, is done (failed or not). kafkajs can
   * break one-batch-at-a-time: when its consumer crashes (the broker went away) it rejoins without
   * waiting for the batch in hand, whose delivery goes on, and re-reads the batch from the committed
   * offsets, which do not show that delivery yet. Taken in turn, the second copy sees what the first
   * delivered and skips it (found by test/faults/broker-outage.test.ts: the first four face events twice).
   */
  async inTurn(tp: TopicPartition, work: () => Promise<void>): Promise<void> {
    const key = partitionKey(tp);
    const previous = this.#inHand.get(key);
    if (previous) this.logger.warn({ partition: tp.partition }, 'a batch of this partition is still in hand: the next waits for it');
    const current = (previous ?? Promise.resolve()).catch(() => {}).then(work);
    this.#inHand.set(key, current);
    try {
      await current;
    } finally {
      if (this.#inHand.get(key) === current) this.#inHand.delete(key);
    }
  }

  /** This replica delivered the partition's records below `nextOffset`. */
  markDelivered(tp: TopicPartition, nextOffset: bigint): void {
    this.#deliveredUntil.set(partitionKey(tp), nextOffset);
  }

  /** The batch without the records this replica has delivered already; undefined when none is left. */
  undelivered(batch: PartitionBatch): PartitionBatch | undefined {
    const delivered = this.#deliveredUntil.get(partitionKey(batch));
    if (delivered === undefined || BigInt(batch.records[0]!.offset) >= delivered) return batch;
    const records = batch.records.filter((r) => BigInt(r.offset) >= delivered);
    this.logger.warn(
      { partition: batch.partition, skipped: batch.records.length - records.length },
      'records already delivered were handed again: skipped',
    );
    return records.length === 0 ? undefined : { ...batch, records };
  }

  /** The partition's batch was handled but not delivered: its per-key state must be rebuilt first. */
  markRewind(tp: TopicPartition): void {
    this.#rewind.add(partitionKey(tp));
  }

  needsRewind(tp: TopicPartition): boolean {
    return this.#rewind.has(partitionKey(tp));
  }

  /** The partition's state was rebuilt (kept marked until then, so a failed rebuild is tried again). */
  rewound(tp: TopicPartition): void {
    this.#rewind.delete(partitionKey(tp));
  }

  /** Notes the partition a stream was read from, or forgets the stream at its end. */
  noteStream(streamId: string, partition: number, ended: boolean): void {
    if (ended) this.#streamPartitions.delete(streamId);
    else this.#streamPartitions.set(streamId, partition);
  }

  /** Forgets, and returns, the open streams last read from these partitions. */
  takeStreams(partitions: TopicPartition[]): string[] {
    const revoked = new Set(partitions.map((p) => p.partition));
    const streams = [...this.#streamPartitions].filter(([, partition]) => revoked.has(partition)).map(([streamId]) => streamId);
    for (const streamId of streams) this.#streamPartitions.delete(streamId);
    return streams;
  }
}
