import { randomUUID } from 'node:crypto';
import { endsToRead, hasReadTo, moduleLogger, StageError, topicName, untilBusAnswers, type Bus, type Logger } from '@emostream/shared';
import type { StreamSnapshot } from './tracker/index.js';

/**
 * The face stage's changelog: after every frame, the frame's stream's whole tracking state, keyed by
 * streamId, compacted (the newest per stream stays, up to an hour), written in the same batch — and
 * under exactly-once the same transaction — as the frame's faces. After a restart or rebalance the
 * stage reads it back, so tracks go on with the ids and history an undisturbed run would have (as
 * Kafka Streams restores a state store from its changelog).
 */
export const trackerStateTopic = {
  base: 'face-tracker-state',
  version: 1,
  defaultPartitions: 6,
  // Compacted, and deleted after an hour too: the states hold face descriptors (biometric data, kept
  // no longer than the frames). A stream that runs writes a new state with every frame; one idle for
  // an hour has no live track left to continue, and a stream that starts again counts from 1.
  configEntries: { 'cleanup.policy': 'compact,delete', 'retention.ms': '3600000', 'segment.ms': '600000', 'max.message.bytes': '1048576' },
} as const;

/** One changelog record: the state after the input record at `input`. */
export interface SavedTrackerState {
  readonly v: 1;
  readonly input: { readonly partition: number; readonly offset: string };
  readonly state: StreamSnapshot;
}

export function encodeTrackerState(saved: SavedTrackerState): Uint8Array {
  return Buffer.from(JSON.stringify(saved), 'utf8');
}

export function decodeTrackerState(bytes: Uint8Array): SavedTrackerState {
  const saved = JSON.parse(Buffer.from(bytes).toString('utf8')) as SavedTrackerState;
  if (saved.v !== 1 || typeof saved.state?.seq !== 'number') throw new Error('not a face tracker state (v1)');
  return saved;
}

/** Where the face stage gets its saved tracker states back after an assignment. */
export interface TrackerStateStore {
  /**
   * Every saved state, oldest first, once the changelog is complete for the given input partitions
   * (it holds the state after the group's last committed input of each).
   */
  load(partitions: readonly number[], stopping?: AbortSignal): Promise<[string, StreamSnapshot][]>;
}

export interface BusTrackerStateStoreOptions {
  topicPrefix: string;
  /** The face stage's consumer group and input topic: their committed offsets say how far the changelog must be read. */
  groupId: string;
  inputTopic: string;
  logger?: Logger;
}

/**
 * Reads the changelog topic from its start with a throwaway consumer group (read_committed), until it
 * has seen, for each assigned input partition, the state after the group's last committed input
 * (the changelog record that went out with it). Waiting on the committed offsets rather than the
 * topic's end works whatever transaction markers or aborted records trail the log.
 *
 * It never gives up on a clock: while the broker is away it waits (the stage's input waits with it),
 * as the stage's own start-up does. It stops early only when it has read the whole changelog as it
 * stood when the restore began and a needed state is not in it — the last committed frame was
 * dead-lettered (no state saved), or the topic's retention deleted it after an hour without frames —
 * and says so; the stream then goes on from the newest state read (which a dead letter left as it was).
 * When `stopping` aborts (the replica is told to stop) it ends with a StageError `STOPPED`.
 */
export function busTrackerStateStore(bus: Bus, options: BusTrackerStateStoreOptions): TrackerStateStore {
  const logger = options.logger ?? moduleLogger('tracker-state');
  const topic = topicName(trackerStateTopic, options.topicPrefix);
  return {
    async load(partitions, stopping) {
      const stopped = () => stopping?.aborted ?? false;
      const step = <T>(what: string, work: () => Promise<T>) => untilBusAnswers(`tracker restore: ${what}`, work, { logger, stopped });
      const committed = await step("reading the face group's committed offsets", () =>
        bus.committedOffsets(options.groupId, options.inputTopic),
      );
      // The input offset whose state must be read, per partition (none for a partition never committed).
      const needed = new Map<number, bigint>();
      for (const c of committed)
        if (partitions.includes(c.partition) && BigInt(c.offset) > 0n) needed.set(c.partition, BigInt(c.offset) - 1n);
      const saved: [string, StreamSnapshot][] = [];
      if (needed.size === 0) return saved;
      await step('creating the changelog topic', () =>
        bus.createTopics([
          { name: topic, partitions: trackerStateTopic.defaultPartitions, configEntries: trackerStateTopic.configEntries },
        ]),
      );
      // Read after the committed offsets: every state they need was written before this end.
      const ends = await step("reading the changelog's end", () => endsToRead(bus, topic));
      const reached = new Set<number>();
      const consumer = await step('joining a restore group', () =>
        bus.consumer({ groupId: `${options.groupId}.restore.${randomUUID()}`, topics: [topic], fromBeginning: true, readCommitted: true }),
      );
      const started = Date.now();
      let crashed: unknown;
      try {
        await step('reading the changelog', () =>
          consumer.run({
            eachBatch: async (batch) => {
              for (const record of batch.records) {
                if (record.value === null) continue;
                let state: SavedTrackerState;
                try {
                  state = decodeTrackerState(record.value);
                } catch (error) {
                  logger.warn(
                    { err: error, partition: record.partition, offset: record.offset },
                    'skipped a changelog record it cannot read',
                  );
                  continue;
                }
                saved.push([record.key, state.state]);
                const want = needed.get(state.input.partition);
                if (want !== undefined && BigInt(state.input.offset) >= want) reached.add(state.input.partition);
              }
            },
            onCrash: (error) => (crashed = error),
          }),
        );
        const complete = () => [...needed.keys()].every((p) => reached.has(p));
        while (!complete() && !hasReadTo(consumer, ends)) {
          if (crashed) throw crashed;
          if (stopped()) throw new StageError('STOPPED', 'stopped while reading the tracker changelog');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        if (!complete()) {
          logger.warn(
            { partitions: [...needed.keys()].filter((p) => !reached.has(p)) },
            'the tracker changelog has no state after the last committed frame of these partitions (a dead-lettered frame saves none; retention deletes states after an hour): their streams go on from the newest state read',
          );
        }
      } finally {
        await consumer.close();
      }
      logger.info({ states: saved.length, ms: Date.now() - started }, 'tracker states restored from the changelog');
      return saved;
    },
  };
}
