// predictWindows is the one place windows are packed for the LSTM (the temporal stage and emo run's
// offline report both call it): window i's item t at (i × windowLength + t) × featureSize, one row of
// 7 probabilities per window back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { predictWindows, type TemporalModel } from '../src/index.js';

/** A model that keeps what it was given and answers window i with [i, i, …]. */
function recordingModel(windowLength: number) {
  const calls: { batch: number[]; count: number; featureSize: number }[] = [];
  const model: TemporalModel = {
    windowLength,
    predict(windows, count, featureSize) {
      calls.push({ batch: [...windows], count, featureSize });
      return Promise.resolve(Float32Array.from({ length: count * 7 }, (_, k) => Math.floor(k / 7)));
    },
  };
  return { model, calls };
}

describe('predictWindows', () => {
  it('packs every window oldest item first, one model call, and splits the answer per window', async () => {
    const { model, calls } = recordingModel(2);
    const item = (a: number, b: number) => Float32Array.of(a, b, a + b);
    const rows = await predictWindows(model, [
      [item(1, 2), item(3, 4)],
      [item(5, 6), item(7, 8)],
    ]);
    assert.deepEqual(calls, [{ batch: [1, 2, 3, 3, 4, 7, 5, 6, 11, 7, 8, 15], count: 2, featureSize: 3 }]);
    assert.deepEqual(
      rows.map((row) => [...row]),
      [Array(7).fill(0), Array(7).fill(1)],
    );
  });

  it('calls nothing for no windows, and refuses a window of the wrong length', async () => {
    const { model, calls } = recordingModel(2);
    assert.deepEqual(await predictWindows(model, []), []);
    await assert.rejects(predictWindows(model, [[Float32Array.of(1)]]), /window 0 holds 1 items, the model takes 2/);
    assert.equal(calls.length, 0);
  });
});
