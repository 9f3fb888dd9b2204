import { fromBinary } from '@bufbuild/protobuf';
import {
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
  type TopicPartition,
  redactUrl,
} from '@emostream/shared';
import type { IngestSettings } from './config.js';
import type { IngestMetrics } from './metrics.js';
import { SourceGuard } from './source-guard.js';
import { parseSource } from './sources.js';
import { StreamStatusWriter } from './stream-status.js';
import { StreamRunner, type StreamDefinition, type StreamOutcome } from './stream-runner.js';

export interface IngestWorkerOptions {
  bus: Bus;
  topicPrefix: string;
  settings: IngestSettings;
  metrics: IngestMetrics;
  logger?: Logger;
  /** This replica's id, in the stream statuses. */
  instanceId?: string;
}

/**
 * An ingest replica. The compacted streams topic holds the desired set of streams; ingest replicas
 * share its partitions through one consumer group, and each runs the streams of the partitions it
 * owns. The group never commits: on every assignment the worker reads its partitions from the start,
 * so it always sees the whole desired state (the topic is compacted, so this stays small).
 * A dead replica's partitions — and so its streams — move to the others.
 */
export class IngestWorker {
  private readonly runners = new Map<string, { runner: StreamRunner; partition: TopicPartition; spec: StreamDefinition }>();
  /**
   * Per file stream, how far this replica got, by spec: a rebalance that hands a partition back to
   * the same replica re-delivers its specs (the group never commits), and a file must then neither
   * start over nor, once done, run again — downstream would see its frames twice.
   */
  private readonly fileProgress = new Map<string, { spec: string; lastSeq: number; done: boolean }>();
  private readonly logger: Logger;
  private consumer: BusConsumer | undefined;
  private producer: BusProducer | undefined;
  /** Source policy, stream cap and statuses: every spec from the topic passes it before it starts. */
  private readonly guard: SourceGuard;
  private readonly status: StreamStatusWriter;
  /** Outcomes of finished streams, for tests and the CLI. */
  readonly outcomes = new Map<string, StreamOutcome>();

  constructor(private readonly options: IngestWorkerOptions) {
    this.logger = options.logger ?? moduleLogger('ingest-worker');
    this.status = new StreamStatusWriter(options.bus, options.topicPrefix);
    this.guard = new SourceGuard({ settings: options.settings, metrics: options.metrics, status: this.status, ...(options.instanceId ? { instanceId: options.instanceId } : {}) });
  }

  get streamsTopic(): string {
    return topicName(topics.streams, this.options.topicPrefix);
  }

  get framesTopic(): string {
    return topicName(topics.frames, this.options.topicPrefix);
  }

  async start(): Promise<void> {
    const { bus, topicPrefix } = this.options;
    await bus.createTopics([
      { name: this.streamsTopic, partitions: topics.streams.defaultPartitions, ...(topics.streams.configEntries ? { configEntries: topics.streams.configEntries } : {}) },
      { name: this.framesTopic, partitions: topics.frames.defaultPartitions },
    ]);
    this.producer = await bus.producer();
    await this.status.start();
    this.consumer = await bus.consumer({ groupId: `${topicPrefix}.ingest`, topics: [this.streamsTopic], fromBeginning: true, readCommitted: true });
    await this.consumer.run({
      eachBatch: async (batch) => {
        for (const record of batch.records) await this.apply(record);
      },
      onRevoked: async (partitions) => {
        await Promise.all(
          [...this.runners.entries()]
            .filter(([, r]) => partitions.some((p) => p.topic === r.partition.topic && p.partition === r.partition.partition))
            .map(([streamId]) => this.stopStream(streamId, 'partition revoked')),
        );
      },
    });
  }

  /** Streams running now. */
  running(): StreamDefinition[] {
    return [...this.runners.values()].map((r) => r.spec);
  }

  async stop(): Promise<void> {
    await this.consumer?.close();
    await Promise.all([...this.runners.keys()].map((id) => this.stopStream(id, 'worker stopping')));
    await this.producer?.close();
    await this.status.close();
  }

  /** One record of the streams topic: start, restart or stop a stream. */
  private async apply(record: ConsumedRecord): Promise<void> {
    const streamId = record.key;
    if (record.value === null) {
      this.fileProgress.delete(streamId);
      await this.stopStream(streamId, 'removed');
      await this.guard.forget(streamId);
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
      return;
    }
    const wanted: StreamDefinition = { streamId, url: spec.url, sampleFps: spec.sampleFps, maxWidth: spec.maxWidth };
    const key = JSON.stringify(wanted);
    const current = this.runners.get(streamId);
    if (current && JSON.stringify(current.spec) === key) return;
    if (current) await this.stopStream(streamId, 'changed');
    const progress = this.fileProgress.get(streamId);
    if (progress?.spec === key && progress.done) return;
    const resumeAfter = progress?.spec === key ? progress.lastSeq : 0;
    if (!(await this.guard.admit(wanted, this.runners.size))) return;
    this.startStream({ ...wanted, ...(resumeAfter > 0 ? { resumeAfter } : {}) }, { topic: record.topic, partition: record.partition });
  }

  private startStream(spec: StreamDefinition, partition: TopicPartition): void {
    const runner = new StreamRunner(spec, {
      publish: (frame) => this.producer!.send([{ topic: this.framesTopic, key: spec.streamId, value: encodeMessage(topics.frames, frame) }]),
      metrics: this.options.metrics,
      settings: this.options.settings,
      prepareSource: (source, signal) => this.guard.prepare(spec.streamId, source, signal),
    });
    const { resumeAfter: _resumed, ...specKey } = spec;
    this.runners.set(spec.streamId, { runner, partition, spec: specKey });
    this.logger.info({ streamId: spec.streamId, url: redactUrl(spec.url), resumeAfter: spec.resumeAfter }, 'stream started');
    void runner.done.then((outcome) => {
      this.outcomes.set(spec.streamId, outcome);
      if (isFile(spec.url)) {
        this.fileProgress.set(spec.streamId, { spec: JSON.stringify(specKey), lastSeq: runner.lastPublishedSeq || (spec.resumeAfter ?? 0), done: outcome.state === 'ended' });
      }
      if (this.runners.get(spec.streamId)?.runner === runner) this.runners.delete(spec.streamId);
    });
  }

  private async stopStream(streamId: string, why: string): Promise<void> {
    const entry = this.runners.get(streamId);
    if (!entry) return;
    this.runners.delete(streamId);
    await entry.runner.stop();
    this.logger.info({ streamId, why }, 'stream stopped');
  }
}

function isFile(url: string): boolean {
  try {
    return !parseSource(url).live;
  } catch {
    return false; // an unusable URL: its runner already failed and said why
  }
}

/** Writes (or with `remove`, deletes) a stream in the desired set. */
export async function putStream(bus: Bus, topicPrefix: string, spec: StreamDefinition & { enabled?: boolean }, remove = false): Promise<void> {
  const topic = topicName(topics.streams, topicPrefix);
  await bus.createTopics([{ name: topic, partitions: topics.streams.defaultPartitions, ...(topics.streams.configEntries ? { configEntries: topics.streams.configEntries } : {}) }]);
  const producer = await bus.producer();
  try {
    const value = remove
      ? null
      : encodeMessage(
          topics.streams,
          makeMessage(topics.streams, { streamId: spec.streamId, url: spec.url, sampleFps: spec.sampleFps, enabled: spec.enabled ?? true, maxWidth: spec.maxWidth }),
        );
    await producer.send([{ topic, key: spec.streamId, value }]);
  } finally {
    await producer.close();
  }
}
