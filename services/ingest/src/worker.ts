import { randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import {
  decodeJson,
  BusError,
  encodeMessage,
  makeMessage,
  moduleLogger,
  StreamSpecSchema,
  topicName,
  topics,
  type Bus,
  type BusConsumer,
  type BusProducer,
  type ConsumedRecord,
  type Logger,
  type OutgoingRecord,
  type TopicPartition,
  redactUrl,
  specUrlDigest,
  untilBusAnswers,
  type StreamProgress,
} from '@emostream/shared';
import type { IngestSettings } from './config.js';
import type { IngestMetrics } from './metrics.js';
import { ProgressLog, progressRecord, TransactionalPublisher } from './progress.js';
import { SourceGuard } from './source-guard.js';
import { SourceRefusedError } from './source-policy.js';
import { StreamStatusReporter, StreamStatusWriter } from './stream-status.js';
import { backoffMs, StreamRunner, type StreamDefinition, type StreamOutcome } from './stream-runner.js';

export interface IngestWorkerOptions {
  bus: Bus;
  topicPrefix: string;
  settings: IngestSettings;
  metrics: IngestMetrics;
  logger?: Logger;
  /** Stable id of this replica (its pod name): its transactional id, so a restart fences its predecessor. */
  instanceId?: string;
  /** The streams consumer stopped for good (non-retriable): this replica can no longer follow the desired streams. */
  onCrash?: (error: Error) => void;
}

/** How long a stream start waits to learn the stream's progress (a crashed replica's open transaction must time out first). */
const PROGRESS_TIMEOUT_MS = 120_000;

/**
 * An ingest replica. The compacted streams topic holds the desired set of streams; ingest replicas
 * share its partitions through one consumer group, and each runs the streams of the partitions it
 * owns. The group never commits: on every assignment the worker reads its partitions from the start,
 * so it always sees the whole desired state (the topic is compacted, so this stays small).
 * A dead replica's partitions — and so its streams — move to the others.
 *
 * Frames go out in transactions together with the stream's progress (ingest-progress topic), and
 * a stream (re)started on any replica continues after the last frame the broker acknowledged: a
 * finished file is never published again, and a file taken over mid-way continues where it was.
 * While the bus is away, publishing waits and retries; nothing is marked failed or finished.
 */
export class IngestWorker {
  private readonly runners = new Map<
    string,
    { runner: StreamRunner; partition: TopicPartition; spec: StreamDefinition; status: StreamStatusReporter }
  >();
  private readonly logger: Logger;
  private consumer: BusConsumer | undefined;
  private producer: BusProducer | undefined;
  /** Source policy, stream cap and statuses: every spec from the topic passes it before it starts. */
  private readonly guard: SourceGuard;
  private readonly status: StreamStatusWriter;
  private publisher: TransactionalPublisher | undefined;
  private progress: ProgressLog | undefined;
  private stopping = false;
  /**
   * Specs refused because this replica ran its most streams (CAPACITY), oldest first. When a stream
   * here ends or stops they are applied again, so a camera refused for want of room starts once
   * there is room, not at the next restart or rebalance.
   */
  private readonly waitingForRoom = new Map<string, ConsumedRecord>();
  /** Spec records are applied one at a time, from the topic or from waitingForRoom. */
  private applying: Promise<void> = Promise.resolve();
  /**
   * Streams that failed (not refused) wait here to start again, with back-off: a failure of one
   * stream (a source that went away, a bus refusal) never needs an ingest restart to recover.
   */
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; record: ConsumedRecord }>();
  /** Failed starts in a row per stream, for the back-off; reset when a stream ends or is replaced. */
  private readonly failuresInRow = new Map<string, number>();
  /** Outcomes of finished streams, for tests and the CLI. */
  readonly outcomes = new Map<string, StreamOutcome>();

  constructor(private readonly options: IngestWorkerOptions) {
    this.logger = options.logger ?? moduleLogger('ingest-worker');
    this.status = new StreamStatusWriter(options.bus, options.topicPrefix);
    this.guard = new SourceGuard({
      settings: options.settings,
      metrics: options.metrics,
      status: this.status,
      ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    });
  }

  get streamsTopic(): string {
    return topicName(topics.streams, this.options.topicPrefix);
  }

  get framesTopic(): string {
    return topicName(topics.frames, this.options.topicPrefix);
  }

  get progressTopic(): string {
    return topicName(topics.ingestProgress, this.options.topicPrefix);
  }

  /** Creates the topics, connects and joins; waits (unready) while the bus is away or busy, never fails for that. */
  async start(): Promise<void> {
    const { bus, topicPrefix } = this.options;
    const step = <T>(what: string, work: () => Promise<T>) =>
      untilBusAnswers(what, work, { logger: this.logger, stopped: () => this.stopping });
    await step('creating topics', () =>
      bus.createTopics([
        {
          name: this.streamsTopic,
          partitions: topics.streams.defaultPartitions,
          ...(topics.streams.configEntries ? { configEntries: topics.streams.configEntries } : {}),
        },
        { name: this.framesTopic, partitions: topics.frames.defaultPartitions },
        {
          name: this.progressTopic,
          partitions: topics.ingestProgress.defaultPartitions,
          configEntries: topics.ingestProgress.configEntries,
        },
      ]),
    );
    const instanceId = this.options.instanceId ?? randomBytes(6).toString('hex');
    this.producer = await step('connecting the producer', () => bus.producer({ transactionalId: `${topicPrefix}.ingest.${instanceId}` }));
    await step('starting the stream statuses', () => this.status.start());
    const progress = new ProgressLog(bus, this.progressTopic, this.logger);
    await step('reading the stream progress', () => progress.start(`${topicPrefix}.ingest-progress.${instanceId}`));
    this.progress = progress;
    this.publisher = new TransactionalPublisher(this.producer, {
      logger: this.logger,
      retries: this.options.metrics.publishRetries,
      committedAfterAll: (records) => this.progressShows(records),
    });
    this.consumer = await step('connecting the consumer', () =>
      bus.consumer({ groupId: `${topicPrefix}.ingest`, topics: [this.streamsTopic], fromBeginning: true, readCommitted: true }),
    );
    await step('joining the group', () =>
      this.consumer!.run({
        eachBatch: async (batch) => {
          for (const record of batch.records) await this.inTurn(() => this.apply(record));
        },
        onRevoked: async (partitions) => {
          // Their new owner reads the specs of these partitions from the start.
          for (const [streamId, record] of this.waitingForRoom)
            if (partitions.some((p) => p.topic === record.topic && p.partition === record.partition)) this.waitingForRoom.delete(streamId);
          for (const [streamId, retry] of [...this.retries])
            if (partitions.some((p) => p.topic === retry.record.topic && p.partition === retry.record.partition))
              this.cancelRetry(streamId);
          await Promise.all(
            [...this.runners.entries()]
              .filter(([, r]) => partitions.some((p) => p.topic === r.partition.topic && p.partition === r.partition.partition))
              .map(([streamId]) => this.stopStream(streamId, 'partition revoked')),
          );
        },
        onCrash: (error) => this.options.onCrash?.(error),
      }),
    );
  }

  /** Streams running now. */
  running(): StreamDefinition[] {
    return [...this.runners.values()].map((r) => r.spec);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const streamId of [...this.retries.keys()]) this.cancelRetry(streamId);
    await this.consumer?.close();
    await Promise.all([...this.runners.keys()].map((id) => this.stopStream(id, 'worker stopping')));
    await this.publisher?.close();
    await this.progress?.close();
    await this.producer?.close();
    await this.status.close();
  }

  /**
   * Whether a transaction of frames and progress records is on the bus: its last progress record is
   * what the progress topic shows now (or it shows a later frame of that stream). A transaction of
   * tombstones alone is answered "no": writing one again changes nothing.
   */
  private async progressShows(records: OutgoingRecord[]): Promise<boolean> {
    const last = records.filter((r) => r.topic === this.progressTopic && r.value !== null).at(-1);
    if (!last?.value) return false;
    const written = decodeJson(topics.ingestProgress, last.value, last.key);
    const now = await this.progress!.current(last.key, { timeoutMs: PROGRESS_TIMEOUT_MS, stopped: () => this.stopping });
    if (!now || now.spec !== written.spec) return false;
    return now.lastSeq > written.lastSeq || (now.lastSeq === written.lastSeq && (now.done || !written.done));
  }

  private inTurn(work: () => Promise<void>): Promise<void> {
    const done = this.applying.then(work);
    this.applying = done.catch(() => undefined);
    return done;
  }

  /** A stream here ended or stopped: the specs waiting for room get it, oldest first. */
  private admitWaiting(): void {
    if (this.stopping || this.waitingForRoom.size === 0) return;
    this.inTurn(async () => {
      for (const record of [...this.waitingForRoom.values()]) {
        if (this.stopping || this.runners.size >= this.options.settings.maxStreams) return;
        // Not superseded meanwhile (a newer spec, a removal or a revoked partition drops it).
        if (this.waitingForRoom.get(record.key) === record) await this.apply(record);
      }
    }).catch((error: unknown) => this.logger.error({ err: error }, 'starting the streams that waited for room failed'));
  }

  /** One record of the streams topic: start, restart or stop a stream. */
  private async apply(record: ConsumedRecord): Promise<void> {
    const streamId = record.key;
    // The newest record of a stream decides: an older one waiting for room or a retry is dropped.
    this.waitingForRoom.delete(streamId);
    this.cancelRetry(streamId);
    if (record.value === null) {
      await this.stopStream(streamId, 'removed');
      await this.forgetStatus(streamId);
      await this.guard.forget(streamId);
      // Forgotten: added again, the stream starts from its beginning.
      await this.publisher!.publish([progressRecord(this.progressTopic, streamId, null)]);
      return;
    }
    let spec;
    try {
      spec = fromBinary(StreamSpecSchema, record.value);
    } catch (error) {
      this.logger.error({ streamId, err: error }, 'ignoring an undecodable stream spec');
      return;
    }
    if (!spec.enabled) {
      await this.stopStream(streamId, 'disabled');
      await this.forgetStatus(streamId);
      return;
    }
    const wanted: StreamDefinition = { streamId, url: spec.url, sampleFps: spec.sampleFps, maxWidth: spec.maxWidth };
    const key = JSON.stringify(wanted);
    const current = this.runners.get(streamId);
    if (current && JSON.stringify(current.spec) === key) return;
    if (current) await this.stopStream(streamId, 'changed');
    // Where the stream got to, on whichever replica: a finished file is not read again; an
    // interrupted one (and a live source's numbering) continues after its last published frame.
    const progress = await untilBusAnswers(
      'reading the stream progress',
      () => this.progress!.current(streamId, { timeoutMs: PROGRESS_TIMEOUT_MS, stopped: () => this.stopping }),
      { logger: this.logger, stopped: () => this.stopping },
    );
    if (progress?.spec === key && progress.done) {
      this.logger.info({ streamId, lastSeq: progress.lastSeq }, 'stream already finished: not published again');
      this.options.metrics.finishedSkipped.inc({ stream: streamId });
      return;
    }
    const resumeAfter = progress?.spec === key ? progress.lastSeq : 0;
    const refusal = await this.guard.admit(wanted, this.runners.size);
    if (refusal) {
      if (refusal.reason === 'CAPACITY') this.waitingForRoom.set(streamId, record);
      return;
    }
    this.startStream({ ...wanted, ...(resumeAfter > 0 ? { resumeAfter } : {}) }, key, record);
  }

  private startStream(spec: StreamDefinition, specKey: string, record: ConsumedRecord): void {
    const partition: TopicPartition = { topic: record.topic, partition: record.partition };
    const status = new StreamStatusReporter({
      writer: this.status,
      streamId: spec.streamId,
      urlDigest: specUrlDigest(spec.url),
      instanceId: this.options.instanceId ?? '',
      intervalMs: this.options.settings.statusIntervalMs,
    });
    const runner = new StreamRunner(spec, {
      publish: (frame, signal) => {
        const progress: StreamProgress = { spec: specKey, lastSeq: frame.ref!.seq, done: frame.ref!.endOfStream };
        return this.publisher!.publish(
          [
            { topic: this.framesTopic, key: spec.streamId, value: encodeMessage(topics.frames, frame) },
            progressRecord(this.progressTopic, spec.streamId, progress),
          ],
          signal,
        );
      },
      metrics: this.options.metrics,
      settings: this.options.settings,
      prepareSource: (source, signal) => this.guard.prepare(spec.streamId, source, signal),
      onEvent: (event) => (event.kind === 'frame' ? status.frame(event.frames) : status.reconnecting(event.attempt, event.error)),
    });
    const { resumeAfter: _resumed, ...wanted } = spec;
    this.runners.set(spec.streamId, { runner, partition, spec: wanted, status });
    this.logger.info({ streamId: spec.streamId, url: redactUrl(spec.url), resumeAfter: spec.resumeAfter }, 'stream started');
    void runner.done
      .then((outcome) => {
        status.ended(outcome);
        this.outcomes.set(spec.streamId, outcome);
        const current = this.runners.get(spec.streamId)?.runner === runner;
        if (current) {
          this.runners.delete(spec.streamId);
          this.admitWaiting();
        }
        if (outcome.state === 'failed' && outcome.error instanceof SourceRefusedError) {
          // Refused on connection (ffmpeg refused a playlist, the RTSP guard a redirect): reported like any refusal.
          void this.guard.reportRefusal(spec.streamId, outcome.error);
        } else if (
          outcome.state === 'failed' &&
          current &&
          !this.stopping &&
          (outcome.error.retriable || outcome.error instanceof BusError)
        ) {
          // Not the source's fault (a missing file stays failed until its spec changes): the bus refused its frames.
          this.retryLater(spec.streamId, record);
        } else if (outcome.state === 'ended') {
          this.failuresInRow.delete(spec.streamId);
        }
        // The bus refuses this replica's frames for good (e.g. fenced by another replica with its id).
        if (
          outcome.state === 'failed' &&
          outcome.error instanceof BusError &&
          (outcome.error.code === 'BUS_REFUSED' || outcome.error.code === 'PRODUCER_FENCED')
        )
          this.options.onCrash?.(outcome.error);
      })
      .catch((error: unknown) => this.logger.error({ err: error, streamId: spec.streamId }, 'stream runner failed unexpectedly'));
  }

  /** A removed or disabled stream has no status: nothing runs it, and `emo streams list` shows none. */
  private async forgetStatus(streamId: string): Promise<void> {
    try {
      await this.status.remove(streamId);
    } catch (error) {
      // Advisory, as every status: the stream is stopped whether or not this is written.
      this.logger.warn({ err: error, streamId }, 'could not delete a stream status');
    }
  }

  /**
   * A stream that failed for a reason that may pass (the bus refused its frames: before issue 27, a
   * healthy file stopped mid-way when another stream's frame was too large) starts again after a back-off (INGEST_RECONNECT_INITIAL_MS doubling up to
   * INGEST_RECONNECT_MAX_MS), from the record that started it: where its progress says it got to
   * (a file that was finished is not read again). A newer record, a revoked partition or a stop cancels it.
   */
  private retryLater(streamId: string, record: ConsumedRecord): void {
    const { settings, metrics } = this.options;
    const attempt = (this.failuresInRow.get(streamId) ?? 0) + 1;
    this.failuresInRow.set(streamId, attempt);
    const delayMs = backoffMs(attempt, settings.reconnectInitialMs, settings.reconnectMaxMs, Math.random);
    metrics.reconnects.inc({ stream: streamId });
    this.logger.warn({ streamId, attempt, delayMs }, 'stream failed; starting it again after a back-off');
    const timer = setTimeout(() => {
      this.retries.delete(streamId);
      if (this.stopping || this.runners.has(streamId)) return;
      this.inTurn(() => this.apply(record)).catch((error: unknown) =>
        this.logger.error({ err: error, streamId }, 'starting a failed stream again failed'),
      );
    }, delayMs);
    this.retries.set(streamId, { timer, record });
  }

  private cancelRetry(streamId: string): void {
    const retry = this.retries.get(streamId);
    if (!retry) return;
    clearTimeout(retry.timer);
    this.retries.delete(streamId);
  }

  private async stopStream(streamId: string, why: string): Promise<void> {
    const entry = this.runners.get(streamId);
    if (!entry) return;
    this.runners.delete(streamId);
    await entry.runner.stop();
    await entry.status.settled();
    this.logger.info({ streamId, why }, 'stream stopped');
    this.admitWaiting();
  }
}

/** Writes (or with `remove`, deletes) a stream in the desired set. */
export async function putStream(
  bus: Bus,
  topicPrefix: string,
  spec: StreamDefinition & { enabled?: boolean },
  remove = false,
): Promise<void> {
  const topic = topicName(topics.streams, topicPrefix);
  await bus.createTopics([
    {
      name: topic,
      partitions: topics.streams.defaultPartitions,
      ...(topics.streams.configEntries ? { configEntries: topics.streams.configEntries } : {}),
    },
  ]);
  const producer = await bus.producer();
  try {
    const value = remove
      ? null
      : encodeMessage(
          topics.streams,
          makeMessage(topics.streams, {
            streamId: spec.streamId,
            url: spec.url,
            sampleFps: spec.sampleFps,
            enabled: spec.enabled ?? true,
            maxWidth: spec.maxWidth,
          }),
        );
    await producer.send([{ topic, key: spec.streamId, value }]);
  } finally {
    await producer.close();
  }
}
