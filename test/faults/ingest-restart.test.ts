/**
 * Fault (c): ingest is stopped with SIGTERM (a rolling update) or SIGKILL (a crash, an OOM kill) and
 * restarted, once in the middle of a file and once after the file finished. Downstream sees no difference: the file continues after
 * its last published frame, a finished file is never published again, and the events equal those
 * of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { waitFor } from '@emostream/shared/testing';
import { assertSameEvents, FaultPipeline } from './harness.js';

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  describe(`fault: ingest is stopped with ${signal} and restarted, mid-file and after the file finished`, () => {
    const pipeline = new FaultPipeline();
    after(() => pipeline.stop());

    it('publishes each frame once and gives exactly the events of an undisturbed run', async () => {
      const { reference } = await pipeline.startOnLongClip(3);
      const stop = async () => {
        const stopped = await pipeline.kill('ingest', signal);
        if (signal === 'SIGTERM') assert.equal(stopped.code, 0, 'ingest stops cleanly on SIGTERM');
        else assert.equal(stopped.signal, 'SIGKILL');
      };
      await stop();
      const atStop = pipeline.frameSeqs('long').length;
      assert.ok(
        !pipeline.framesWritten.some((f) => f.endOfStream),
        'the file ended before ingest was stopped: the fault did not land mid-file',
      );
      await pipeline.start('ingest');
      await waitFor(() => pipeline.framesWritten.some((f) => f.endOfStream), {
        timeoutMs: 120_000,
        message: 'the file to finish after the restart',
      });
      assert.ok(pipeline.frameSeqs('long').length > atStop, 'the restarted ingest published nothing more');

      // After the file finished: a restart must not publish it again.
      const finished = pipeline.frameSeqs('long').length;
      await stop();
      await pipeline.start('ingest');
      await pipeline.waitReady(['ingest']);
      await pipeline.waitForSummaries(reference.filter((e) => e.schema === 'emostream.event.track_summary.v2').length);
      assert.equal(pipeline.frameSeqs('long').length, finished, 'the finished file was published again after the restart');

      const seqs = pipeline.frameSeqs('long');
      assert.deepEqual(
        seqs,
        [...new Set(seqs)].sort((a, b) => a - b),
        'each frame committed once, in order',
      );
      pipeline.assertNoUnexpectedExit();
      await assertSameEvents(pipeline, reference);
    });
  });
}
