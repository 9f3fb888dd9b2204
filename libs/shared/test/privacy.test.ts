/**
 * Issue 11: dead letters keep no picture of a frame or crop unless configured, and no credential a
 * failure's message quoted; URLs are printed without userinfo and query values.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import {
  DeadLetterSchema,
  deadLetterOrigin,
  encodeMessage,
  makeMessage,
  redactLogFields,
  redactUrl,
  redactUrlsIn,
  registerSecret,
  StageError,
  topicName,
  topics,
  type StageDefinition,
} from '../src/index.js';
import { runStageInMemory } from '../src/testing.js';

describe('redaction', () => {
  it('drops userinfo and query values from every URL in a text, keeping what the URL was', () => {
    assert.equal(
      redactUrl('rtsp://viewer:secret@cam.lan:554/live?token=secret&channel=1'),
      'rtsp://***@cam.lan:554/live?token=***&channel=***',
    );
    assert.equal(redactUrl('/videos/lobby.mp4'), '/videos/lobby.mp4');
    assert.equal(
      redactUrlsIn('ffmpeg failed on http://u:p%40ss@10.0.0.1/a.flv?sig=abc: 401; retry http://x/y'),
      // A query runs to the next blank: the value and whatever sticks to it go.
      'ffmpeg failed on http://***@10.0.0.1/a.flv?sig=*** 401; retry http://x/y',
    );
    const fields = redactLogFields({ url: 'http://a:secret@h/', at: new Date(0), nested: { list: ['rtsp://b:secret@h/'] } }) as Record<
      string,
      unknown
    >;
    assert.doesNotMatch(JSON.stringify(fields), /secret/);
    assert.ok(fields.at instanceof Date, 'a Date keeps its own serialisation');
  });

  it('redacts a registered secret by value wherever it stands: a path, a header, a message, an error in log fields (issue 27: a credential in a path was logged)', () => {
    const secret = 'p@th/s3cret!';
    const text = `ffmpeg failed on http://cam/s/${encodeURIComponent(secret)}: 404; header X-Token: ${secret}`;
    // URL redaction alone keeps a path: the case the audit found.
    assert.ok(redactUrlsIn(text).includes(encodeURIComponent(secret)), 'the control: a path is not a URL credential');
    registerSecret(secret);
    assert.equal(redactUrlsIn(text), 'ffmpeg failed on http://cam/s/***: 404; header X-Token: ***');
    assert.doesNotMatch(JSON.stringify(redactLogFields({ err: new Error(`at /s/${secret}`), why: [secret] })), /s3cret/);
    // Too short to redact by value (it would blank out text everywhere): left to URL redaction.
    registerSecret('ab');
    assert.equal(redactUrlsIn('tab cab'), 'tab cab');
  });
});

describe('dead letters: privacy by default', () => {
  it('withholds the bytes of frames, crops and face features (size and SHA-256 instead) unless configured, and keeps other messages', () => {
    const picture = Buffer.from('a JPEG of a face');
    const withheld = deadLetterOrigin('frames', picture, false);
    assert.equal(withheld.originValue.length, 0);
    assert.deepEqual(withheld.headers, {
      'emostream-origin-bytes': String(picture.length),
      'emostream-origin-sha256': createHash('sha256').update(picture).digest('hex'),
      'emostream-origin-withheld': 'biometric',
    });
    assert.equal(deadLetterOrigin('faces', picture, false).originValue.length, 0);
    assert.deepEqual(deadLetterOrigin('faces', picture, true).originValue, picture, 'EMOSTREAM_DLQ_KEEP_IMAGES=true keeps them');
    // Regression: temporal's dead letters kept 64 KiB of a face's features for a day (the DLQ's
    // retention) while their own topic keeps them 2 hours.
    assert.equal(deadLetterOrigin('embeddings', picture, false).originValue.length, 0, 'face features are biometric too');
    assert.deepEqual(deadLetterOrigin('emotions', picture, false).originValue, picture, 'no picture in emotions: kept for replay');
  });

  it('dead-letters a frame with neither its picture nor a credential its error quoted', async () => {
    const failing: StageDefinition<typeof topics.frames.schema> = {
      name: 'leaky',
      input: topics.frames,
      outputs: [topics.faces],
      handle() {
        return Promise.reject(new StageError('SOURCE_BROKEN', 'cannot open rtsp://viewer:secret@cam.lan/live?token=secret'));
      },
    };
    const jpeg = Buffer.from('\xff\xd8 pretend this is a face \xff\xd9', 'latin1');
    const dlq = topicName(topics.dlq, 'priv');
    const { records } = await runStageInMemory(failing, {
      topicPrefix: 'priv',
      inputs: (prefix) => [
        {
          topic: topicName(topics.frames, prefix),
          key: 'cam',
          value: encodeMessage(topics.frames, makeMessage(topics.frames, { ref: { streamId: 'cam', seq: 1 }, jpeg })),
        },
      ],
      read: [dlq],
      done: (got) => got.get(dlq)!.length >= 1,
    });
    const record = records.get(dlq)![0]!;
    const letter = fromBinary(DeadLetterSchema, record.value!);
    assert.equal(letter.errorCode, 'SOURCE_BROKEN');
    assert.equal(letter.reason, 'cannot open rtsp://***@cam.lan/live?token=***');
    assert.equal(letter.originValue.length, 0);
    assert.equal(record.headers['emostream-origin-withheld'], 'biometric');
    assert.ok(!Buffer.from(record.value!).includes(jpeg), 'the picture is not in the dead letter');
  });
});
