/**
 * Fault (e): the stages start while the broker is down. None exits: each waits, unready, and
 * becomes ready once the broker is back; the events then equal those of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertStaysTrue, brokerControl } from '@emostream/shared/testing';
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
      // The positive control: every stage loaded its models and got to the bus, found it unreachable
      // for BUS_UNREACHABLE_MS (it says so, once), and has kept trying for 12 s since: past kafkajs's
      // connection retries and its own start-up back-off. Until then, no stage may exit or turn ready.
      const waitingSince = new Map<string, number>();
      await assertStaysTrue(
        () => {
          for (const stage of STAGES) {
            if (!waitingSince.has(stage) && pipeline.processes.get(stage)?.output.some((line) => line.includes('the bus is unreachable')))
              waitingSince.set(stage, Date.now());
          }
          return (
            pipeline.unexpectedExits.length === 0 &&
            STAGES.every((stage) => !pipeline.readinessBetween(stage, startedAt, Date.now()).includes(200))
          );
        },
        {
          forMs: 0,
          provenPossible: () => waitingSince.size === STAGES.length && Date.now() - Math.max(...waitingSince.values()) >= 12_000,
          message: () =>
            `no stage exits or turns ready while the broker is down: ${pipeline.unexpectedExits.join('\n') || 'one turned ready'}`,
          provenMessage: () =>
            `every stage finding the bus unreachable for 12 s (so far: ${[...waitingSince.keys()].join(', ') || 'none'})`,
          timeoutMs: 90_000,
          intervalMs: 200,
        },
      );
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
