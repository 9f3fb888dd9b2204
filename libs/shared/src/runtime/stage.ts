import { createHash } from 'node:crypto';
import { create, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { deadLetterOrigin } from './dead-letter-privacy.js';
import type { Registry } from 'prom-client';
import type {
  Bus,
  BusConsumer,
  BusProducer,
  ConsumedRecord,
  Headers,
  OutgoingRecord,
  PartitionBatch,
  TopicPartition,
  TopicPartitionOffset,
} from '../bus/types.js';
import type { RuntimeConfig } from '../config/runtime-config.js';
import { DeadLetterSchema } from '../contracts/gen/emostream/v1/messages_pb.js';
import { decodeMessage, encodeMessage, topicName, topics, type Topic } from '../contracts/topics.js';
import { DecodeError, StageError, toStageError } from '../errors.js';
import { moduleLogger, type Logger } from '../log.js';
import { redactUrlsIn } from '../security/redact.js';
import { endSpan, headersFromContext, startMessageSpan } from '../telemetry/tracing.js';
import { BusWatch, healthWithBus, untilBusAnswers } from './bus-watch.js';
import { Lifecycle } from './lifecycle.js';
import { StageMetrics } from './metrics.js';
import type { HealthSource } from './ops-server.js';

/**
 * A dead letter must fit on the DLQ topic whatever the original's size: it keeps at most this many
 * bytes of the original value (and its size and sha256), and of its headers.
 */
export const DEAD_LETTER_ORIGINAL_BYTES = 64 * 1024;
const DEAD_LETTER_HEADER_BYTES = 16 * 1024;
/** The longest pause between retries of a batch. */
const MAX_RETRY_BACKOFF_MS = 30_000;

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

export interface StageRunnerOptions {
  bus: Bus;
  config: RuntimeConfig;
  registry: Registry;
  logger?: Logger;
}

/**
 * Runs one stage on a bus: consume → decode → handler → encode → produce → commit.
 * - at-least-once: outputs are sent and acknowledged, then the inputs' offsets are committed;
 * - exactly-once: outputs and offsets go in one Kafka transaction per batch (read_committed reads);
 * - an input that cannot be decoded, or whose handler fails with a non-retriable error, goes to the
 *   DLQ with the reason and origin (the original capped, so the letter always fits), is counted,
 *   and the stage goes on;
 * - a retriable handler error is retried `maxRetries` times with growing back-off (counted), then
 *   its inputs are dead-lettered: no record can hold a partition up for ever;
 * - outputs the broker refuses as too large dead-letter their batch's inputs instead;
 * - the bus away (broker down, coordinator loading) is waited out, at start-up too; the stage is
 *   unready meanwhile. What cannot pass — a consumer crashed for good, a refusal such as no
 *   authorisation — FAILs it. Under exactly-once a fenced producer is a partition taken over by
 *   another replica: its batch is left to that replica.
 */
export class StageRunner<Desc extends DescMessage = DescMessage> {
  readonly lifecycle = new Lifecycle();
  readonly metrics: StageMetrics;
  /** Whether the bus answers: with the lifecycle, what /readyz reports. */
  readonly busWatch: BusWatch;
  /** /healthz and /readyz of this stage: ready while RUNNING and the bus answers; healthy unless FAILED. */
  readonly health: HealthSource;
  private readonly logger: Logger;
  private readonly context: HandlerContext;
  private consumer: BusConsumer | undefined;
  private producer: BusProducer | undefined;
  private stopping: Promise<void> | undefined;
  /** Aborted as stop() begins: what onAssigned waits on ends then. */
  private readonly stopRequested = new AbortController();
  /** Partitions whose last batch was handled but not delivered: their handler state must be rebuilt first. */
  private readonly rewind = new Set<string>();
  /** The partition each open stream (record key) was last read from; a stream's end removes it. */
  private readonly streamPartitions = new Map<string, number>();
  /** Per newly assigned partition: records below this offset are replayed (state only), not processed. */
  private readonly replayUntil = new Map<string, bigint>();
  /** Per partition: the batch in hand. A partition's batches are taken in turn (see processInTurn). */
  private readonly batchInHand = new Map<string, Promise<void>>();
  /** Exactly-once: per assigned partition, the producer whose transactional id belongs to that partition. */
  private readonly partitionProducers = new Map<string, BusProducer>();
  /** Exactly-once: newly assigned partitions whose first batch is checked against the committed offset. */
  private readonly checkCommitted = new Set<string>();
  /** Per partition: the offset up to which this replica has delivered (outputs sent and offsets committed). */
  private readonly deliveredUntil = new Map<string, bigint>();

  constructor(
    readonly definition: StageDefinition<Desc>,
    private readonly options: StageRunnerOptions,
  ) {
    if (!definition.handle && !definition.handleBatch) {
      throw new Error(`stage ${definition.name} defines neither handle nor handleBatch`);
    }
    this.metrics = new StageMetrics(definition.name, options.registry);
    this.logger = options.logger ?? moduleLogger('stage', { stage: definition.name });
    const prefix = options.config.topicPrefix;
    this.context = {
      emit: (topic, value) => ({ topic: topicName(topic, prefix), key: topic.keyOf(value), value: encodeMessage(topic, value) }),
      emitRaw: (topic, key, value) => ({ topic: topicName(topic, prefix), key, value }),
      logger: this.logger,
    };
    this.busWatch = new BusWatch(options.bus, {
      stage: definition.name,
      registry: options.registry,
      thresholdMs: options.config.busUnreachableMs,
      logger: this.logger,
    });
    const health = healthWithBus(this.lifecycle, this.busWatch);
    this.health = health;
    health.onChange(() => this.metrics.ready.set(health.ready ? 1 : 0));
  }

  get groupId(): string {
    return `${this.options.config.topicPrefix}.${this.definition.name}`;
  }

  get inputTopic(): string {
    return topicName(this.definition.input, this.options.config.topicPrefix);
  }

  private get dlqTopic(): string {
    return topicName(topics.dlq, this.options.config.topicPrefix);
  }

  private get exactlyOnce(): boolean {
    return this.options.config.delivery === 'exactly-once';
  }

  /**
   * Creates the topics, connects and joins the group. Each step waits (unready) while the bus is
   * away or busy — broker down, coordinator loading, topics being created — and never gives up on a
   * transient state; only a non-retriable error (or stop()) makes it throw.
   */
  async start(): Promise<void> {
    const { bus, config } = this.options;
    const prefix = config.topicPrefix;
    this.busWatch.start();
    const step = <T>(what: string, work: () => Promise<T>) => this.untilAnswered(what, work);
    const wanted = [this.definition.input, topics.dlq, ...this.definition.outputs];
    await step('creating topics', () =>
      bus.createTopics(
        wanted.map((t) => ({
          name: topicName(t, prefix),
          partitions: t.defaultPartitions,
          ...(t.configEntries ? { configEntries: t.configEntries } : {}),
        })),
      ),
    );
    // Exactly-once writes through one producer per input partition, opened when the partition is
    // assigned (takeTransactions); at-least-once through this one.
    if (!this.exactlyOnce) this.producer = await step('connecting the producer', () => bus.producer());
    this.consumer = await step('connecting the consumer', () =>
      bus.consumer({
        groupId: this.groupId,
        topics: [this.inputTopic],
        fromBeginning: true,
        readCommitted: true,
        maxBatchRecords: config.maxBatchSize,
        sessionTimeoutMs: config.sessionTimeoutMs,
        // Exactly-once too: each partition has its own producer, so their transactions run side by side.
        partitionsConcurrently: this.definition.concurrentPartitions ?? 1,
      }),
    );
    await step('joining the group', () =>
      this.consumer!.run({
        eachBatch: (batch, ctx) => this.processInTurn(batch, ctx.isRunning),
        onAssigned: async (partitions) => {
          this.logger.info({ partitions }, 'partitions assigned');
          try {
            if (this.exactlyOnce) await this.takeTransactions(partitions);
            await this.definition.onAssigned?.(partitions, this.stopRequested.signal);
            if (this.definition.replayRecords) await this.startReplay(partitions, this.definition.replayRecords);
          } catch (error) {
            // Told to stop mid-way (a restore waiting on a broker that is away ends with STOPPED): a
            // stopping replica delivers nothing more, so the unfinished assignment is no failure.
            if (this.stopRequested.signal.aborted) {
              this.logger.info({ reason: (error as Error).message }, 'assignment work ended: the stage is stopping');
              return;
            }
            throw error;
          }
        },
        onRevoked: async (partitions) => {
          this.logger.info({ partitions }, 'partitions revoked');
          await this.definition.onRevoked?.(partitions);
          const revoked = new Set(partitions.map((p) => p.partition));
          const streams = [...this.streamPartitions].filter(([, partition]) => revoked.has(partition)).map(([streamId]) => streamId);
          for (const streamId of streams) this.streamPartitions.delete(streamId);
          if (streams.length > 0) await this.definition.onStreamsRevoked?.(streams);
        },
        // Nothing will be delivered again: a dead consumer is a dead stage (the process then exits).
        onCrash: (error) => this.fail(error),
      }),
    );
    // The consumer may have crashed for good while joining: the stage is FAILED, not running.
    if (!this.lifecycle.moveTo('RUNNING')) return;
    this.logger.info({ input: this.inputTopic, delivery: config.delivery, bus: bus.kind }, 'stage running');
  }

  /** Stops fetching, lets the in-flight batch finish and commit, then releases everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopRequested.abort();
      this.lifecycle.moveTo('DRAINING');
      this.busWatch.stop();
      try {
        await this.consumer?.close();
        await this.producer?.close();
        await Promise.all([...this.partitionProducers.values()].map((p) => p.close()));
        await this.definition.close?.();
        this.lifecycle.moveTo('STOPPED');
      } catch (error) {
        this.lifecycle.moveTo('FAILED');
        throw error;
      }
    })();
    return this.stopping;
  }

  /** Marks the stage failed (e.g. its bus is gone for good); /healthz then reports it. */
  fail(error: unknown): void {
    this.logger.error({ err: error }, 'stage failed');
    this.lifecycle.moveTo('FAILED');
  }

  /** Runs bus work until the bus answers (however long the broker is away), or until the stage stops. */
  private untilAnswered<T>(what: string, work: () => Promise<T>): Promise<T> {
    return untilBusAnswers(what, work, { logger: this.logger, stopped: () => this.stopping !== undefined });
  }

  /** Seeks each assigned partition back by up to `count` records before its committed offset. */
  private async startReplay(partitions: TopicPartition[], count: number): Promise<boolean> {
    const topic = this.inputTopic;
    let seeked = false;
    // The broker may go away between the join and these reads: wait for it however long it takes
    // (the partition's batches wait too), or the stage would go on without its state.
    const [committed, starts] = await this.untilAnswered('reading offsets to replay', () =>
      Promise.all([this.options.bus.committedOffsets(this.groupId, topic), this.options.bus.startOffsets(topic)]),
    );
    for (const tp of partitions) {
      const until = committed.find((c) => c.partition === tp.partition);
      if (!until) continue;
      const low = BigInt(starts.find((s) => s.partition === tp.partition)?.offset ?? '0');
      const from = BigInt(until.offset) - BigInt(count) > low ? BigInt(until.offset) - BigInt(count) : low;
      if (from >= BigInt(until.offset)) continue;
      this.replayUntil.set(partitionKey(tp), BigInt(until.offset));
      this.consumer!.seek({ topic: tp.topic, partition: tp.partition, offset: String(from) });
      seeked = true;
      this.logger.info({ partition: tp.partition, from: String(from), until: until.offset }, 'replaying to rebuild state');
    }
    return seeked;
  }

  /**
   * A batch whose outputs could not be delivered (its transaction aborted) left the handler's
   * per-key state ahead of what was committed: before the partition is handled again, that state
   * is rebuilt as after a reassignment — dropped, then replayed up to the committed offset (stages
   * with replayRecords) — so the redelivered inputs give the outputs they would have given.
   * Returns true when it moved the read position (the batch at hand is then not handled).
   */
  private async rewindState(tp: TopicPartition, firstOffset: string): Promise<boolean> {
    this.logger.info({ partition: tp.partition }, 'rebuilding per-key state after an undelivered batch');
    // "Undelivered" may be wrong under exactly-once: the broker may have taken the commit and gone
    // away before answering. It finishes that transaction when it is back, possibly after the
    // consumer has re-read the committed offsets (kafkajs cannot ask for stable ones, KIP-447), so
    // this batch may already be written. Found by test/faults/broker-outage.test.ts.
    const producer = this.partitionProducers.get(partitionKey(tp));
    if (producer) await this.untilAnswered('finishing the failed transaction', () => producer.settle());
    await this.definition.onRevoked?.([tp]);
    await this.definition.onAssigned?.([tp], this.stopRequested.signal);
    if (this.definition.replayRecords) return this.startReplay([tp], this.definition.replayRecords);
    return this.exactlyOnce ? this.skipCommitted(tp, firstOffset) : false;
  }

  /**
   * Exactly-once: opens a producer for each newly assigned partition, with that partition's own
   * transactional id, before anything of the partition is read. Initialising the id makes the
   * broker finish the transaction the partition's last owner left (commit or abort) and fences that
   * owner: should it still run (it lost the partition while it held a batch), its late transaction
   * is refused instead of writing the batch a second time (test/zombie.test.ts). A partition that
   * comes back gets a fresh producer for the same reason.
   */
  private async takeTransactions(partitions: TopicPartition[]): Promise<void> {
    const prefix = this.options.config.topicPrefix;
    // In parallel: each is a connection and an InitProducerId, and a replica may be given many partitions.
    await Promise.all(
      partitions.map(async (tp) => {
        const key = partitionKey(tp);
        const previous = this.partitionProducers.get(key);
        this.partitionProducers.delete(key);
        await previous?.close().catch((error: unknown) => this.logger.debug({ err: error }, 'closing a partition producer failed'));
        const transactionalId = `${prefix}.${this.definition.name}.${tp.topic}.${tp.partition}`;
        const producer = await this.untilAnswered('connecting the partition producer', () =>
          this.options.bus.producer({ transactionalId }),
        );
        this.partitionProducers.set(key, producer);
        await this.untilAnswered('finishing the transaction the partition was left with', () => producer.settle());
        // kafkajs read the committed offset when it joined, perhaps before that transaction was finished.
        if (!this.definition.replayRecords) this.checkCommitted.add(key);
      }),
    );
  }

  /** Seeks past what the committed offset shows was delivered already; true when it moved the read position. */
  private async skipCommitted(tp: TopicPartition, firstOffset: string): Promise<boolean> {
    const committed = (
      await this.untilAnswered('reading the committed offset', () => this.options.bus.committedOffsets(this.groupId, tp.topic))
    ).find((c) => c.partition === tp.partition);
    if (!committed || BigInt(committed.offset) <= BigInt(firstOffset)) return false;
    this.logger.info({ partition: tp.partition, from: committed.offset }, 'these records were delivered already: going on after them');
    this.consumer!.seek({ topic: tp.topic, partition: tp.partition, offset: committed.offset });
    return true;
  }

  /**
   * Hands a partition's batches to processBatch one at a time. kafkajs can break that: when its
   * consumer crashes (the broker went away) it rejoins without waiting for the batch in hand, whose
   * delivery goes on, and re-reads the batch from the committed offsets, which do not show that
   * delivery yet. Taken in turn, the second copy sees what the first delivered and skips it (found
   * by test/faults/broker-outage.test.ts: the first four face events twice).
   */
  private async processInTurn(batch: PartitionBatch, isRunning: () => boolean): Promise<void> {
    const key = partitionKey(batch);
    const previous = this.batchInHand.get(key);
    if (previous) this.logger.warn({ partition: batch.partition }, 'a batch of this partition is still in hand: the next waits for it');
    const current = (previous ?? Promise.resolve()).catch(() => {}).then(() => this.processBatch(batch, isRunning));
    this.batchInHand.set(key, current);
    try {
      await current;
    } finally {
      if (this.batchInHand.get(key) === current) this.batchInHand.delete(key);
    }
  }

  private async processBatch(batch: PartitionBatch, isRunning: () => boolean): Promise<void> {
    const key = partitionKey(batch);
    // A partition without its producer (this replica was fenced on it, and kafkajs still hands it
    // over): take its transactional id again, which finishes whatever its other owner left, and go
    // on from the committed offset.
    if (this.exactlyOnce && !this.partitionProducers.has(key))
      await this.takeTransactions([{ topic: batch.topic, partition: batch.partition }]);
    if (
      this.checkCommitted.delete(key) &&
      (await this.skipCommitted({ topic: batch.topic, partition: batch.partition }, batch.records[0]!.offset))
    ) {
      return;
    }
    if (this.rewind.has(key)) {
      const moved = await this.rewindState({ topic: batch.topic, partition: batch.partition }, batch.records[0]!.offset);
      this.rewind.delete(key);
      if (moved) return;
    }
    const until = this.replayUntil.get(key);
    if (until !== undefined) {
      const replay = batch.records.filter((r) => BigInt(r.offset) < until);
      const rest = batch.records.filter((r) => BigInt(r.offset) >= until);
      if (replay.length > 0) await this.replay(replay);
      if (rest.length > 0 || replay.length === 0) this.replayUntil.delete(key);
      if (rest.length === 0) return;
      batch = { ...batch, records: rest };
    }
    const delivered = this.deliveredUntil.get(key);
    if (delivered !== undefined && BigInt(batch.records[0]!.offset) < delivered) {
      const undelivered = batch.records.filter((r) => BigInt(r.offset) >= delivered);
      this.logger.warn(
        { partition: batch.partition, skipped: batch.records.length - undelivered.length },
        'records already delivered were handed again: skipped',
      );
      if (undelivered.length === 0) return;
      batch = { ...batch, records: undelivered };
    }
    const inputs: StageInput<Desc>[] = [];
    const inputRecords: ConsumedRecord[] = []; // the raw record of each input, for its dead letter
    const deadLetters: OutgoingRecord[] = [];
    for (const record of batch.records) {
      try {
        if (record.value === null) throw new DecodeError('empty record (tombstone) on a data topic');
        const value = decodeMessage(this.definition.input, record.key, record.value);
        inputs.push({ ...record, value });
        inputRecords.push(record);
      } catch (error) {
        deadLetters.push(this.deadLetter(record, toStageError(error)));
      }
    }

    const spans = inputs.map((input) => startMessageSpan(this.definition.name, input.topic, input.headers));
    const handleTimer = this.metrics.handleSeconds.startTimer();
    let results: HandlerResult[];
    try {
      results = await this.handleWithRetries(inputs, isRunning);
    } catch (error) {
      // Stopping or revoked mid-retry: nothing is acknowledged and the bus redelivers the batch.
      spans.forEach(({ span }) => endSpan(span, error as Error));
      this.metrics.messages.inc({ outcome: 'retried' }, batch.records.length);
      throw error;
    } finally {
      handleTimer();
    }
    this.metrics.batchSize.observe(batch.records.length);

    const outputs: OutgoingRecord[] = [];
    results.forEach((result, i) => {
      const { span, context } = spans[i]!;
      if (result instanceof StageError) {
        deadLetters.push(this.deadLetter(inputRecords[i]!, result));
        endSpan(span, result);
        return;
      }
      const trace = headersFromContext(context);
      for (const output of result) outputs.push({ ...output, headers: { ...output.headers, ...trace } });
      endSpan(span);
    });

    // A revoked partition's batch is not acknowledged: its new owner processes it again. Its state
    // has moved past what was delivered: should the partition come back, it is rebuilt first.
    if (!isRunning()) {
      this.rewind.add(key);
      return;
    }

    const last = batch.records[batch.records.length - 1]!;
    const offsets = [{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }];
    try {
      await this.deliver([...outputs, ...deadLetters], offsets);
    } catch (error) {
      const failure = toStageError(error);
      if (failure.retriable) {
        // The bus is away or busy: nothing was acknowledged, the bus redelivers the batch.
        this.rewind.add(key);
        this.metrics.retries.inc({ code: failure.code });
        this.metrics.messages.inc({ outcome: 'retried' }, batch.records.length);
        throw failure;
      }
      if (failure.code === 'PRODUCER_FENCED') {
        // Another replica was given this partition and took its transactional id: the batch is its
        // to deliver. This replica's state for the partition ran ahead of what it delivered.
        this.logger.warn({ partition: batch.partition }, 'another replica took this partition: its batch is left to it');
        this.rewind.add(key);
        const fenced = this.partitionProducers.get(key);
        this.partitionProducers.delete(key);
        await fenced?.close().catch((closeError: unknown) => this.logger.debug({ err: closeError }, 'closing a fenced producer failed'));
        this.metrics.messages.inc({ outcome: 'retried' }, batch.records.length);
        // Thrown so the bus does not acknowledge the batch (its new owner delivers it).
        throw failure;
      }
      if (failure.code !== 'RECORD_TOO_LARGE') {
        // A refusal no retry can cure (e.g. no authorisation): this replica must go.
        this.fail(failure);
        throw failure;
      }
      // The broker refused an output as too large: the batch's inputs are dead-lettered instead
      // (their letters are capped, so they fit) and the partition moves on.
      const refused = new StageError('OUTPUT_TOO_LARGE', `an output of this batch was refused: ${failure.message}`);
      outputs.length = 0;
      deadLetters.length = 0;
      deadLetters.push(...batch.records.map((record) => this.deadLetter(record, refused)));
      try {
        await this.deliver(deadLetters, offsets);
      } catch (again) {
        const stageError = toStageError(again);
        if (!stageError.retriable) this.fail(stageError);
        throw stageError;
      }
    }
    this.deliveredUntil.set(key, BigInt(last.offset) + 1n);

    const now = Date.now();
    for (const record of batch.records) this.metrics.processLatencySeconds.observe(Math.max(0, now - record.timestampMs) / 1000);
    this.metrics.messages.inc({ outcome: 'processed' }, batch.records.length - deadLetters.length);
    if (deadLetters.length > 0) this.metrics.messages.inc({ outcome: 'dead_lettered' }, deadLetters.length);
    for (const output of outputs) this.metrics.outputs.inc({ topic: output.topic });
  }

  /** Sends the outputs and acknowledges the inputs: one transaction (exactly-once), or send then commit. */
  private async deliver(records: OutgoingRecord[], offsets: TopicPartitionOffset[]): Promise<void> {
    if (this.exactlyOnce) {
      // processBatch took the partition's transactional id before handling the batch.
      const producer = this.partitionProducers.get(partitionKey(offsets[0]!))!;
      await producer.sendInTransaction(records, { groupId: this.groupId, offsets });
    } else {
      await this.producer!.send(records);
      await this.consumer!.commit(offsets);
    }
  }

  /**
   * Runs the handler; a retriable failure is tried again up to `maxRetries` times with a doubling
   * pause, each counted and logged, and then the inputs get that error as a non-retriable one (they
   * are dead-lettered): a record that always fails cannot hold its partition up. Throws only when
   * the partition is revoked or the stage stops during the pauses.
   */
  private async handleWithRetries(inputs: StageInput<Desc>[], isRunning: () => boolean): Promise<HandlerResult[]> {
    const { maxRetries, retryBackoffMs } = this.options.config;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.invokeHandler(inputs);
      } catch (error) {
        const failure = toStageError(error);
        if (attempt >= maxRetries) {
          this.logger.error(
            { code: failure.code, reason: failure.message, attempts: attempt + 1 },
            'retries exhausted: dead-lettering the batch',
          );
          const givenUp = new StageError(failure.code, `gave up after ${attempt + 1} attempts: ${failure.message}`, { cause: failure });
          return inputs.map(() => givenUp);
        }
        this.metrics.retries.inc({ code: failure.code });
        const delay = Math.min(MAX_RETRY_BACKOFF_MS, retryBackoffMs * 2 ** attempt);
        this.logger.warn(
          { code: failure.code, reason: failure.message, attempt: attempt + 1, maxRetries, delayMs: delay },
          'retriable failure: retrying the batch',
        );
        for (let waited = 0; waited < delay; waited += 100) {
          if (!isRunning()) throw failure;
          await new Promise((resolve) => setTimeout(resolve, Math.min(100, delay - waited)));
        }
      }
    }
  }

  /** Runs already-processed records through the handler for its state alone: outputs and errors are dropped. */
  private async replay(records: ConsumedRecord[]): Promise<void> {
    const inputs: StageInput<Desc>[] = [];
    for (const record of records) {
      if (record.value === null) continue;
      try {
        inputs.push({ ...record, value: decodeMessage(this.definition.input, record.key, record.value) });
      } catch (error) {
        // An undecodable record was dead-lettered when it was first processed.
        if (!(error instanceof DecodeError)) throw error;
      }
    }
    await this.invokeHandler(inputs);
  }

  /** Every pipeline message has a frame header: its end-of-stream marker ends the stream's bookkeeping. */
  private noteStreams(inputs: StageInput<Desc>[]): void {
    for (const input of inputs) {
      const ref = (input.value as { ref?: { endOfStream?: boolean } }).ref;
      if (ref?.endOfStream) this.streamPartitions.delete(input.key);
      else this.streamPartitions.set(input.key, input.partition);
    }
  }

  /** Runs the handler; returns one result per input. Throws only for a retriable failure. */
  private async invokeHandler(inputs: StageInput<Desc>[]): Promise<HandlerResult[]> {
    const { handle, handleBatch } = this.definition;
    if (inputs.length === 0) return [];
    this.noteStreams(inputs);
    if (handleBatch) {
      let results: HandlerResult[];
      try {
        results = await handleBatch.call(this.definition, inputs, this.context);
      } catch (error) {
        const stageError = toStageError(error);
        if (stageError.retriable) throw stageError;
        return inputs.map(() => stageError);
      }
      if (results.length !== inputs.length) {
        const error = new StageError('HANDLER_CONTRACT', `handleBatch returned ${results.length} results for ${inputs.length} inputs`);
        return inputs.map(() => error);
      }
      return results;
    }
    const results: HandlerResult[] = [];
    for (const input of inputs) {
      try {
        results.push(await handle!.call(this.definition, input, this.context));
      } catch (error) {
        const stageError = toStageError(error);
        if (stageError.retriable) throw stageError;
        results.push(stageError);
      }
    }
    return results;
  }

  /**
   * The DLQ record of an input: origin, reason, size and SHA-256 of the original, and the original itself —
   * withheld for frames, face crops and face features unless EMOSTREAM_DLQ_KEEP_IMAGES, and capped so that it always fits
   * on the topic.
   */
  private deadLetter(record: ConsumedRecord, error: StageError): OutgoingRecord {
    const original = record.value ?? new Uint8Array();
    this.logger.warn(
      {
        code: error.code,
        reason: error.message,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        bytes: original.byteLength,
      },
      'dead-lettering a message',
    );
    const origin = deadLetterOrigin(this.definition.input.base, original, this.options.config.deadLetterImages);
    const truncated = origin.originValue.byteLength > DEAD_LETTER_ORIGINAL_BYTES;
    const letter = create(DeadLetterSchema, {
      stage: this.definition.name,
      originTopic: record.topic,
      originPartition: record.partition,
      originOffset: record.offset,
      originKey: Buffer.from(record.key, 'utf8').subarray(0, DEAD_LETTER_HEADER_BYTES),
      originValue: truncated ? origin.originValue.subarray(0, DEAD_LETTER_ORIGINAL_BYTES) : origin.originValue,
      originSizeBytes: original.byteLength,
      originSha256: createHash('sha256').update(original).digest('hex'),
      originTruncated: truncated,
      errorCode: error.code,
      // An error may quote a URL with its credentials (a source, a model store): never into the DLQ.
      reason: redactUrlsIn(error.message).slice(0, 2_000),
      failedAtMs: Date.now(),
    });
    return {
      topic: this.dlqTopic,
      key: record.key.slice(0, DEAD_LETTER_HEADER_BYTES),
      value: toBinary(DeadLetterSchema, letter),
      headers: { ...cappedHeaders(record.headers), ...origin.headers },
    };
  }
}

/** The original's headers (trace context) when they are small, as they nearly always are; none otherwise. */
function cappedHeaders(headers: Headers): Headers {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) bytes += name.length + value.length;
  return bytes <= DEAD_LETTER_HEADER_BYTES ? headers : {};
}

/** A partition's key in the runner's per-partition maps. */
function partitionKey(tp: TopicPartition): string {
  return `${tp.topic}:${tp.partition}`;
}
