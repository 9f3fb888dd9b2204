import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MicroBatcher } from '../src/index.js';

describe('MicroBatcher', () => {
  it("runs concurrent callers' items in one call and hands each caller its own results, in order", async () => {
    const calls: number[][] = [];
    const batcher = new MicroBatcher<number, number>(async (items) => (calls.push(items), items.map((x) => x * 10)), {
      maxBatch: 8,
      maxWaitMs: 20,
    });
    const [a, b, c] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3]), batcher.submit([4, 5, 6])]);
    assert.deepEqual(calls, [[1, 2, 3, 4, 5, 6]]);
    assert.deepEqual([a, b, c], [[10, 20], [30], [40, 50, 60]]);
  });

  it('runs as soon as a batch is full, and splits what is over maxBatch into more calls', async () => {
    const calls: number[] = [];
    const batcher = new MicroBatcher<number, number>(async (items) => (calls.push(items.length), items), {
      maxBatch: 4,
      maxWaitMs: 10_000,
    });
    const started = Date.now();
    const out = await batcher.submit([1, 2, 3, 4, 5, 6]);
    assert.ok(Date.now() - started < 1_000, 'a full batch must not wait for maxWaitMs');
    assert.deepEqual(calls, [4, 2]);
    assert.deepEqual(out, [1, 2, 3, 4, 5, 6]);
  });

  it('rejects every caller of a failed batch', async () => {
    const batcher = new MicroBatcher<number, number>(async () => Promise.reject(new Error('GPU fell off')), { maxBatch: 4, maxWaitMs: 5 });
    const results = await Promise.allSettled([batcher.submit([1]), batcher.submit([2])]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
  });
});
