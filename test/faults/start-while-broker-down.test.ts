/**
 * Fault (e): the stages start while the broker is down. None exits: each waits, unready, and
 * becomes ready once the broker is back; the events then equal those of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { brokerControl } from '@emostream/shared/testing';
import { assertSameEvents, clip, FaultPipeline, referenceEvents, STAGES } from './harness.js';

describe('fault: the stages start while the broker is down', () => {
  const pipeline = new FaultPipeline();
  after(() => pipeline.stop());

  it('waits unready without exiting, then runs as if nothing happened', async () => {
    const file = clip('happy');
    const reference = await referenceEvents({ happy: file });
    await pipeline.startReaders();
    const broker = brokerControl();
    await broker.kill('SIGKILL');
    let restarted = false;
    try {
      const startedAt = Date.now();
      await pipeline.startAll();
      // Long enough for every stage to have loaded its models and tried the bus many times.
      await new Promise((resolve) => setTimeout(resolve, 25_000));
      pipeline.assertNoUnexpectedExit();
      for (const stage of STAGES) {
        const seen = pipeline.readinessBetween(stage, startedAt, Date.now());
        assert.ok(
          seen.includes(503),
          `${stage}: /readyz never answered 503 while the broker was down (saw ${[...new Set(seen)].join(', ')})`,
        );
        assert.ok(!seen.includes(200), `${stage}: ready while the broker was down`);
      }
      await broker.restart();
      restarted = true;
    } finally {
      if (!restarted) await broker.restart();
    }
    await pipeline.waitReady();
    pipeline.addStream('happy', file);
    await pipeline.waitForSummaries(1);
    pipeline.assertNoUnexpectedExit();
    await assertSameEvents(pipeline, reference);
  });
});
