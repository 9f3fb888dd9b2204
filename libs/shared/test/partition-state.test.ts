import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumedRecord, PartitionBatch } from '../src/index.js';
import { moduleLogger } from '../src/index.js';
import { PartitionState } from '../src/runtime/partition-state.js';

const logger = moduleLogger('partition-state-test');

function batchOf(partition: number, offsets: number[]): PartitionBatch {
  const records: ConsumedRecord[] = offsets.map((offset) => ({
    topic: 'in',
    partition,
    offset: String(offset),
    key: 'k',
    value: null,
    headers: {},
    timestampMs: 0,
  }));
  return { topic: 'in', partition, records };
}

describe('PartitionState', () => {
  it("takes a partition's batches in turn, even after a failure, while another partition's batch goes at once", async () => {
    const state = new PartitionState(logger);
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = state.inTurn({ topic: 'in', partition: 0 }, async () => {
      order.push('p0 first: start');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      order.push('p0 first: end');
      throw new Error('the first copy failed');
    });
    const second = state.inTurn({ topic: 'in', partition: 0 }, () => {
      order.push('p0 second');
      return Promise.resolve();
    });
    await state.inTurn({ topic: 'in', partition: 1 }, () => {
      order.push('p1');
      return Promise.resolve();
    });
    assert.deepEqual(order, ['p0 first: start', 'p1'], "partition 1 did not wait for partition 0; partition 0's second batch did");
    releaseFirst();
    await assert.rejects(first, /the first copy failed/);
    await second;
    assert.deepEqual(order, ['p0 first: start', 'p1', 'p0 first: end', 'p0 second']);
  });

  it('skips records this replica delivered already, and drops a batch holding nothing else', () => {
    const state = new PartitionState(logger);
    const batch = batchOf(0, [8, 9, 10, 11]);
    assert.equal(state.undelivered(batch), batch, 'nothing delivered yet: the batch as it is');
    state.markDelivered({ topic: 'in', partition: 0 }, 10n);
    assert.deepEqual(
      state.undelivered(batch)?.records.map((r) => r.offset),
      ['10', '11'],
    );
    assert.equal(state.undelivered(batchOf(0, [5, 6, 9])), undefined);
    assert.equal(state.undelivered(batchOf(1, [5]))?.records.length, 1, 'another partition: its own offsets');
  });

  it('keeps a partition marked for rewind until its state was rebuilt', () => {
    const state = new PartitionState(logger);
    const tp = { topic: 'in', partition: 2 };
    assert.equal(state.needsRewind(tp), false);
    state.markRewind(tp);
    assert.equal(state.needsRewind(tp), true);
    assert.equal(state.needsRewind({ topic: 'in', partition: 3 }), false);
    state.rewound(tp);
    assert.equal(state.needsRewind(tp), false);
  });

  it('names the open streams of revoked partitions once, and not a stream that ended or moved', () => {
    const state = new PartitionState(logger);
    state.noteStream('lobby', 0, false);
    state.noteStream('door', 0, false);
    state.noteStream('door', 0, true); // ended
    state.noteStream('yard', 1, false);
    state.noteStream('hall', 0, false);
    state.noteStream('hall', 1, false); // read from partition 1 last
    assert.deepEqual(state.takeStreams([{ topic: 'in', partition: 0 }]), ['lobby']);
    assert.deepEqual(state.takeStreams([{ topic: 'in', partition: 0 }]), [], 'forgotten once named');
    assert.deepEqual(state.takeStreams([{ topic: 'in', partition: 1 }]).sort(), ['hall', 'yard']);
  });
});
