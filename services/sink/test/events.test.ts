import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StageError } from '@emostream/shared';
import { dominantLabel, faceEmotionEvent, faceEmotionEvents, InvalidEmotionsError, shortestFloat32 } from '../src/index.js';
import { assertValidEvent, emotionsMessage } from './helpers.js';

const ref = { streamId: 'cam-1', seq: 42, ptsMs: 1680, capturedAtMs: 1_700_000_000_000, width: 640, height: 480 };
const box = { x: 10.5, y: 20.25, width: 100, height: 120 };
const probs = [0.05, 0.1, 0.05, 0.05, 0.05, 0.1, 0.6];

describe('face emotion events', () => {
  it('builds the public event of a face: argmax label, its confidence, named probabilities, and valid under the schema', () => {
    const message = emotionsMessage({ ref, faces: [{ trackId: 3, box, score: 0.9, probs, label: 6 }] });
    const [event] = faceEmotionEvents(message, 1_700_000_000_250);
    assert.deepEqual(event, {
      schema: 'emostream.event.face.v2',
      streamId: 'cam-1',
      seq: 42,
      ptsMs: 1680,
      capturedAtMs: 1_700_000_000_000,
      emittedAtMs: 1_700_000_000_250,
      trackId: 3,
      box,
      frame: { width: 640, height: 480 },
      detectorScore: 0.9,
      label: 'Anger',
      confidence: 0.6,
      probabilities: { Neutral: 0.05, Happiness: 0.1, Sadness: 0.05, Surprise: 0.05, Fear: 0.05, Disgust: 0.1, Anger: 0.6 },
    });
    assertValidEvent(event);
  });

  it('writes float32 values from the wire as their shortest decimals', () => {
    const message = emotionsMessage({
      ref,
      faces: [{ trackId: 1, box: { x: 0.1, y: 0.2, width: 33.3, height: 44.4 }, score: 0.7, probs }],
    });
    assert.equal(message.faces[0]?.score, Math.fround(0.7), 'the wire holds float32');
    const [event] = faceEmotionEvents(message, 0);
    assert.equal(event?.detectorScore, 0.7);
    assert.deepEqual(event?.box, { x: 0.1, y: 0.2, width: 33.3, height: 44.4 });
    assert.equal(event?.probabilities.Anger, 0.6);
  });

  it('gives the source frame size when ingest scaled the frame down for transport (boxes are in the source pixels), and refuses a frame without a size', () => {
    const scaled = { ...ref, width: 1280, height: 720, sourceWidth: 1920, sourceHeight: 1080 };
    const [event] = faceEmotionEvents(emotionsMessage({ ref: scaled, faces: [{ trackId: 1, box, score: 0.9, probs }] }), 0);
    assert.deepEqual(event?.frame, { width: 1920, height: 1080 });
    assert.deepEqual(event?.box, box, "the sink passes the face stage's source-pixel box on unchanged");
    assertValidEvent(event);
    const sizeless = { streamId: 'cam-1', seq: 1, ptsMs: 0, capturedAtMs: 0 };
    assert.throws(
      () => faceEmotionEvent(sizeless, { trackId: 1, box, score: 0.9, probs }, 0),
      (e: unknown) => e instanceof InvalidEmotionsError && /frame has no size/.test(e.message),
    );
  });

  it('takes the label from the probabilities, not from the message’s label field', () => {
    const message = emotionsMessage({ ref, faces: [{ trackId: 1, box, score: 0.9, probs, label: 1 }] });
    assert.equal(faceEmotionEvents(message, 0)[0]?.label, 'Anger');
  });

  it('picks the first label when probabilities tie', () => {
    assert.equal(dominantLabel([0.1, 0.3, 0.3, 0.1, 0.1, 0.05, 0.05]), 'Happiness');
  });

  it('gives one event per face in message order, and none for a frame without faces', () => {
    const two = emotionsMessage({
      ref,
      faces: [
        { trackId: 2, box, score: 0.9, probs },
        { trackId: 1, box, score: 0.8, probs },
      ],
    });
    assert.deepEqual(
      faceEmotionEvents(two, 0).map((e) => e.trackId),
      [2, 1],
    );
    assert.deepEqual(faceEmotionEvents(emotionsMessage({ ref, faces: [] }), 0), []);
  });

  it('refuses, as a non-retriable INVALID_EMOTIONS error, faces that would break the public schema', () => {
    const isInvalid = (pattern: RegExp) => (e: unknown) =>
      e instanceof InvalidEmotionsError &&
      e instanceof StageError &&
      e.code === 'INVALID_EMOTIONS' &&
      !e.retriable &&
      pattern.test(e.message);
    assert.throws(() => faceEmotionEvent(ref, { trackId: 1, score: 0.9, probs }, 0), isInvalid(/no box/));
    assert.throws(
      () => faceEmotionEvent(ref, { trackId: 1, box, score: 0.9, probs: [0.5, 0.5] }, 0),
      isInvalid(/expected 7 probabilities, got 2/),
    );
    assert.throws(
      () => faceEmotionEvent(ref, { trackId: 1, box, score: 0.9, probs: [2, -1, 0, 0, 0, 0, 0] }, 0),
      isInvalid(/probability 2 is not in/),
    );
    assert.throws(() => faceEmotionEvent(ref, { trackId: 1, box, score: 0.9, probs: [Number.NaN, 0, 0, 0, 0, 0, 1] }, 0), isInvalid(/NaN/));
    assert.throws(() => faceEmotionEvent(ref, { trackId: 1, box, score: 1.5, probs }, 0), isInvalid(/detector score/));
    assert.throws(() => faceEmotionEvents({ faces: [], endedTrackIds: [] }, 0), isInvalid(/no frame header/));
  });
});

describe('shortestFloat32', () => {
  it('returns the shortest decimal with the same float32, and keeps exact values', () => {
    assert.equal(shortestFloat32(Math.fround(0.1)), 0.1);
    assert.equal(shortestFloat32(Math.fround(0.123456789)), 0.12345679);
    assert.equal(shortestFloat32(0.5), 0.5);
    assert.equal(shortestFloat32(0), 0);
    assert.equal(shortestFloat32(1), 1);
    for (const value of [Math.fround(0.99999994), Math.fround(1e-7), Math.fround(3.4e38)]) {
      assert.equal(Math.fround(shortestFloat32(value)), value);
    }
  });
});
