/**
 * Fault (b): each of the five stages is SIGKILLed once in the middle of a stream and restarted.
 * Exactly-once: the events equal those of an undisturbed run, each once; no other process exits.
 */
import { after, describe, it } from 'node:test';
import { assertSameEvents, FaultPipeline, killEachStageMidStream } from './harness.js';

describe('fault: each stage is SIGKILLed once mid-stream and restarted', () => {
  const pipeline = new FaultPipeline();
  after(() => pipeline.stop());

  it('gives exactly the events of an undisturbed run', async () => {
    const reference = await killEachStageMidStream(pipeline);
    await assertSameEvents(pipeline, reference);
  });
});
