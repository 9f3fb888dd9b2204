// What `emo streams add` refuses to write to the compacted streams topic, which keeps a spec forever.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertStorableSpec } from '../src/streams.js';

describe('a spec stored in the streams topic', () => {
  it('carries no credential inline: a password, a query value, or a user name alone (issue 27)', () => {
    for (const [url, what] of [
      ['rtsp://admin:hunter2@10.0.0.5/live', /a password/],
      ['http://10.0.0.5/snap.jpg?token=abc123', /a query value/],
      ['rtsp://7f3a9c0e-token@10.0.0.5/live', /a user name without a password/],
    ] as const) {
      assert.throws(
        () => assertStorableSpec('door', url),
        (error: Error) => {
          assert.match(error.message, /carries a credential inline/);
          assert.match(error.message, what);
          assert.doesNotMatch(error.message, /hunter2|abc123|7f3a9c0e/, 'the refusal does not repeat the secret');
          return true;
        },
      );
    }
  });

  it('takes credentials named by reference, and a user name beside a password reference', () => {
    for (const url of [
      'rtsp://${env:INGEST_CREDENTIAL_USER}:${env:INGEST_CREDENTIAL_DOOR}@10.0.0.5/live',
      'rtsp://admin:${env:INGEST_CREDENTIAL_DOOR}@10.0.0.5/live',
      'http://10.0.0.5/snap.jpg?token=${file:yard-token}',
      'rtsp://10.0.0.5/live',
    ])
      assert.doesNotThrow(() => assertStorableSpec('door', url), url);
  });
});
