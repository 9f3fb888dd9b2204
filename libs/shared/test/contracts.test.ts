import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  ALL_TOPICS,
  decodeMessage,
  DecodeError,
  EMOTION_LABELS,
  encodeMessage,
  eventsTopic,
  makeMessage,
  toProbabilities,
  topicName,
  topics,
  TRACK_SUMMARY_EVENT,
  type FaceEmotionEvent,
  type TrackSummaryEvent,
} from '../src/index.js';
import { faceEventFixture } from '../src/testing.js';

const sharedDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('message contracts', () => {
  it('names every topic once, versioned, under a configurable prefix', () => {
    assert.equal(topicName(topics.frames, 'emostream'), 'emostream.frames.v1');
    assert.equal(topicName(topics.faces, 'site-a'), 'site-a.faces.v1');
    assert.equal(topicName(eventsTopic, 'emostream'), 'emostream.events.v2');
    const names = ALL_TOPICS.map((t) => topicName(t, 'p'));
    assert.equal(new Set(names).size, names.length);
    assert.equal(topics.streams.configEntries?.['cleanup.policy'], 'compact');
  });

  it('round-trips a frame and keys it by its streamId', () => {
    const frame = makeMessage(topics.frames, {
      ref: { streamId: 'cam-1', seq: 7, ptsMs: 280, capturedAtMs: 1_700_000_000_123, width: 640, height: 480 },
      jpeg: new Uint8Array([1, 2, 3]),
    });
    const bytes = encodeMessage(topics.frames, frame);
    assert.equal(topics.frames.keyOf(frame), 'cam-1');
    const decoded = decodeMessage(topics.frames, 'cam-1', bytes);
    assert.equal(decoded.ref?.seq, 7);
    assert.equal(decoded.ref?.capturedAtMs, 1_700_000_000_123);
    assert.deepEqual([...decoded.jpeg], [1, 2, 3]);
  });

  it("rejects a message whose streamId differs from its key, and bytes that are not the topic's type", () => {
    const bytes = encodeMessage(topics.faces, makeMessage(topics.faces, { ref: { streamId: 'cam-1' } }));
    assert.throws(
      () => decodeMessage(topics.faces, 'cam-2', bytes),
      (e: unknown) => e instanceof DecodeError && /arrived under key "cam-2"/.test(e.message),
    );
    assert.throws(() => decodeMessage(topics.faces, 'cam-1', Buffer.from('garbage')), DecodeError);
    assert.throws(() => decodeMessage(topics.faces, 'cam-1', new Uint8Array()), /no frame header/);
  });

  it('keeps the generated TypeScript in step with the .proto schemas', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'proto-'));
    try {
      const bin = path.resolve(sharedDir, '../../node_modules/.bin');
      execFileSync(path.join(bin, 'buf'), ['generate', '-o', out], {
        cwd: sharedDir,
        env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
      });
      const generated = path.join(out, 'src/contracts/gen/emostream/v1');
      for (const file of readdirSync(generated)) {
        assert.equal(
          readFileSync(path.join(generated, file), 'utf8'),
          readFileSync(path.join(sharedDir, 'src/contracts/gen/emostream/v1', file), 'utf8'),
          `${file} is stale: run npm run proto`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('public event JSON Schema', () => {
  const schema = JSON.parse(readFileSync(path.join(sharedDir, 'schemas/emotion-event.v2.schema.json'), 'utf8')) as {
    $defs: { label: { enum: string[] } };
  };
  const validate = new Ajv2020({ allErrors: true, strict: true }).compile(schema);
  const probabilities = toProbabilities([0.1, 0.6, 0.05, 0.05, 0.05, 0.05, 0.1]);

  const face: FaceEmotionEvent = faceEventFixture({ streamId: 'lobby-cam', seq: 31, frame: { width: 1920, height: 1080 }, probabilities });
  const summary: TrackSummaryEvent = {
    schema: TRACK_SUMMARY_EVENT,
    streamId: 'lobby-cam',
    trackId: 1,
    firstSeq: 1,
    lastSeq: 61,
    startPtsMs: 0,
    endPtsMs: 2_000,
    durationMs: 2_000,
    frames: 11,
    meanEmotion: 'Happiness',
    meanProbabilities: probabilities,
    emittedAtMs: 1_700_000_002_100,
  };

  it('accepts the events the TypeScript types describe', () => {
    assert.ok(validate(face), JSON.stringify(validate.errors));
    assert.ok(validate(summary), JSON.stringify(validate.errors));
  });

  it('rejects an unknown label, a missing probability and an unknown field', () => {
    assert.equal(validate({ ...face, label: 'Contempt' }), false);
    const { Anger: _dropped, ...six } = probabilities;
    assert.equal(validate({ ...face, probabilities: six }), false);
    assert.equal(validate({ ...summary, extra: 1 }), false);
    const { frame: _frame, ...frameless } = face;
    assert.equal(validate(frameless), false, 'a v2 face event without the frame size is invalid');
  });

  it("lists the labels in REFERENCE.md's order", () => {
    assert.deepEqual(schema.$defs.label.enum, [...EMOTION_LABELS]);
    assert.deepEqual(EMOTION_LABELS, ['Neutral', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Anger']);
  });
});
