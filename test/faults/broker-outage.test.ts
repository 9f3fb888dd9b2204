/**
 * Fault (a): the broker is killed for 30 s while ingest is in the middle of a multi-frame file.
 * Every process rides it out: none exits, each turns unready (and says so) while the bus is away
 * and ready again after, ingest neither ends the stream nor repeats a frame, and the events equal
 * those of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { brokerControl } from '@emostream/shared/testing';
import { assertSameEvents, BUS_UNREACHABLE_MS, FaultPipeline, STAGES } from './harness.js';

describe('fault: the broker is down for 30 s in the middle of a file', () => {
  const pipeline = new FaultPipeline();
  after(() => pipeline.stop());

  it('loses nothing, repeats nothing, and every stage is unready during the outage and ready after', async () => {
    const { reference } = await pipeline.startOnLongClip(2);

    const broker = brokerControl();
    await broker.kill('SIGKILL');
    const downAt = Date.now();
    let restartAt: number;
    const framesAtKill = pipeline.frameSeqs('long');
    try {
      assert.ok(
        !pipeline.framesWritten.some((f) => f.endOfStream),
        'the file ended before the broker was killed: the fault did not land mid-file',
      );
      // Time is the subject: the outage lasts 30 s (the README's failure table), longer than kafkajs's
      // own retries and the session timeout, whatever the processes do meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 30_000));
      pipeline.assertNoUnexpectedExit();
    } finally {
      // Whatever happened, the broker comes back: the next tests need it. (The stages may see it
      // before restart() returns: the outage window ends when the restart begins.)
      restartAt = Date.now();
      await broker.restart();
    }

    await pipeline.waitReady();
    await pipeline.waitForSummaries(reference.filter((e) => e.schema === 'emostream.event.track_summary.v2').length);
    pipeline.assertNoUnexpectedExit();

    for (const stage of STAGES) {
      const during = pipeline.readinessBetween(stage, downAt + BUS_UNREACHABLE_MS + 3_000, restartAt);
      assert.ok(
        during.length > 0 && during.every((s) => s === 503),
        `${stage}: /readyz during the outage was ${[...new Set(during)].join(', ')}, not 503`,
      );
      const metrics = await pipeline.metrics(stage);
      assert.ok(
        metrics.includes(`emostream_${stage}_bus_reachable 1`),
        `${stage}: bus_reachable is not back to 1; its log:\n${pipeline.logTail(stage)}`,
      );
    }
    // Ingest was in the middle of the file: it waited for the bus, it did not end or fail the stream.
    const seqs = pipeline.frameSeqs('long');
    assert.ok(framesAtKill.length < seqs.length, `ingest had published all ${seqs.length} frames before the kill`);
    assert.deepEqual(
      seqs,
      [...new Set(seqs)].sort((a, b) => a - b),
      'each frame committed once, in order',
    );
    assert.equal(pipeline.framesWritten.filter((f) => f.endOfStream).length, 1, 'one end-of-stream marker, after the last frame');
    await assertSameEvents(pipeline, reference);
  });
});
