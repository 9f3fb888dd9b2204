/**
 * Fault (b): each of the five stages is SIGKILLed once in the middle of a stream and restarted.
 * Exactly-once: the events equal those of an undisturbed run, each once; no other process exits.
 */
import { after, describe, it } from 'node:test';
import { waitFor } from '@emostream/shared/testing';
import { assertSameEvents, FaultPipeline, STAGES } from './harness.js';

describe('fault: each stage is SIGKILLed once mid-stream and restarted', () => {
  const pipeline = new FaultPipeline();
  after(() => pipeline.stop());

  it('gives exactly the events of an undisturbed run', async () => {
    // Ingest first, while it is in the middle of the file; then each stage after a little progress.
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
    await assertSameEvents(pipeline, reference);
  });
});
