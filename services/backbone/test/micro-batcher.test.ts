import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MicroBatcher } from '../src/index.js';

/** A model whose calls end only when the test says so; records what each call got. */
function heldModel() {
  const calls: { items: number[]; finish: () => void }[] = [];
  const run = (items: number[]) =>
    new Promise<number[]>((resolve) => calls.push({ items, finish: () => resolve(items.map((x) => x * 10)) }));
  return { calls, run };
}

describe('MicroBatcher', () => {
  it("runs concurrent callers' items in one call and hands each caller its own results, in order", async () => {
    const calls: number[][] = [];
    const batcher = new MicroBatcher<number, number>((items) => (calls.push(items), Promise.resolve(items.map((x) => x * 10))), {
      maxBatch: 8,
      maxWaitMs: 20,
    });
    const [a, b, c] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3]), batcher.submit([4, 5, 6])]);
    assert.deepEqual(calls, [[1, 2, 3, 4, 5, 6]]);
    assert.deepEqual([a, b, c], [[10, 20], [30], [40, 50, 60]]);
  });

  it('runs as soon as a batch is full, and splits what is over maxBatch into more calls', async () => {
    const calls: number[] = [];
    const batcher = new MicroBatcher<number, number>((items) => (calls.push(items.length), Promise.resolve(items)), {
      maxBatch: 4,
      maxWaitMs: 10_000,
    });
    const started = Date.now();
    const out = await batcher.submit([1, 2, 3, 4, 5, 6]);
    assert.ok(Date.now() - started < 1_000, 'a full batch, and the rest of its caller, must not wait for maxWaitMs');
    assert.deepEqual(calls, [4, 2]);
    assert.deepEqual(out, [1, 2, 3, 4, 5, 6]);
  });

  it('calls an idle model at once, and batches what arrives while it is busy', async () => {
    const model = heldModel();
    const batcher = new MicroBatcher<number, number>(model.run, { maxBatch: 8, maxWaitMs: 0 });
    const first = batcher.submit([1]);
    assert.deepEqual(
      model.calls.map((c) => c.items),
      [[1]],
      'an idle model must not wait for more items',
    );
    const second = batcher.submit([2]); // the next call is prepared while the first computes
    const rest = [batcher.submit([3]), batcher.submit([4, 5])];
    assert.deepEqual(
      model.calls.map((c) => c.items),
      [[1], [2]],
      'with two calls in flight, new items queue',
    );
    model.calls[0]!.finish();
    assert.deepEqual(await first, [10]);
    assert.deepEqual(
      model.calls.map((c) => c.items),
      [[1], [2], [3, 4, 5]],
      'what queued while the model was busy goes in one call',
    );
    model.calls[1]!.finish();
    model.calls[2]!.finish();
    assert.deepEqual(await Promise.all([second, ...rest]), [[20], [30], [40, 50]]);
  });

  it('rejects every caller of a failed batch, and skips the rest of a failed caller', async () => {
    const calls: number[][] = [];
    const batcher = new MicroBatcher<number, number>(
      (items) => {
        calls.push(items);
        return Promise.reject(new Error('GPU fell off'));
      },
      { maxBatch: 2, maxWaitMs: 5 },
    );
    const results = await Promise.allSettled([batcher.submit([1, 2, 3, 4, 5, 6]), batcher.submit([7])]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    assert.ok(!calls.some((items) => items.includes(5)), `the failed caller's last items must not be run: ${JSON.stringify(calls)}`);
  });
});
