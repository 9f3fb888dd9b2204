import {
  encodeStreamStatus,
  moduleLogger,
  streamStatusTopic,
  topicName,
  type Bus,
  type BusProducer,
  type Logger,
  type StageError,
  type StreamStatus,
} from '@emostream/shared';
import { SourceRefusedError } from './source-policy.js';
import type { StreamOutcome } from './stream-runner.js';

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

  /** Deletes a stream's status (a tombstone): the stream was removed or disabled, nothing runs it. */
  async remove(streamId: string): Promise<void> {
    await this.producer?.send([{ topic: this.topic, key: streamId, value: null }]);
  }

  async close(): Promise<void> {
    await this.producer?.close();
  }
}

export interface StreamStatusReporterOptions {
  writer: StreamStatusWriter;
  streamId: string;
  /** `specUrlDigest` of the admitted URL: every status of the stream carries it. */
  urlDigest: string;
  instanceId: string;
  /** While frames flow, `running` (with the time of the last frame) is written again at most this often. */
  intervalMs: number;
  now?: () => number;
  logger?: Logger;
}

/**
 * One admitted stream's status, from what its runner does: `running` at its first frame (and after
 * each reconnect), refreshed at most every `intervalMs` while frames flow; `reconnecting` with the
 * attempt and the last error at the first failed attempt, refreshed at most every `intervalMs`; `finished`, `failed` or `refused` from its outcome. Writes go out one
 * after the other in order, never holding up a frame; one that fails is logged and the stream goes on.
 */
export class StreamStatusReporter {
  private writes: Promise<void> = Promise.resolve();
  private state: StreamStatus['state'] = 'starting';
  private frames = 0;
  private lastFrameAtMs: number | undefined;
  private lastWrittenAtMs = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;
  private readonly logger: Logger;

  constructor(private readonly options: StreamStatusReporterOptions) {
    this.now = options.now ?? Date.now;
    this.logger = options.logger ?? moduleLogger('stream-status', { stream: options.streamId });
  }

  /** A frame was published; `frames` so far. */
  frame(frames: number): void {
    const now = this.now();
    this.frames = frames;
    this.lastFrameAtMs = now;
    if (this.state !== 'running' || now - this.lastWrittenAtMs >= this.options.intervalMs) this.write({ state: 'running' });
  }

  /** A live source failed or ended and is tried again. */
  reconnecting(attempt: number, error: StageError): void {
    // A camera down for long retries every few seconds: its status follows at most every intervalMs.
    if (this.state !== 'reconnecting' || this.now() - this.lastWrittenAtMs >= this.options.intervalMs)
      this.write({ state: 'reconnecting', attempt, code: error.code, message: error.message });
  }

  /** The runner's outcome. A stop (removal, rebalance, shutdown) says nothing: whoever runs the stream next reports it. */
  ended(outcome: StreamOutcome): void {
    this.frames = outcome.frames;
    if (outcome.state === 'ended') this.write({ state: 'finished' });
    else if (outcome.state === 'failed' && outcome.error instanceof SourceRefusedError)
      this.write({ state: 'refused', reason: outcome.error.reason, message: outcome.error.message });
    else if (outcome.state === 'failed') this.write({ state: 'failed', code: outcome.error.code, message: outcome.error.message });
  }

  /** Resolves once every status so far is written (or failed to be). */
  settled(): Promise<void> {
    return this.writes;
  }

  private write(status: Pick<StreamStatus, 'state' | 'reason' | 'code' | 'message' | 'attempt'>): void {
    const atMs = this.now();
    this.state = status.state;
    this.lastWrittenAtMs = atMs;
    const full: StreamStatus = {
      streamId: this.options.streamId,
      ...status,
      frames: this.frames,
      ...(this.lastFrameAtMs !== undefined ? { lastFrameAtMs: this.lastFrameAtMs } : {}),
      urlDigest: this.options.urlDigest,
      instanceId: this.options.instanceId,
      atMs,
    };
    this.writes = this.writes.then(() =>
      this.options.writer.write(full).catch((error: unknown) => {
        // Advisory: a status that cannot be written must not stop the stream.
        this.logger.warn({ err: error, state: full.state }, 'could not write a stream status');
      }),
    );
  }
}
