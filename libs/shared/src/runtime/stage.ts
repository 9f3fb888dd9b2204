import type { DescMessage } from '@bufbuild/protobuf';
import type { Registry } from 'prom-client';
import type { Bus, BusConsumer, ConsumedRecord, OutgoingRecord, PartitionBatch, TopicPartition } from '../bus/types.js';
import type { RuntimeConfig } from '../config/runtime-config.js';
import { decodeMessage, encodeMessage, topicName, topics } from '../contracts/topics.js';
import { DecodeError, StageError, toStageError } from '../errors.js';
import { moduleLogger, type Logger } from '../log.js';
import { endSpan, headersFromContext, startMessageSpan } from '../telemetry/tracing.js';
import { BusWatch, healthWithBus, untilBusAnswers } from './bus-watch.js';
import { DeadLetterWriter } from './dead-letter-writer.js';
import { AtLeastOnce, ExactlyOnce, type Delivery } from './delivery.js';
import { HandlerInvoker } from './handler-invoker.js';
import { Lifecycle } from './lifecycle.js';
import { StageMetrics } from './metrics.js';
import type { HealthSource } from './ops-server.js';
import { PartitionState } from './partition-state.js';
import { Replay } from './replay.js';
import type { HandlerContext, StageDefinition, StageInput } from './stage-definition.js';

export type { HandlerContext, HandlerResult, StageDefinition, StageInput, StageOutput } from './stage-definition.js';

export interface StageRunnerOptions {
  bus: Bus;
  config: RuntimeConfig;
  registry: Registry;
  logger?: Logger;
}

/** A handled batch: the outputs to send, and the dead letters of its inputs that failed for good. */
interface HandledBatch {
  outputs: OutgoingRecord[];
  deadLetters: OutgoingRecord[];
}

/**
 * Runs one stage on a bus: consume → decode → handler → encode → produce → commit. It composes the
 * parts that do the work: `PartitionState` (per-partition bookkeeping), a `Delivery` (`AtLeastOnce`
 * or `ExactlyOnce`), `Replay` (state rebuilt on assignment), `HandlerInvoker` (retries) and a
 * `DeadLetterWriter`.
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
  private consumer: BusConsumer | undefined;
  private stopping: Promise<void> | undefined;
  /** Aborted as stop() begins: what onAssigned waits on ends then. */
  private readonly stopRequested = new AbortController();
  private readonly partitions: PartitionState;
  private readonly delivery: Delivery;
  private readonly replay: Replay<Desc> | undefined;
  private readonly invoker: HandlerInvoker<Desc>;
  private readonly deadLetterWriter: DeadLetterWriter;

  constructor(
    readonly definition: StageDefinition<Desc>,
    private readonly options: StageRunnerOptions,
  ) {
    if (!definition.handle && !definition.handleBatch) {
      throw new Error(`stage ${definition.name} defines neither handle nor handleBatch`);
    }
    const { config } = options;
    this.metrics = new StageMetrics(definition.name, options.registry);
    this.logger = options.logger ?? moduleLogger('stage', { stage: definition.name });
    this.busWatch = new BusWatch(options.bus, {
      stage: definition.name,
      registry: options.registry,
      thresholdMs: config.busUnreachableMs,
      logger: this.logger,
    });
    const health = healthWithBus(this.lifecycle, this.busWatch);
    this.health = health;
    health.onChange(() => this.metrics.ready.set(health.ready ? 1 : 0));
    this.partitions = new PartitionState(this.logger);
    this.delivery = this.makeDelivery();
    this.invoker = new HandlerInvoker({
      definition,
      context: this.handlerContext(),
      metrics: this.metrics,
      logger: this.logger,
      maxRetries: config.maxRetries,
      retryBackoffMs: config.retryBackoffMs,
      noteInputs: (inputs) => this.noteStreams(inputs),
    });
    this.replay = definition.replayRecords ? this.makeReplay(definition.replayRecords) : undefined;
    this.deadLetterWriter = new DeadLetterWriter({
      stage: definition.name,
      inputTopicBase: definition.input.base,
      dlqTopic: topicName(topics.dlq, config.topicPrefix),
      keepImages: config.deadLetterImages,
      logger: this.logger,
    });
  }

  get groupId(): string {
    return `${this.options.config.topicPrefix}.${this.definition.name}`;
  }

  get inputTopic(): string {
    return topicName(this.definition.input, this.options.config.topicPrefix);
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
    // At-least-once opens its one producer here; exactly-once one per input partition, on assignment.
    await this.delivery.open();
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
        eachBatch: (batch, ctx) => this.partitions.inTurn(batch, () => this.processBatch(batch, ctx.isRunning)),
        onAssigned: (partitions) => this.assigned(partitions),
        onRevoked: (partitions) => this.revoked(partitions),
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
        await this.delivery.close();
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

  private makeDelivery(): Delivery {
    const { bus, config } = this.options;
    const options = {
      bus,
      consumer: () => this.consumer!,
      groupId: this.groupId,
      logger: this.logger,
      untilAnswered: <T>(what: string, work: () => Promise<T>) => this.untilAnswered(what, work),
    };
    if (config.delivery !== 'exactly-once') return new AtLeastOnce(options);
    return new ExactlyOnce({
      ...options,
      transactionalId: (tp) => `${config.topicPrefix}.${this.definition.name}.${tp.topic}.${tp.partition}`,
      replays: Boolean(this.definition.replayRecords),
    });
  }

  private makeReplay(records: number): Replay<Desc> {
    return new Replay({
      bus: this.options.bus,
      consumer: () => this.consumer!,
      groupId: this.groupId,
      inputTopic: this.inputTopic,
      input: this.definition.input,
      records,
      logger: this.logger,
      untilAnswered: (what, work) => this.untilAnswered(what, work),
      handle: (inputs) => this.invoker.invoke(inputs),
    });
  }

  private handlerContext(): HandlerContext {
    const prefix = this.options.config.topicPrefix;
    return {
      emit: (topic, value) => ({ topic: topicName(topic, prefix), key: topic.keyOf(value), value: encodeMessage(topic, value) }),
      emitRaw: (topic, key, value) => ({ topic: topicName(topic, prefix), key, value }),
      logger: this.logger,
    };
  }

  /** Runs bus work until the bus answers (however long the broker is away), or until the stage stops. */
  private untilAnswered<T>(what: string, work: () => Promise<T>): Promise<T> {
    return untilBusAnswers(what, work, { logger: this.logger, stopped: () => this.stopping !== undefined });
  }

  /** New partitions: their delivery first (exactly-once: their transactional ids), then the stage's state, then the replay. */
  private async assigned(partitions: TopicPartition[]): Promise<void> {
    this.logger.info({ partitions }, 'partitions assigned');
    try {
      await this.delivery.assigned(partitions);
      await this.definition.onAssigned?.(partitions, this.stopRequested.signal);
      await this.replay?.seekBack(partitions);
    } catch (error) {
      // Told to stop mid-way (a restore waiting on a broker that is away ends with STOPPED): a
      // stopping replica delivers nothing more, so the unfinished assignment is no failure.
      if (this.stopRequested.signal.aborted) {
        this.logger.info({ reason: (error as Error).message }, 'assignment work ended: the stage is stopping');
        return;
      }
      throw error;
    }
  }

  private async revoked(partitions: TopicPartition[]): Promise<void> {
    this.logger.info({ partitions }, 'partitions revoked');
    await this.definition.onRevoked?.(partitions);
    const streams = this.partitions.takeStreams(partitions);
    if (streams.length > 0) await this.definition.onStreamsRevoked?.(streams);
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
    await this.delivery.settle(tp);
    await this.definition.onRevoked?.([tp]);
    await this.definition.onAssigned?.([tp], this.stopRequested.signal);
    if (this.replay) return this.replay.seekBack([tp]);
    return this.delivery.afterRewind(tp, firstOffset);
  }

  /** One batch of a partition: what is left of it after the checks and the replay is handled and delivered. */
  private async processBatch(batch: PartitionBatch, isRunning: () => boolean): Promise<void> {
    const tp = { topic: batch.topic, partition: batch.partition };
    const firstOffset = batch.records[0]!.offset;
    if (await this.delivery.beforeBatch(tp, firstOffset)) return;
    if (this.partitions.needsRewind(tp)) {
      const moved = await this.rewindState(tp, firstOffset);
      this.partitions.rewound(tp);
      if (moved) return;
    }
    const unreplayed = this.replay ? await this.replay.take(batch) : batch;
    const fresh = unreplayed && this.partitions.undelivered(unreplayed);
    if (!fresh) return;
    const handled = await this.handle(fresh, isRunning);
    // A revoked partition's batch is not acknowledged: its new owner processes it again. Its state
    // has moved past what was delivered: should the partition come back, it is rebuilt first.
    if (!isRunning()) {
      this.partitions.markRewind(tp);
      return;
    }
    const delivered = await this.deliver(fresh, handled);
    this.partitions.markDelivered(tp, BigInt(fresh.records[fresh.records.length - 1]!.offset) + 1n);
    this.countDelivered(fresh.records, delivered);
  }

  /** Decodes the batch (dead-lettering what does not decode), runs the handler, and sorts its results into outputs and dead letters. */
  private async handle(batch: PartitionBatch, isRunning: () => boolean): Promise<HandledBatch> {
    const { inputs, inputRecords, deadLetters } = this.decode(batch.records);
    const spans = inputs.map((input) => startMessageSpan(this.definition.name, input.topic, input.headers));
    const handleTimer = this.metrics.handleSeconds.startTimer();
    let results;
    try {
      results = await this.invoker.withRetries(inputs, isRunning);
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
        deadLetters.push(this.deadLetterWriter.letter(inputRecords[i]!, result));
        endSpan(span, result);
        return;
      }
      const trace = headersFromContext(context);
      for (const output of result) outputs.push({ ...output, headers: { ...output.headers, ...trace } });
      endSpan(span);
    });
    return { outputs, deadLetters };
  }

  /** Each record's input, or its dead letter when it cannot be decoded. */
  private decode(records: ConsumedRecord[]): { inputs: StageInput<Desc>[]; inputRecords: ConsumedRecord[]; deadLetters: OutgoingRecord[] } {
    const inputs: StageInput<Desc>[] = [];
    const inputRecords: ConsumedRecord[] = []; // the raw record of each input, for its dead letter
    const deadLetters: OutgoingRecord[] = [];
    for (const record of records) {
      try {
        if (record.value === null) throw new DecodeError('empty record (tombstone) on a data topic');
        const value = decodeMessage(this.definition.input, record.key, record.value);
        inputs.push({ ...record, value });
        inputRecords.push(record);
      } catch (error) {
        deadLetters.push(this.deadLetterWriter.letter(record, toStageError(error)));
      }
    }
    return { inputs, inputRecords, deadLetters };
  }

  /**
   * Delivers a handled batch and acknowledges its inputs. Outputs the broker refuses as too large
   * dead-letter the batch's inputs instead (their letters are capped, so they fit) and the partition
   * moves on; returns what was delivered. Any other failure throws (see `deliveryFailed`).
   */
  private async deliver(batch: PartitionBatch, handled: HandledBatch): Promise<HandledBatch> {
    const last = batch.records[batch.records.length - 1]!;
    const offsets = [{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }];
    let failure: StageError;
    try {
      await this.delivery.deliver([...handled.outputs, ...handled.deadLetters], offsets);
      return handled;
    } catch (error) {
      failure = toStageError(error);
    }
    await this.deliveryFailed(batch, failure);
    const refused = new StageError('OUTPUT_TOO_LARGE', `an output of this batch was refused: ${failure.message}`);
    const deadLetters = batch.records.map((record) => this.deadLetterWriter.letter(record, refused));
    try {
      await this.delivery.deliver(deadLetters, offsets);
    } catch (again) {
      const stageError = toStageError(again);
      if (!stageError.retriable) this.fail(stageError);
      throw stageError;
    }
    return { outputs: [], deadLetters };
  }

  /**
   * A batch's delivery failed. Returns only for an output too large (the caller dead-letters the
   * batch instead); otherwise throws, leaving the batch unacknowledged: the bus away (redelivered),
   * the partition taken over by another replica (its batch is left to it), or a refusal no retry can
   * cure (e.g. no authorisation), which FAILs this replica.
   */
  private async deliveryFailed(batch: PartitionBatch, failure: StageError): Promise<void> {
    if (failure.retriable) {
      // The bus is away or busy: nothing was acknowledged, the bus redelivers the batch.
      this.partitions.markRewind(batch);
      this.metrics.retries.inc({ code: failure.code });
      this.metrics.messages.inc({ outcome: 'retried' }, batch.records.length);
      throw failure;
    }
    if (failure.code === 'PRODUCER_FENCED') {
      // Another replica was given this partition and took its transactional id: the batch is its
      // to deliver. This replica's state for the partition ran ahead of what it delivered.
      this.logger.warn({ partition: batch.partition }, 'another replica took this partition: its batch is left to it');
      this.partitions.markRewind(batch);
      await this.delivery.fenced(batch);
      this.metrics.messages.inc({ outcome: 'retried' }, batch.records.length);
      // Thrown so the bus does not acknowledge the batch (its new owner delivers it).
      throw failure;
    }
    if (failure.code !== 'RECORD_TOO_LARGE') {
      this.fail(failure);
      throw failure;
    }
  }

  private countDelivered(records: ConsumedRecord[], delivered: HandledBatch): void {
    const now = Date.now();
    for (const record of records) this.metrics.processLatencySeconds.observe(Math.max(0, now - record.timestampMs) / 1000);
    this.metrics.messages.inc({ outcome: 'processed' }, records.length - delivered.deadLetters.length);
    if (delivered.deadLetters.length > 0) this.metrics.messages.inc({ outcome: 'dead_lettered' }, delivered.deadLetters.length);
    for (const output of delivered.outputs) this.metrics.outputs.inc({ topic: output.topic });
  }

  /** Every pipeline message has a frame header: its end-of-stream marker ends the stream's bookkeeping. */
  private noteStreams(inputs: StageInput<Desc>[]): void {
    for (const input of inputs) {
      const ref = (input.value as { ref?: { endOfStream?: boolean } }).ref;
      this.partitions.noteStream(input.key, input.partition, ref?.endOfStream === true);
    }
  }
}
