import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStreamStatus, InMemoryBus, StageError, type StreamStatus } from '@emostream/shared';
import { waitFor } from '@emostream/shared/testing';
import { SourceRefusedError, StreamStatusReporter, StreamStatusWriter } from '../src/index.js';

/** A reporter on the in-memory bus with a clock the test moves, and every status it wrote, in order. */
async function reporterOnBus(intervalMs: number) {
  const bus = new InMemoryBus();
  const writer = new StreamStatusWriter(bus, 'status-test');
  await writer.start();
  const written: (StreamStatus | null)[] = [];
  const reader = await bus.consumer({ groupId: 'reader', topics: [writer.topic], fromBeginning: true });
  await reader.run({
    eachBatch: (batch) => {
      for (const record of batch.records) written.push(record.value ? decodeStreamStatus(record.value)! : null);
      return Promise.resolve();
    },
  });
  let now = 1_000;
  const reporter = new StreamStatusReporter({
    writer,
    streamId: 'cam',
    urlDigest: 'digest',
    instanceId: 'ingest-0',
    intervalMs,
    now: () => now,
  });
  return {
    reporter,
    written,
    writer,
    advance: (ms: number) => (now += ms),
    close: async () => (await reader.close(), await writer.close(), await bus.close()),
  };
}

describe('stream status reporter', () => {
  it('writes running at the first frame and then at most every interval, with the frames and the time of the last one', async () => {
    const t = await reporterOnBus(5_000);
    for (let i = 1; i <= 10; i++) {
      t.reporter.frame(i);
      t.advance(1_000);
    }
    await t.reporter.settled();
    await waitFor(() => t.written.length === 2, { message: () => `two statuses (have ${JSON.stringify(t.written)})` });
    assert.deepEqual(
      t.written.map((s) => [s!.state, s!.frames, s!.lastFrameAtMs]),
      [
        ['running', 1, 1_000],
        ['running', 6, 6_000],
      ],
    );
    assert.equal(t.written[0]!.urlDigest, 'digest');
    assert.equal(t.written[0]!.instanceId, 'ingest-0');
    await t.close();
  });

  it('writes reconnecting with the attempt and last error at once, running again at the next frame, and the outcome last', async () => {
    const t = await reporterOnBus(5_000);
    t.reporter.frame(1);
    t.reporter.reconnecting(1, new StageError('SOURCE_FAILED', 'connection refused'));
    t.reporter.reconnecting(2, new StageError('SOURCE_FAILED', 'connection refused again')); // within the interval: not written
    t.advance(6_000);
    t.reporter.reconnecting(3, new StageError('SOURCE_FAILED', 'still refused'));
    t.reporter.frame(2);
    t.reporter.ended({ state: 'failed', frames: 2, error: new StageError('SOURCE_UNREADABLE', 'broken stream') });
    await t.reporter.settled();
    await waitFor(() => t.written.length === 5, { message: () => `five statuses (have ${JSON.stringify(t.written)})` });
    assert.deepEqual(
      t.written.map((s) => [s!.state, s!.attempt, s!.code, s!.message]),
      [
        ['running', undefined, undefined, undefined],
        ['reconnecting', 1, 'SOURCE_FAILED', 'connection refused'],
        ['reconnecting', 3, 'SOURCE_FAILED', 'still refused'],
        ['running', undefined, undefined, undefined],
        ['failed', undefined, 'SOURCE_UNREADABLE', 'broken stream'],
      ],
    );
    await t.close();
  });

  it('reports a finished file with its frames, a refusal at connection time as refused, and a stop not at all', async () => {
    const finished = await reporterOnBus(5_000);
    finished.reporter.frame(1);
    finished.reporter.ended({ state: 'ended', frames: 1, decodedFrames: 5 });
    await finished.reporter.settled();
    await waitFor(() => finished.written.length === 2);
    assert.deepEqual([finished.written[1]!.state, finished.written[1]!.frames], ['finished', 1]);
    await finished.close();

    const refused = await reporterOnBus(5_000);
    refused.reporter.ended({
      state: 'failed',
      frames: 0,
      error: new SourceRefusedError('ADDRESS_NOT_ALLOWED', 'host x resolves to 10.0.0.1'),
    });
    refused.reporter.ended({ state: 'stopped', frames: 0 });
    await refused.reporter.settled();
    // A marker written after them, with the same key (so on the same partition, in order): all the reporter wrote is in before it.
    await refused.writer.write({ streamId: 'cam', state: 'starting', instanceId: 'marker', atMs: 0 });
    await waitFor(() => refused.written.some((s) => s?.instanceId === 'marker'));
    assert.deepEqual(
      refused.written.map((s) => [s!.instanceId, s!.state, s!.reason]),
      [
        ['ingest-0', 'refused', 'ADDRESS_NOT_ALLOWED'],
        ['marker', 'starting', undefined],
      ],
    );
    await refused.close();
  });
});
