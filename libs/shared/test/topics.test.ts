import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALL_TOPICS,
  BIOMETRIC_TOPIC_BASES,
  carriesBiometrics,
  DecodeError,
  deadLetterOrigin,
  decodeJson,
  encodeJson,
  encodeStreamStatus,
  topicName,
  topics,
} from '../src/index.js';

describe('topic registry', () => {
  it('defines all ten topics once, each with its codec', () => {
    assert.deepEqual(
      ALL_TOPICS.map((t) => `${topicName(t, 'p')} ${t.codec}`),
      [
        'p.frames.v1 protobuf',
        'p.faces.v1 protobuf',
        'p.embeddings.v1 protobuf',
        'p.emotions.v1 protobuf',
        'p.dlq.v1 protobuf',
        'p.streams.v1 protobuf',
        'p.events.v2 json',
        'p.stream-status.v1 json',
        'p.ingest-progress.v1 json',
        'p.face-tracker-state.v1 json',
      ],
    );
  });

  it('keys every topic by streamId but the DLQ, which is keyed like the message that failed', () => {
    assert.deepEqual(
      ALL_TOPICS.filter((t) => t.keyRule !== 'streamId').map((t) => t.base),
      ['dlq'],
    );
  });

  it('withholds in dead letters the originals of exactly the topics that carry images or face features', () => {
    assert.deepEqual(
      ALL_TOPICS.filter((t) => t.carriesImages).map((t) => t.base),
      ['frames', 'faces'],
    );
    assert.deepEqual(BIOMETRIC_TOPIC_BASES, ['frames', 'faces', 'embeddings', 'face-tracker-state']);
    const bytes = new Uint8Array([1, 2, 3]);
    for (const topic of ALL_TOPICS) {
      const origin = deadLetterOrigin(topic.base, bytes, false);
      assert.equal(origin.originValue.byteLength === 0, carriesBiometrics(topic), topic.base);
      assert.equal(deadLetterOrigin(topic.base, bytes, true).originValue.byteLength, 3, `${topic.base}: kept when configured`);
    }
  });

  it("decodes a JSON topic's value against its schema and checks the key the value names", () => {
    const status = { streamId: 'lobby', state: 'running' as const, frames: 3, instanceId: 'ingest-0', atMs: 1 };
    const bytes = encodeStreamStatus(status);
    assert.deepEqual(decodeJson(topics.streamStatus, bytes, 'lobby'), status);
    assert.throws(() => decodeJson(topics.streamStatus, bytes, 'door'), DecodeError, 'a status under another stream key');
    assert.throws(
      () => decodeJson(topics.streamStatus, Buffer.from(JSON.stringify({ ...status, state: 'dancing' })), 'lobby'),
      (error: Error) => error instanceof DecodeError && /state/.test(error.message),
    );
    assert.throws(() => decodeJson(topics.streamStatus, Buffer.from('{not json'), 'lobby'), DecodeError);
    // Progress does not name its stream: any key is taken.
    const progress = { spec: 'file:/a.mp4', lastSeq: 12, done: false };
    assert.deepEqual(decodeJson(topics.ingestProgress, encodeJson(topics.ingestProgress, progress), 'any'), progress);
    assert.throws(() => decodeJson(topics.ingestProgress, Buffer.from('{"spec":"x","lastSeq":"12","done":false}')), DecodeError);
  });

  it('keeps a public event whole, checking its envelope', () => {
    const event = { schema: 'emostream.event.track_summary.v2' as const, streamId: 'lobby', trackId: 4, frames: 9 };
    assert.deepEqual(decodeJson(topics.events, encodeJson(topics.events, event), 'lobby'), event);
    assert.throws(() => decodeJson(topics.events, Buffer.from('{"schema":"other","streamId":"lobby"}'), 'lobby'), DecodeError);
  });
});
