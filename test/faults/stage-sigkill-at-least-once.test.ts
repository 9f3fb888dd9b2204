/**
 * Fault (b) again, as the Kubernetes manifests run the pipeline: at-least-once delivery and the face
 * stage's default tracker settings (tentative tracks confirmed after a few hits). Each of the five
 * stages is SIGKILLed once mid-stream and restarted: events may repeat, none may be lost or changed.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { waitFor } from '@emostream/shared/testing';
import { assertNothingLost, FaultPipeline, STAGES } from './harness.js';

describe('fault, at-least-once with the default tracker: each stage is SIGKILLed once mid-stream and restarted', () => {
  const pipeline = new FaultPipeline({ EMOSTREAM_DELIVERY: 'at-least-once', FACE_TRACK_MIN_HITS: undefined });
  after(() => pipeline.stop());

  it('loses no event of an undisturbed run (repeats allowed, each the same)', async () => {
    assert.equal(pipeline.env.EMOSTREAM_DELIVERY, 'at-least-once');
    assert.equal(pipeline.env.FACE_TRACK_MIN_HITS, undefined, "the face stage's own tracker default");
    const { reference } = await pipeline.startOnLongClip(3);
    const faces = reference.filter((e) => e.schema === 'emostream.event.face.v2').length;
    for (const [i, stage] of STAGES.entries()) {
      if (i > 0) {
        const target = Math.min(faces - 1, Math.round((faces * i) / (STAGES.length + 1)));
        await waitFor(() => (pipeline.assertNoUnexpectedExit(), pipeline.faceEvents('long').length >= target), {
          timeoutMs: 180_000,
          message: () => `${target} face events before killing ${stage} (have ${pipeline.faceEvents('long').length})`,
        });
      }
      await pipeline.kill(stage, 'SIGKILL');
      await pipeline.start(stage);
    }
    await pipeline.waitForSummaries(reference.filter((e) => e.schema === 'emostream.event.track_summary.v2').length);
    pipeline.assertNoUnexpectedExit();
    const repeated = await assertNothingLost(pipeline, reference);
    console.log(`at-least-once: ${repeated} of ${pipeline.faceEvents('long').length} face events were repeats`);
  });
});
