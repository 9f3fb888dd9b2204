import { create, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { deadLetterOrigin } from './dead-letter-privacy.js';
import type { Registry } from 'prom-client';
import type { Bus, BusConsumer, BusProducer, ConsumedRecord, Headers, OutgoingRecord, PartitionBatch, TopicPartition } from '../bus/types.js';
import type { RuntimeConfig } from '../config/runtime-config.js';
import { DeadLetterSchema } from '../contracts/gen/emostream/v1/messages_pb.js';
import { decodeMessage, encodeMessage, topicName, topics, type Topic } from '../contracts/topics.js';
import { DecodeError, StageError, toStageError } from '../errors.js';
import { moduleLogger, type Logger } from '../log.js';
import { redactUrlsIn } from '../security/redact.js';
import { endSpan, headersFromContext, startMessageSpan } from '../telemetry/tracing.js';
import { Lifecycle } from './lifecycle.js';
import { StageMetrics } from './metrics.js';

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
  /** Throw a StageError with retriable=true to have the input redelivered; any other error dead-letters it. */
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
   * Partitions handled at once (at-least-once only: exactly-once runs one transaction at a time).
   * The backbone uses it so one model call serves faces of several partitions.
   */
  concurrentPartitions?: number;
  /** Partitions this replica now owns (per-key state can be rebuilt here, before their first message). */
  onAssigned?(partitions: TopicPartition[]): Promise<void>;
  /** Partitions this replica no longer owns (drop their state). */
  onRevoked?(partitions: TopicPartition[]): Promise<void>;
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
 *   DLQ with the reason and origin, is counted, and the stage goes on.
 */
export class StageRunner<Desc extends DescMessage = DescMessage> {
  readonly lifecycle = new Lifecycle();
  readonly metrics: StageMetrics;
  private readonly logger: Logger;
  private readonly context: HandlerContext;
  private consumer: BusConsumer | undefined;
  private producer: BusProducer | undefined;
  private stopping: Promise<void> | undefined;
  /** Per newly assigned partition: records below this offset are replayed (state only), not processed. */
  private readonly replayUntil = new Map<string, bigint>();

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
    this.lifecycle.onChange((state) => this.metrics.ready.set(state === 'RUNNING' ? 1 : 0));
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

  async start(): Promise<void> {
    const { bus, config } = this.options;
    const prefix = config.topicPrefix;
    const wanted = [this.definition.input, topics.dlq, ...this.definition.outputs];
    await bus.createTopics(
      wanted.map((t) => ({
        name: topicName(t, prefix),
        partitions: t.defaultPartitions,
        ...(t.configEntries ? { configEntries: t.configEntries } : {}),
      })),
    );
    // A stable transactional id per replica: a restarted replica fences its dead predecessor,
    // whose open transaction is then aborted rather than left half-visible.
    this.producer = await bus.producer(
      this.exactlyOnce ? { transactionalId: `${prefix}.${this.definition.name}.${config.instanceId}` } : {},
    );
    this.consumer = await bus.consumer({
      groupId: this.groupId,
      topics: [this.inputTopic],
      fromBeginning: true,
      readCommitted: true,
      maxBatchRecords: config.maxBatchSize,
      sessionTimeoutMs: config.sessionTimeoutMs,
      // One producer holds one transaction at a time, so exactly-once handles one partition at a time.
      partitionsConcurrently: this.exactlyOnce ? 1 : (this.definition.concurrentPartitions ?? 1),
    });
    await this.consumer.run({
      eachBatch: (batch, ctx) => this.processBatch(batch, ctx.isRunning),
      onAssigned: async (partitions) => {
        this.logger.info({ partitions }, 'partitions assigned');
        await this.definition.onAssigned?.(partitions);
        if (this.definition.replayRecords) await this.startReplay(partitions, this.definition.replayRecords);
      },
      onRevoked: async (partitions) => {
        this.logger.info({ partitions }, 'partitions revoked');
        await this.definition.onRevoked?.(partitions);
      },
    });
    this.lifecycle.moveTo('RUNNING');
    this.logger.info({ input: this.inputTopic, delivery: config.delivery, bus: bus.kind }, 'stage running');
  }

  /** Stops fetching, lets the in-flight batch finish and commit, then releases everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.lifecycle.moveTo('DRAINING');
      try {
        await this.consumer?.close();
        await this.producer?.close();
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

  /** Seeks each assigned partition back by up to `count` records before its committed offset. */
  private async startReplay(partitions: TopicPartition[], count: number): Promise<void> {
    const topic = this.inputTopic;
    const [committed, starts] = await Promise.all([this.options.bus.committedOffsets(this.groupId, topic), this.options.bus.startOffsets(topic)]);
    for (const tp of partitions) {
      const until = committed.find((c) => c.partition === tp.partition);
      if (!until) continue;
      const low = BigInt(starts.find((s) => s.partition === tp.partition)?.offset ?? '0');
      const from = BigInt(until.offset) - BigInt(count) > low ? BigInt(until.offset) - BigInt(count) : low;
      if (from >= BigInt(until.offset)) continue;
      this.replayUntil.set(`${tp.topic}:${tp.partition}`, BigInt(until.offset));
      this.consumer!.seek({ topic: tp.topic, partition: tp.partition, offset: String(from) });
      this.logger.info({ partition: tp.partition, from: String(from), until: until.offset }, 'replaying to rebuild state');
    }
  }

  private async processBatch(batch: PartitionBatch, isRunning: () => boolean): Promise<void> {
    const key = `${batch.topic}:${batch.partition}`;
    const until = this.replayUntil.get(key);
    if (until !== undefined) {
      const replay = batch.records.filter((r) => BigInt(r.offset) < until);
      const rest = batch.records.filter((r) => BigInt(r.offset) >= until);
      if (replay.length > 0) await this.replay(replay);
      if (rest.length > 0 || replay.length === 0) this.replayUntil.delete(key);
      if (rest.length === 0) return;
      batch = { ...batch, records: rest };
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
      results = await this.invokeHandler(inputs);
    } catch (error) {
      // Retriable: nothing is acknowledged and the bus redelivers the whole batch.
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

    // A revoked partition's batch is not acknowledged: its new owner processes it again.
    if (!isRunning()) return;

    const last = batch.records[batch.records.length - 1]!;
    const offsets = [{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }];
    const everything = [...outputs, ...deadLetters];
    if (this.exactlyOnce) {
      await this.producer!.sendInTransaction(everything, { groupId: this.groupId, offsets });
    } else {
      await this.producer!.send(everything);
      await this.consumer!.commit(offsets);
    }

    const now = Date.now();
    for (const record of batch.records) this.metrics.processLatencySeconds.observe(Math.max(0, now - record.timestampMs) / 1000);
    this.metrics.messages.inc({ outcome: 'processed' }, batch.records.length - deadLetters.length);
    if (deadLetters.length > 0) this.metrics.messages.inc({ outcome: 'dead_lettered' }, deadLetters.length);
    for (const output of outputs) this.metrics.outputs.inc({ topic: output.topic });
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

  /** Runs the handler; returns one result per input. Throws only for a retriable failure. */
  private async invokeHandler(inputs: StageInput<Desc>[]): Promise<HandlerResult[]> {
    const { handle, handleBatch } = this.definition;
    if (inputs.length === 0) return [];
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

  private deadLetter(record: ConsumedRecord, error: StageError): OutgoingRecord {
    this.logger.warn(
      { code: error.code, reason: error.message, topic: record.topic, partition: record.partition, offset: record.offset },
      'dead-lettering a message',
    );
    const origin = deadLetterOrigin(this.definition.input.base, record.value ?? new Uint8Array(), this.options.config.deadLetterImages);
    const letter = create(DeadLetterSchema, {
      stage: this.definition.name,
      originTopic: record.topic,
      originPartition: record.partition,
      originOffset: record.offset,
      originKey: Buffer.from(record.key, 'utf8'),
      originValue: origin.originValue,
      errorCode: error.code,
      // An error may quote a URL with its credentials (a source, a model store): never into the DLQ.
      reason: redactUrlsIn(error.message),
      failedAtMs: Date.now(),
    });
    return { topic: this.dlqTopic, key: record.key, value: toBinary(DeadLetterSchema, letter), headers: { ...record.headers, ...origin.headers } };
  }
}
