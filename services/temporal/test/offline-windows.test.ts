import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampledFrameNumbers } from '@emostream/shared';
import { argmax, assignPredictions, cutWindows, REFERENCE_WINDOWS, videoEmotion } from '../src/index.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const oneHot = (i: number): number[] => range(7).map((j) => (j === i ? 1 : 0));
/** The expected row of a frame covered by the windows `ws`: the mean of their one-hot predictions. */
const meanOf = (...ws: number[]): number[] => range(7).map((j) => ws.filter((w) => w === j).length / ws.length);

/** Checks every frame from `from` to `to` (1-based, inclusive) against `expected`. */
function assertFrames(rows: (number[] | null)[], from: number, to: number, expected: number[] | null): void {
  for (let frame = from; frame <= to; frame++) assert.deepEqual(rows[frame - 1], expected, `frame ${frame}`);
}

describe('cutWindows (reference windows of 10, step 5)', () => {
  it('cuts 12 items into windows at 0, 5 and 10, padding short ones with their last item', () => {
    const windows = cutWindows(range(12), REFERENCE_WINDOWS);
    assert.deepEqual(
      windows.map((w) => [w.start, w.count]),
      [
        [0, 10],
        [5, 7],
        [10, 2],
      ],
    );
    assert.deepEqual(windows[0]?.items, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(windows[1]?.items, [5, 6, 7, 8, 9, 10, 11, 11, 11, 11]);
    assert.deepEqual(windows[2]?.items, [10, 11, 11, 11, 11, 11, 11, 11, 11, 11]);
  });

  it('cuts 23 items into five windows, the last two padded', () => {
    const windows = cutWindows(range(23));
    assert.deepEqual(
      windows.map((w) => [w.start, w.count]),
      [
        [0, 10],
        [5, 10],
        [10, 10],
        [15, 8],
        [20, 3],
      ],
    );
    assert.deepEqual(windows[3]?.items, [15, 16, 17, 18, 19, 20, 21, 22, 22, 22]);
    assert.deepEqual(windows[4]?.items, [20, 21, 22, 22, 22, 22, 22, 22, 22, 22]);
  });

  it('still cuts a window at 5 from exactly 10 items, though it lies inside the first', () => {
    const windows = cutWindows(range(10));
    assert.deepEqual(windows[1]?.items, [5, 6, 7, 8, 9, 9, 9, 9, 9, 9]);
    assert.equal(windows.length, 2);
  });

  it('pads a sequence shorter than one window to a single full window, and cuts nothing from nothing', () => {
    assert.deepEqual(
      cutWindows(['a', 'b', 'c']).map((w) => w.items),
      [['a', 'b', 'c', 'c', 'c', 'c', 'c', 'c', 'c', 'c']],
    );
    assert.deepEqual(cutWindows([]), []);
  });

  it('repeats the same feature object, not a copy, when padding', () => {
    const features = [new Float32Array([1]), new Float32Array([2])];
    const [window] = cutWindows(features);
    assert.equal(window?.items[9], features[1]);
  });

  it('refuses a window length or step below 1', () => {
    assert.throws(() => cutWindows(range(3), { length: 0, step: 5 }), RangeError);
    assert.throws(() => cutWindows(range(3), { length: 10, step: 0 }), RangeError);
  });
});

describe('assignPredictions (reference per-frame report)', () => {
  it('averages overlapping windows per frame over 12 sampled frames (k=6, 67 frames)', () => {
    const frames = sampledFrameNumbers(67, 6); // 1, 7, …, 67
    const windows = cutWindows(frames);
    const rows = assignPredictions(windows, [oneHot(0), oneHot(1), oneHot(2)], frames, 67);
    assert.equal(rows.length, 67);
    // window 0: sampled frames 1..55; window 1: 31..67; window 2: 61..67
    assertFrames(rows, 1, 30, meanOf(0));
    assertFrames(rows, 31, 55, meanOf(0, 1));
    assertFrames(rows, 56, 60, meanOf(1));
    assertFrames(rows, 61, 67, meanOf(1, 2));
  });

  it('gives frames after the last window the last prediction only', () => {
    const frames = sampledFrameNumbers(67, 6);
    const rows = assignPredictions(cutWindows(frames), [oneHot(0), oneHot(1), oneHot(2)], frames, 70);
    assert.equal(rows.length, 70);
    assertFrames(rows, 61, 67, meanOf(1, 2));
    assertFrames(rows, 68, 70, meanOf(2));
  });

  it('covers 23 sampled frames (k=6) with five windows and a tail to frame 140', () => {
    const frames = sampledFrameNumbers(133, 6); // 23 frames: 1 … 133
    assert.equal(frames.length, 23);
    const rows = assignPredictions(cutWindows(frames), range(5).map(oneHot), frames, 140);
    // windows: 0 → 1..55, 1 → 31..85, 2 → 61..115, 3 → 91..133, 4 → 121..133
    assertFrames(rows, 1, 30, meanOf(0));
    assertFrames(rows, 31, 55, meanOf(0, 1));
    assertFrames(rows, 56, 60, meanOf(1));
    assertFrames(rows, 61, 85, meanOf(1, 2));
    assertFrames(rows, 86, 90, meanOf(2));
    assertFrames(rows, 91, 115, meanOf(2, 3));
    assertFrames(rows, 116, 120, meanOf(3));
    assertFrames(rows, 121, 133, meanOf(3, 4));
    assertFrames(rows, 134, 140, meanOf(4));
  });

  it('averages real numbers, not only one-hot rows', () => {
    const frames = [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 61, 67];
    const p = [
      [0.5, 0.25, 0.25, 0, 0, 0, 0],
      [0.25, 0.5, 0, 0.25, 0, 0, 0],
      [0, 0, 0, 0, 0.5, 0.5, 0],
    ];
    const rows = assignPredictions(cutWindows(frames), p, frames, 67);
    assert.deepEqual(rows[39], [0.375, 0.375, 0.125, 0.125, 0, 0, 0]); // frame 40: windows 0 and 1
    assert.deepEqual(rows[63], [0.125, 0.25, 0, 0.125, 0.25, 0.25, 0]); // frame 64: windows 1 and 2
  });

  it('leaves frames before the first sampled face frame without a row, as the reference CSV omits them', () => {
    // Frame 1 is always sampled; here the detector found the face only from frame 13 on.
    const faceFrames = [13, 19, 25];
    const rows = assignPredictions(cutWindows(faceFrames), [oneHot(3)], faceFrames, 30);
    assert.equal(rows.length, 30);
    assertFrames(rows, 1, 12, null);
    assertFrames(rows, 13, 30, meanOf(3));
  });

  it('skips sampled frames without a face but still covers every frame between a window’s ends', () => {
    const faceFrames = [1, 7, 25, 31]; // 13 and 19 had no face
    const rows = assignPredictions(cutWindows(faceFrames), [oneHot(6)], faceFrames, 33);
    assertFrames(rows, 1, 33, meanOf(6));
  });

  it('reports every frame a window covers even when the frame count says fewer', () => {
    const frames = [1, 7, 13];
    const rows = assignPredictions(cutWindows(frames), [oneHot(0)], frames, 10);
    assert.equal(rows.length, 13);
    assertFrames(rows, 1, 13, meanOf(0));
  });

  it('gives no rows without windows, and refuses mismatched inputs', () => {
    assert.deepEqual(assignPredictions([], [], [], 3), [null, null, null]);
    const frames = [1, 7, 13];
    assert.throws(() => assignPredictions(cutWindows(frames), [], frames, 13), /1 windows but 0 predictions/);
    assert.throws(() => assignPredictions(cutWindows(frames), [oneHot(0)], [1, 7], 13), /outside/);
    assert.throws(() => assignPredictions(cutWindows(frames), [oneHot(0)], [1, 13, 7], 13), /must increase/);
    assert.throws(() => assignPredictions(cutWindows(frames), [oneHot(0)], [0, 7, 13], 13), /1-based/);
    const twelve = sampledFrameNumbers(67, 6);
    assert.throws(() => assignPredictions(cutWindows(twelve), [oneHot(0), oneHot(1), [1]], twelve, 67), /differ in length/);
  });
});

describe('videoEmotion (reference console label)', () => {
  it('is the most frequent per-window argmax', () => {
    assert.equal(videoEmotion([oneHot(1), oneHot(6), oneHot(6), [0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.3]]), 6);
  });

  it('breaks ties towards the smallest label index, as scipy.stats.mode does', () => {
    assert.equal(videoEmotion([oneHot(5), oneHot(2), oneHot(5), oneHot(2)]), 2);
  });

  it('takes the first of equal maxima as argmax, as NumPy does', () => {
    assert.equal(argmax([0.2, 0.4, 0.4]), 1);
    assert.throws(() => videoEmotion([]), RangeError);
  });
});
