import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanProbabilities, REFERENCE_WINDOWS, SlidingWindows, temporalSettingsSchema } from '../src/index.js';

const cam = (trackId: number, streamId = 'cam-1') => ({ streamId, trackId });
const at = (seq: number, ptsMs = seq * 200) => ({ seq, ptsMs });

describe('SlidingWindows (reference real-time window per stream and track)', () => {
  it("fills the whole window with a track's first item", () => {
    const windows = new SlidingWindows<string>({ length: 10, trackTtlMs: 2000 });
    assert.deepEqual(windows.push(cam(1), 'a', at(1)), new Array(10).fill('a'));
  });

  it('shifts the window by one for each later sampled frame', () => {
    const windows = new SlidingWindows<string>({ length: 4, trackTtlMs: 2000 });
    windows.push(cam(1), 'a', at(1));
    assert.deepEqual(windows.push(cam(1), 'b', at(2)), ['a', 'a', 'a', 'b']);
    assert.deepEqual(windows.push(cam(1), 'c', at(3)), ['a', 'a', 'b', 'c']);
    windows.push(cam(1), 'd', at(4));
    assert.deepEqual(windows.push(cam(1), 'e', at(5)), ['b', 'c', 'd', 'e']);
  });

  it('keeps one window per (stream, track): the same track id on two streams does not mix', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(1, 'cam-1'), 'a', at(1));
    windows.push(cam(2, 'cam-1'), 'x', at(1));
    assert.deepEqual(windows.push(cam(1, 'cam-2'), 'p', at(1)), ['p', 'p', 'p']);
    assert.deepEqual(windows.push(cam(1, 'cam-1'), 'b', at(2)), ['a', 'a', 'b']);
    assert.deepEqual(windows.get(cam(2, 'cam-1')), ['x', 'x', 'x']);
    assert.equal(windows.size, 3);
  });

  it('does not shift again for a redelivered or replayed frame', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(1), 'a', at(1));
    windows.push(cam(1), 'b', at(2));
    assert.deepEqual(windows.push(cam(1), 'b', at(2)), ['a', 'a', 'b']);
    assert.deepEqual(windows.push(cam(1), 'z', at(1)), ['a', 'a', 'b']);
  });

  it('returns snapshots that later pushes do not change', () => {
    const windows = new SlidingWindows<string>({ length: 2, trackTtlMs: 2000 });
    const first = windows.push(cam(1), 'a', at(1));
    windows.push(cam(1), 'b', at(2));
    assert.deepEqual(first, ['a', 'a']);
  });

  it("ends tracks idle for more than the TTL in their stream's media time, and only those", () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(3), 'a', { seq: 1, ptsMs: 1000 });
    windows.push(cam(1), 'a', { seq: 1, ptsMs: 1000 });
    windows.push(cam(2), 'a', { seq: 5, ptsMs: 2500 });
    windows.push(cam(1, 'cam-2'), 'a', { seq: 1, ptsMs: 0 });
    assert.deepEqual(windows.expireIdle('cam-1', 3000), [], 'exactly the TTL old is still alive');
    assert.deepEqual(windows.expireIdle('cam-1', 3001), [1, 3]);
    assert.equal(windows.get(cam(1)), undefined);
    assert.deepEqual(windows.get(cam(2)), ['a', 'a', 'a']);
    assert.deepEqual(windows.get(cam(1, 'cam-2')), ['a', 'a', 'a'], "another stream's media time is its own");
    assert.deepEqual(windows.expireIdle('no-such-stream', 1e9), []);
  });

  it('starts a fresh window, filled by its first item, for a track that ended', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(1), 'a', at(1));
    windows.push(cam(1), 'b', at(2));
    assert.equal(windows.end(cam(1)), true);
    assert.equal(windows.end(cam(1)), false);
    assert.deepEqual(windows.push(cam(1), 'c', at(3)), ['c', 'c', 'c']);
  });

  it('ends every track of a stream at its end', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(4), 'a', at(1));
    windows.push(cam(2), 'a', at(1));
    windows.push(cam(1, 'cam-2'), 'a', at(1));
    assert.deepEqual(windows.endStream('cam-1'), [2, 4]);
    assert.deepEqual(windows.endStream('cam-1'), []);
    assert.deepEqual(windows.streamIds(), ['cam-2']);
  });

  it('drops the windows of streams another replica now owns', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.push(cam(1, 'cam-1'), 'a', at(1));
    windows.push(cam(1, 'cam-2'), 'a', at(1));
    windows.push(cam(2, 'cam-2'), 'a', at(1));
    windows.push(cam(1, 'cam-3'), 'a', at(1));
    windows.dropStreams(['cam-2', 'cam-3']);
    assert.deepEqual(windows.streamIds(), ['cam-1']);
    assert.equal(windows.size, 1);
  });

  it('refuses an empty window or a TTL that is not positive', () => {
    assert.throws(() => new SlidingWindows({ length: 0, trackTtlMs: 1 }), RangeError);
    assert.throws(() => new SlidingWindows({ length: 10, trackTtlMs: 0 }), RangeError);
  });
});

describe('temporalSettingsSchema (the window settings the stage takes)', () => {
  it("defaults to the reference's window of 10 and rejects unknown keys", () => {
    const defaults = temporalSettingsSchema.parse({});
    assert.equal(defaults.windowLength, 10);
    assert.equal(defaults.windowLength, REFERENCE_WINDOWS.length, 'one length for the offline windows and the live ones');
    assert.equal(temporalSettingsSchema.parse({ windowLength: '12' }).windowLength, 12);
    assert.throws(() => temporalSettingsSchema.parse({ windowLenght: 10 }));
    assert.throws(() => temporalSettingsSchema.parse({ windowLength: 0 }));
  });

  it('describes every field', () => {
    for (const [name, field] of Object.entries(temporalSettingsSchema.shape)) {
      assert.ok(field.description, `${name} has no description`);
    }
  });
});

describe('static fallback (packs without a temporal model)', () => {
  it('is the mean of the static probabilities over the window, first frame weighted until the window fills', () => {
    const windows = new SlidingWindows<number[]>({ length: 4, trackTtlMs: 2000 });
    const a = [1, 0, 0, 0, 0, 0, 0];
    const b = [0, 0.5, 0.5, 0, 0, 0, 0];
    assert.deepEqual(meanProbabilities(windows.push(cam(1), a, at(1))), a);
    assert.deepEqual(meanProbabilities(windows.push(cam(1), b, at(2))), [0.75, 0.125, 0.125, 0, 0, 0, 0]);
    windows.push(cam(1), b, at(3));
    windows.push(cam(1), b, at(4));
    assert.deepEqual(meanProbabilities(windows.push(cam(1), b, at(5))), b);
  });

  it('refuses an empty window and rows of different lengths', () => {
    assert.throws(() => meanProbabilities([]), RangeError);
    assert.throws(() => meanProbabilities([[1], [0.5, 0.5]]), RangeError);
  });
});
