// The face stage's tracker changelog read back (busTrackerStateStore) on the in-memory bus: it waits
// for the bus however long it is away, and it ends once the changelog is read, even when a needed
// state was deleted. The restart on the real broker is test/face-restart.e2e.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusError, InMemoryBus, topicName, topics, type Bus } from '@emostream/shared';
import { within } from '@emostream/shared/testing';
import { busTrackerStateStore, encodeTrackerState, trackerStateTopic } from '../src/tracker-state.js';
import type { StreamSnapshot } from '../src/tracker/index.js';

const PREFIX = 'restore';
const GROUP = `${PREFIX}.face`;
const INPUT = topicName(topics.frames, PREFIX);
const CHANGELOG = topicName(trackerStateTopic, PREFIX);

/** A stand-in snapshot: the store passes states through as they were saved. */
const snapshot = (seq: number) => ({ seq, firstSeq: 1 }) as unknown as StreamSnapshot;

/**
 * What the face stage leaves behind: for each processed input offset of partition 0, a changelog
 * record (the state after it) committed with the input's offset in one transaction.
 */
async function faceRanUpTo(bus: InMemoryBus, lastInputOffset: number, savedUpTo = lastInputOffset): Promise<void> {
  await bus.createTopics([
    { name: INPUT, partitions: 1 },
    { name: CHANGELOG, partitions: trackerStateTopic.defaultPartitions },
  ]);
  const producer = await bus.producer();
  for (let offset = 0; offset <= lastInputOffset; offset += 1) {
    const records =
      offset <= savedUpTo
        ? [
            {
              topic: CHANGELOG,
              key: 'cam',
              value: encodeTrackerState({ v: 1, input: { partition: 0, offset: String(offset) }, state: snapshot(offset + 1) }),
            },
          ]
        : [];
    await producer.sendInTransaction(records, { groupId: GROUP, offsets: [{ topic: INPUT, partition: 0, offset: String(offset + 1) }] });
  }
  await producer.close();
}

const store = (bus: Bus) => busTrackerStateStore(bus, { topicPrefix: PREFIX, groupId: GROUP, inputTopic: INPUT });

describe('busTrackerStateStore', () => {
  it('reads the changelog up to the state after the last committed frame', async () => {
    const bus = new InMemoryBus({ retryBackoffMs: 20 });
    await faceRanUpTo(bus, 4);
    const saved = await within(store(bus).load([0]), 10_000, () => 'the restore');
    assert.deepEqual(
      saved.map(([streamId, state]) => [streamId, state.seq]),
      [1, 2, 3, 4, 5].map((seq) => ['cam', seq]),
    );
    await bus.close();
  });

  it('ends once the whole changelog is read when the needed state is not there (deleted by retention), with what it read', async () => {
    const bus = new InMemoryBus({ retryBackoffMs: 20 });
    await faceRanUpTo(bus, 4, 2); // states after offsets 0..2 only; the group committed up to offset 4
    const saved = await within(store(bus).load([0]), 10_000, () => 'the restore');
    assert.deepEqual(
      saved.map(([, state]) => state.seq),
      [1, 2, 3],
    );
    await bus.close();
  });

  it('waits while the bus is away, without a deadline, and restores once it answers', async () => {
    const bus = new InMemoryBus({ retryBackoffMs: 20 });
    await faceRanUpTo(bus, 2);
    let refusals = 0;
    const away = new Proxy(bus, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'committedOffsets' || property === 'endOffsets')
          return async (...args: unknown[]) => {
            if (refusals < 3) {
              refusals += 1;
              throw new BusError('connect ECONNREFUSED 127.0.0.1:9092');
            }
            return (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          };
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const saved = await within(store(away).load([0]), 30_000, () => 'the restore');
    assert.equal(refusals, 3);
    assert.deepEqual(
      saved.map(([, state]) => state.seq),
      [1, 2, 3],
    );
    await bus.close();
  });

  it('ends with STOPPED when the replica is told to stop while the bus is away', async () => {
    const bus = new InMemoryBus({ retryBackoffMs: 20 });
    await faceRanUpTo(bus, 2);
    const away = new Proxy(bus, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (property === 'committedOffsets') return () => Promise.reject(new BusError('connect ECONNREFUSED 127.0.0.1:9092'));
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const stopping = new AbortController();
    setTimeout(() => stopping.abort(), 300);
    const started = Date.now();
    await assert.rejects(
      within(store(away).load([0], stopping.signal), 10_000, () => 'the stopped restore'),
      { code: 'STOPPED' },
    );
    assert.ok(Date.now() - started < 5_000, 'it must end soon after the stop, not wait for the bus');
    await bus.close();
  });
});
