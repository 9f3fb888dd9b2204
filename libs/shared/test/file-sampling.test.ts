import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSampledFrame, roundHalfToEven, sampledFrameNumbers, samplingStep } from '../src/index.js';

describe('roundHalfToEven (Python round)', () => {
  it('rounds halves to the even neighbour, unlike Math.round', () => {
    assert.equal(roundHalfToEven(0.5), 0);
    assert.equal(roundHalfToEven(1.5), 2);
    assert.equal(roundHalfToEven(2.5), 2);
    assert.equal(roundHalfToEven(3.5), 4);
    assert.equal(roundHalfToEven(12.5), 12);
    assert.equal(roundHalfToEven(-2.5), -2);
    assert.equal(roundHalfToEven(-3.5), -4);
    assert.equal(Math.round(2.5), 3, 'the JavaScript behaviour this function must not have');
  });

  it('rounds everything that is not a half to the nearest integer', () => {
    assert.equal(roundHalfToEven(2.4999999), 2);
    assert.equal(roundHalfToEven(2.5000001), 3);
    assert.equal(roundHalfToEven(5.994), 6);
    assert.equal(roundHalfToEven(-2.6), -3);
    assert.equal(roundHalfToEven(7), 7);
  });
});

describe('samplingStep (k = round(5·round(fps)/25))', () => {
  for (const [fps, k] of [
    [25, 5],
    [29.97, 6],
    [30000 / 1001, 6],
    [30, 6],
    [12, 2],
    [15, 3],
    [60, 12],
  ] as const) {
    it(`samples with k = ${k} at ${fps} fps`, () => assert.equal(samplingStep(fps), k));
  }

  it('rounds half-way frame rates as Python does: 12.5 fps → 2 (Math.round would give 3)', () => {
    assert.equal(samplingStep(12.5), 2);
    assert.equal(Math.round((5 * Math.round(12.5)) / 25), 3);
  });

  it('rounds 37.5 fps to k = 8 and 62.5 fps to k = 12 (Math.round would give 13)', () => {
    assert.equal(samplingStep(37.5), 8);
    assert.equal(samplingStep(62.5), 12);
    assert.equal(Math.round((5 * 62.5) / 25), 13);
  });

  it('agrees with the single-step round(5·fps/25) of REFERENCE.md at every fps from 3 to 120 in steps of 0.01', () => {
    for (let hundredths = 300; hundredths <= 12_000; hundredths++) {
      const fps = hundredths / 100;
      assert.equal(samplingStep(fps), roundHalfToEven((5 * fps) / 25), `fps ${fps}`);
    }
  });

  it('refuses frame rates the reference cannot sample (k = 0) and nonsense', () => {
    assert.throws(() => samplingStep(2), /sampling step of 0/);
    assert.throws(() => samplingStep(2.5), /sampling step of 0/);
    assert.equal(samplingStep(3), 1);
    assert.throws(() => samplingStep(0), RangeError);
    assert.throws(() => samplingStep(Number.NaN), RangeError);
  });
});

describe('sampled frame numbers', () => {
  it('are 1, 1+k, 1+2k, … up to the last frame', () => {
    assert.deepEqual(sampledFrameNumbers(67, 6), [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 61, 67]);
    assert.deepEqual(sampledFrameNumbers(66, 6), [1, 7, 13, 19, 25, 31, 37, 43, 49, 55, 61]);
    assert.deepEqual(sampledFrameNumbers(1, 6), [1]);
    assert.deepEqual(sampledFrameNumbers(0, 6), []);
  });

  it('give 20 frames of a 118-frame 30 fps RAVDESS clip', () => {
    const frames = sampledFrameNumbers(118, samplingStep(30));
    assert.equal(frames.length, 20);
    assert.equal(frames.at(-1), 115);
  });

  it('can be tested one frame at a time, as a streaming ingest sees them', () => {
    const k = samplingStep(30);
    const streamed = Array.from({ length: 67 }, (_, i) => i + 1).filter((frame) => isSampledFrame(frame, k));
    assert.deepEqual(streamed, sampledFrameNumbers(67, k));
    assert.equal(isSampledFrame(0, k), false);
    assert.throws(() => isSampledFrame(1, 0), RangeError);
  });
});
