import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { DEAD_LETTER_ORIGINAL_BYTES, StageError, type ConsumedRecord } from '../src/index.js';
import { moduleLogger } from '../src/index.js';
import { DeadLetterWriter } from '../src/runtime/dead-letter-writer.js';
import { decodeDeadLetter } from './fixtures/frames.js';

function writer(inputTopicBase: string, keepImages = false): DeadLetterWriter {
  return new DeadLetterWriter({ stage: 'relay', inputTopicBase, dlqTopic: 'p.dlq.v1', keepImages, logger: moduleLogger('dlq-test') });
}

function record(value: Uint8Array | null, headers: Record<string, string> = {}): ConsumedRecord {
  return { topic: 'p.emotions.v1', partition: 3, offset: '41', key: 'lobby', value, headers, timestampMs: 0 };
}

describe('DeadLetterWriter', () => {
  it('writes the origin, the code, the reason and the original, keyed like the original, on the DLQ topic', () => {
    const original = Buffer.from('not an Emotions message');
    const out = writer('emotions').letter(
      record(original, { traceparent: 't' }),
      new StageError('INVALID_EMOTIONS', 'seven numbers wanted'),
    );
    assert.equal(out.topic, 'p.dlq.v1');
    assert.equal(out.key, 'lobby');
    assert.equal(out.headers?.traceparent, 't');
    const letter = decodeDeadLetter(out.value);
    assert.equal(letter.stage, 'relay');
    assert.deepEqual([letter.originTopic, letter.originPartition, letter.originOffset], ['p.emotions.v1', 3, '41']);
    assert.equal(Buffer.from(letter.originKey).toString(), 'lobby');
    assert.equal(letter.errorCode, 'INVALID_EMOTIONS');
    assert.equal(letter.reason, 'seven numbers wanted');
    assert.deepEqual(Buffer.from(letter.originValue), original);
    assert.equal(letter.originSha256, createHash('sha256').update(original).digest('hex'));
    assert.equal(letter.originTruncated, false);
  });

  it('caps the original so the letter fits, keeping its size and SHA-256, and drops oversized headers', () => {
    const original = Buffer.alloc(DEAD_LETTER_ORIGINAL_BYTES + 10, 7);
    const out = writer('emotions').letter(record(original, { big: 'x'.repeat(20_000) }), new StageError('DECODE_FAILED', 'bad'));
    const letter = decodeDeadLetter(out.value);
    assert.equal(letter.originValue.byteLength, DEAD_LETTER_ORIGINAL_BYTES);
    assert.equal(letter.originTruncated, true);
    assert.equal(letter.originSizeBytes, original.byteLength);
    assert.equal(letter.originSha256, createHash('sha256').update(original).digest('hex'));
    assert.equal(out.headers?.big, undefined);
  });

  it("withholds a biometric topic's original unless told to keep it, and never keeps a credential the reason quoted", () => {
    const original = Buffer.from('a face crop');
    const error = new StageError('CROP_UNDECODABLE', 'fetched from http://user:secret@store/crop');
    const withheld = writer('faces').letter(record(original), error);
    assert.equal(decodeDeadLetter(withheld.value).originValue.byteLength, 0);
    assert.equal(withheld.headers?.['emostream-origin-withheld'], 'biometric');
    assert.doesNotMatch(decodeDeadLetter(withheld.value).reason, /secret/);
    const kept = writer('faces', true).letter(record(original), error);
    assert.deepEqual(Buffer.from(decodeDeadLetter(kept.value).originValue), original);
  });

  it('writes a tombstone as an empty original', () => {
    const letter = decodeDeadLetter(writer('frames').letter(record(null), new StageError('DECODE_FAILED', 'tombstone')).value);
    assert.equal(letter.originSizeBytes, 0);
  });
});
