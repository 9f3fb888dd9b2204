import type { DescMessage } from '@bufbuild/protobuf';
import type { Bus, BusConsumer, ConsumedRecord, PartitionBatch, TopicPartition } from '../bus/types.js';
import { decodeMessage, type Topic } from '../contracts/topics.js';
import { DecodeError } from '../errors.js';
import type { Logger } from '../log.js';
import { partitionKey } from './partition-state.js';
import type { StageInput, UntilAnswered } from './stage-definition.js';

/**
 * The records to replay on a partition: up to `count` before the group's committed offset, not
 * before the partition's start. Undefined when there is nothing before the committed offset.
 */
export function replayRange(committedOffset: string, startOffset: string, count: number): { from: bigint; until: bigint } | undefined {
  const until = BigInt(committedOffset);
  const low = BigInt(startOffset);
  const from = until - BigInt(count) > low ? until - BigInt(count) : low;
  return from >= until ? undefined : { from, until };
}

export interface ReplayOptions<Desc extends DescMessage> {
  bus: Bus;
  consumer: () => BusConsumer;
  groupId: string;
  /** The input topic's full name, and its definition (to decode what is replayed). */
  inputTopic: string;
  input: Topic<Desc>;
  /** How many records before the committed offset each newly assigned partition replays. */
  records: number;
  logger: Logger;
  untilAnswered: UntilAnswered;
  /** Runs inputs through the handler for its state: outputs and errors are dropped. */
  handle(inputs: StageInput<Desc>[]): Promise<unknown>;
}

/**
 * Rebuilds a stage's per-key state on a partition it is given (a restart, a rebalance, a batch that
 * was not delivered): seeks back before the committed offset, then runs the records up to it through
 * the handler with their outputs discarded, so the state is what it was and new outputs come out the same.
 */
export class Replay<Desc extends DescMessage> {
  /** Per partition being replayed: records below this offset are replayed (state only), not processed. */
  readonly #until = new Map<string, bigint>();

  constructor(private readonly options: ReplayOptions<Desc>) {}

  /** Seeks each partition back by up to `records` before its committed offset; true when it moved any read position. */
  async seekBack(partitions: TopicPartition[]): Promise<boolean> {
    const { bus, groupId, inputTopic, logger } = this.options;
    let seeked = false;
    // The broker may go away between the join and these reads: wait for it however long it takes
    // (the partition's batches wait too), or the stage would go on without its state.
    const [committed, starts] = await this.options.untilAnswered('reading offsets to replay', () =>
      Promise.all([bus.committedOffsets(groupId, inputTopic), bus.startOffsets(inputTopic)]),
    );
    for (const tp of partitions) {
      const until = committed.find((c) => c.partition === tp.partition);
      if (!until) continue;
      const range = replayRange(until.offset, starts.find((s) => s.partition === tp.partition)?.offset ?? '0', this.options.records);
      if (!range) continue;
      this.#until.set(partitionKey(tp), range.until);
      this.options.consumer().seek({ topic: tp.topic, partition: tp.partition, offset: String(range.from) });
      seeked = true;
      logger.info({ partition: tp.partition, from: String(range.from), until: until.offset }, 'replaying to rebuild state');
    }
    return seeked;
  }

  /**
   * Replays the batch's records below the partition's replay offset and returns the rest, to be
   * processed; undefined when nothing is left. A partition's replay ends with its first record at
   * or past that offset (or a batch with none below it: the read position moved on).
   */
  async take(batch: PartitionBatch): Promise<PartitionBatch | undefined> {
    const key = partitionKey(batch);
    const until = this.#until.get(key);
    if (until === undefined) return batch;
    const replay = batch.records.filter((r) => BigInt(r.offset) < until);
    const rest = batch.records.filter((r) => BigInt(r.offset) >= until);
    if (replay.length > 0) await this.run(replay);
    if (rest.length > 0 || replay.length === 0) this.#until.delete(key);
    return rest.length === 0 ? undefined : { ...batch, records: rest };
  }

  /** Runs already-processed records through the handler for its state alone. */
  private async run(records: ConsumedRecord[]): Promise<void> {
    const inputs: StageInput<Desc>[] = [];
    for (const record of records) {
      if (record.value === null) continue;
      try {
        inputs.push({ ...record, value: decodeMessage(this.options.input, record.key, record.value) });
      } catch (error) {
        // An undecodable record was dead-lettered when it was first processed.
        if (!(error instanceof DecodeError)) throw error;
      }
    }
    await this.options.handle(inputs);
  }
}
