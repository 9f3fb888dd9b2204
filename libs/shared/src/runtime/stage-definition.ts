import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { Headers, TopicPartition } from '../bus/types.js';
import type { Topic } from '../contracts/topics.js';
import type { StageError } from '../errors.js';
import type { Logger } from '../log.js';

/**
 * The replay depth of the stages that keep per-track state (temporal's windows, the sink's track
 * summaries): enough for ~20 streams per partition to replay 100 sampled frames each (20 s at
 * 5 frames/s), well past a window of 10 plus the track TTL. Temporal's TEMPORAL_REPLAY_RECORDS
 * defaults to it; the sink uses it as it is.
 */
export const DEFAULT_REPLAY_RECORDS = 2_000;

/** One decoded input message, with where it came from. */
export interface StageInput<Desc extends DescMessage> {
  value: MessageShape<Desc>;
  key: string;
  headers: Headers;
  topic: string;
  partition: number;
  offset: string;
  timestampMs: number;
}

/** One message a handler wants written; made with `HandlerContext.emit` / `emitRaw`. */
export interface StageOutput {
  topic: string;
  key: string;
  value: Uint8Array | null;
  headers?: Headers;
}

/** What a handler gets besides its input: ways to build outputs. It never sees the bus or the process. */
export interface HandlerContext {
  /** A typed output on one of the pipeline's topics, keyed by its streamId. */
  emit<Desc extends DescMessage>(topic: Topic<Desc>, value: MessageShape<Desc>): StageOutput;
  /** Bytes for a topic outside the protobuf contracts (the public JSON events). */
  emitRaw(topic: { base: string; version: number }, key: string, value: Uint8Array | null): StageOutput;
  readonly logger: Logger;
}

/** A per-message result of `handleBatch`: the outputs, or the error that dead-letters this input. */
export type HandlerResult = StageOutput[] | StageError;

/**
 * A stage: a small handler plus the topics it reads and writes. The runtime does everything else
 * (consume, decode, batch, produce, commit, DLQ, metrics, tracing, shutdown).
 * Define `handle` (one message at a time) or `handleBatch` (the whole batch, e.g. for GPU batching).
 */
export interface StageDefinition<Desc extends DescMessage = DescMessage> {
  name: string;
  input: Topic<Desc>;
  /** Topics this stage writes (created at start if missing). */
  outputs: readonly { base: string; version: number; defaultPartitions: number; configEntries?: Readonly<Record<string, string>> }[];
  /** Throw a StageError whose code is retriable (ERROR_CODES) to have the input retried; any other error dead-letters it. */
  handle?(input: StageInput<Desc>, context: HandlerContext): StageOutput[] | Promise<StageOutput[]>;
  /** Must return one result per input, in order. Throwing applies to the whole batch. */
  handleBatch?(inputs: StageInput<Desc>[], context: HandlerContext): Promise<HandlerResult[]>;
  /**
   * For stages with per-key state (temporal): on each newly assigned partition the runtime first
   * re-runs up to this many records before the group's committed offset through the handler,
   * discarding their outputs, so the state is what it was before the restart or rebalance and new
   * outputs come out the same. Must cover each key's window and expiry horizon.
   */
  replayRecords?: number;
  /**
   * Partitions handled at once, each batch delivered on its own (under exactly-once, in its
   * partition's own transaction). The backbone uses it so one model call serves faces of several partitions.
   */
  concurrentPartitions?: number;
  /**
   * Partitions this replica now owns (per-key state can be rebuilt here, before their first message).
   * `stopping` aborts once the runner begins to stop: a long wait here (a restore through a broker
   * outage) must end then, or the replica's shutdown waits for it.
   */
  onAssigned?(partitions: TopicPartition[], stopping: AbortSignal): Promise<void>;
  /** Partitions this replica no longer owns (drop their state). */
  onRevoked?(partitions: TopicPartition[]): Promise<void>;
  /**
   * The streams (record keys) this replica handled on the partitions just revoked, and not ended
   * since: per-stream state to drop, as another replica owns those streams now. The runtime keeps
   * the stream → partition bookkeeping, so stages need not.
   */
  onStreamsRevoked?(streamIds: string[]): Promise<void> | void;
  /** Releases the handler's resources (models, files) after the last batch. */
  close?(): Promise<void>;
}

/** Runs bus work until the bus answers (however long the broker is away), or until the stage stops. */
export type UntilAnswered = <T>(what: string, work: () => Promise<T>) => Promise<T>;
