/**
 * Fault (b) again, as the Kubernetes manifests run the pipeline: at-least-once delivery and the face
 * stage's default tracker settings (tentative tracks confirmed after a few hits). Each of the five
 * stages is SIGKILLed once mid-stream and restarted: events may repeat, none may be lost or changed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertNothingLost, FaultPipeline, killEachStageMidStream } from './harness.js';

describe('fault, at-least-once with the default tracker: each stage is SIGKILLed once mid-stream and restarted', () => {
  const pipeline = new FaultPipeline({ EMOSTREAM_DELIVERY: 'at-least-once', FACE_TRACK_MIN_HITS: undefined });
  after(() => pipeline.stop());

  it('loses no event of an undisturbed run (repeats allowed, each the same)', async () => {
    assert.equal(pipeline.env.EMOSTREAM_DELIVERY, 'at-least-once');
    assert.equal(pipeline.env.FACE_TRACK_MIN_HITS, undefined, "the face stage's own tracker default");
    const reference = await killEachStageMidStream(pipeline);
    const repeated = await assertNothingLost(pipeline, reference);
    console.log(`at-least-once: ${repeated} of ${pipeline.faceEvents('long').length} face events were repeats`);
  });
});
