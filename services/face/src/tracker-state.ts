import { randomUUID } from 'node:crypto';
import {
  decodeJson,
  encodeJson,
  endsToRead,
  hasReadTo,
  moduleLogger,
  StageError,
  topicName,
  topics,
  untilBusAnswers,
  type Bus,
  type Logger,
} from '@emostream/shared';
import type { StreamSnapshot } from './tracker/index.js';

/** The face stage's changelog (`topics.faceTrackerState`: name, configs and codec are the registry's). */
export const trackerStateTopic = topics.faceTrackerState;

/** One changelog record: the state after the input record at `input`. */
export interface SavedTrackerState {
  readonly v: 1;
  readonly input: { readonly partition: number; readonly offset: string };
  readonly state: StreamSnapshot;
}

export function encodeTrackerState(saved: SavedTrackerState): Uint8Array {
  return encodeJson(trackerStateTopic, saved);
}

/** Throws DecodeError for a record that is not a saved state (v1); the registry's schema checks the envelope and `state.seq`. */
export function decodeTrackerState(bytes: Uint8Array): SavedTrackerState {
  // The snapshot inside is the tracker's own shape (written by encodeTrackerState): its fields are not re-checked here.
  return decodeJson(trackerStateTopic, bytes) as SavedTrackerState;
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
      let crashed: Error | undefined;
      try {
        await step('reading the changelog', () =>
          consumer.run({
            eachBatch: (batch) => {
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
              return Promise.resolve();
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
