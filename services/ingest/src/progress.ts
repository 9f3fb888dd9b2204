import { randomBytes } from 'node:crypto';
import {
  decodeJson,
  encodeJson,
  endsToRead,
  hasReadTo,
  StageError,
  toStageError,
  topics,
  type Bus,
  type BusConsumer,
  type BusProducer,
  type Logger,
  type OutgoingRecord,
  type StreamProgress,
} from '@emostream/shared';
import type { Counter } from 'prom-client';

export function progressRecord(topic: string, streamId: string, progress: StreamProgress | null): OutgoingRecord {
  return { topic, key: streamId, value: progress === null ? null : encodeJson(topics.ingestProgress, progress) };
}

/**
 * Follows the progress topic from its start (all partitions: this replica may take over any
 * stream) and answers "where did this stream get to", once it has read everything written so far.
 */
export class ProgressLog {
  private readonly latest = new Map<string, StreamProgress>();
  private follower: BusConsumer | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly topic: string,
    private readonly logger: Logger,
  ) {}

  async start(groupPrefix: string): Promise<void> {
    // A group of its own per replica and start: every replica reads every partition, from the start.
    const follower = await this.bus.consumer({
      groupId: `${groupPrefix}.${randomBytes(4).toString('hex')}`,
      topics: [this.topic],
      fromBeginning: true,
      readCommitted: true,
    });
    await follower.run({
      eachBatch: async (batch) => {
        for (const record of batch.records) {
          if (record.value === null) {
            this.latest.delete(record.key);
            continue;
          }
          try {
            this.latest.set(record.key, decodeJson(topics.ingestProgress, record.value, record.key));
          } catch (error) {
            this.logger.warn({ err: error, streamId: record.key }, 'skipped an unreadable progress record');
          }
        }
        // The in-memory bus keeps only what some group has not committed yet.
        const last = batch.records.at(-1);
        if (last) await follower.commit([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }]);
      },
    });
    this.follower = follower;
  }

  /**
   * The stream's progress as the broker has it now. Waits until the follower has read up to the
   * topic's current end; a replica that died mid-transaction holds that end back until the broker
   * aborts its transaction (the transaction timeout), so this can take a minute after a crash.
   */
  async current(streamId: string, options: { timeoutMs: number; stopped: () => boolean }): Promise<StreamProgress | undefined> {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      if (await this.caughtUp()) return this.latest.get(streamId);
      if (options.stopped()) throw new StageError('STOPPED', 'stopped while reading the stream progress');
      if (Date.now() > deadline) {
        throw new StageError('PROGRESS_UNKNOWN', `could not read the progress of ${streamId} within ${options.timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  private async caughtUp(): Promise<boolean> {
    return hasReadTo(this.follower ?? { readPositions: () => [] }, await endsToRead(this.bus, this.topic));
  }

  async close(): Promise<void> {
    await this.follower?.close();
  }
}

/**
 * Publishes frames with their progress records, in transactions: whatever is waiting when the
 * previous transaction ends goes into the next (one transaction per frame would cap throughput).
 * While the bus is away it retries the same records with growing back-off, through outages of any
 * length. A failed transaction may still have been committed (the broker took the commit and went
 * away before answering): before a retry the producer settles it and `committedAfterAll` is asked,
 * so a retry never duplicates a frame. It gives up only on a non-retriable error (e.g. a record
 * over the size limit), or for a caller whose signal aborts.
 */
export class TransactionalPublisher {
  private queue: { records: OutgoingRecord[]; resolve: () => void; reject: (error: Error) => void; signal?: AbortSignal }[] = [];
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly producer: BusProducer,
    private readonly options: {
      logger: Logger;
      retries: Counter<'code'>;
      initialBackoffMs?: number;
      maxBackoffMs?: number;
      /** Whether these records (one transaction, all or nothing) are on the bus, once their transaction is settled. */
      committedAfterAll: (records: OutgoingRecord[]) => Promise<boolean>;
    },
  ) {}

  publish(records: OutgoingRecord[], signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.reject(new StageError('STOPPED', 'the publisher is closed'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        // Not sent yet: dropped. In flight: it may still be committed, but the caller moves on.
        this.queue = this.queue.filter((e) => e !== entry);
        reject(new StageError('STOPPED', 'publishing stopped'));
      };
      const settle =
        <T>(done: (value: T) => void) =>
        (value: T) => {
          signal?.removeEventListener('abort', onAbort);
          done(value);
        };
      const entry = { records, resolve: settle(resolve), reject: settle(reject), ...(signal ? { signal } : {}) };
      this.queue.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.running ??= this.drain().finally(() => (this.running = undefined));
    });
  }

  /** Stops taking records; what waits is rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.queue.splice(0)) entry.reject(new StageError('STOPPED', 'the publisher is closed'));
    await this.running;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0);
      const live = batch.filter((e) => !e.signal?.aborted);
      try {
        await this.sendUntilDone(
          live.flatMap((e) => e.records),
          () => this.closed || live.every((e) => e.signal?.aborted),
        );
        for (const entry of live) entry.resolve();
      } catch (error) {
        const failure = toStageError(error);
        if (failure.retriable || failure.code === 'STOPPED' || live.length === 1) {
          for (const entry of live) entry.reject(failure);
          continue;
        }
        // Refused for good (a record over the size limit): which entry's record is not known, and
        // the others must not fail with it — each goes again in a transaction of its own.
        for (const entry of live) {
          if (entry.signal?.aborted) continue;
          try {
            await this.sendUntilDone(entry.records, () => this.closed || entry.signal?.aborted === true);
            entry.resolve();
          } catch (alone) {
            entry.reject(alone as Error);
          }
        }
      }
    }
  }

  private async sendUntilDone(records: OutgoingRecord[], abandoned: () => boolean): Promise<void> {
    const initial = this.options.initialBackoffMs ?? 200;
    const max = this.options.maxBackoffMs ?? 5_000;
    let outcomeUnknown = false;
    for (let attempt = 1; ; attempt += 1) {
      try {
        if (outcomeUnknown) {
          await this.producer.settle();
          if (await this.options.committedAfterAll(records)) {
            this.options.logger.info({ attempts: attempt }, 'the failed transaction was committed after all: not publishing again');
            return;
          }
          outcomeUnknown = false;
        }
        await this.producer.sendInTransaction(records, { groupId: '', offsets: [] });
        if (attempt > 1) this.options.logger.info({ attempts: attempt }, 'publishing again after the bus came back');
        return;
      } catch (error) {
        // Whether a failed settle or check, or a failed transaction: what is on the bus is not known.
        outcomeUnknown = true;
        const failure = toStageError(error);
        if (!failure.retriable) throw failure;
        if (abandoned()) throw new StageError('STOPPED', 'publishing stopped while the bus was away', { cause: failure });
        this.options.retries.inc({ code: failure.code });
        const log =
          attempt === 1 ? this.options.logger.warn.bind(this.options.logger) : this.options.logger.debug.bind(this.options.logger);
        log({ attempt, reason: failure.message }, 'publishing failed; retrying the same frames in a new transaction');
        const delay = Math.min(max, initial * 2 ** Math.min(attempt - 1, 10));
        for (let waited = 0; waited < delay && !abandoned(); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}
