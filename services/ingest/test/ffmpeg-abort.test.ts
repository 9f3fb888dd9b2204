/**
 * Its own file (its own process): fluent-ffmpeg checks ffmpeg's capabilities once per process before
 * it starts the first command, which leaves a window in which ffmpeg does not exist yet. The test
 * aborts the reader in that window.
 */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { assertStaysTrue, sharedData, within } from '@emostream/shared/testing';
import { parseSource, readFrames, warmUpFfmpeg } from '../src/index.js';

/** ffmpeg processes of this test process reading `url` (fluent-ffmpeg's capability checks are ffmpeg too). */
function readersOf(url: string): number {
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(/^\d+ \(.*\) \S+ (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))![1]);
      if (parent === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(url)) count += 1;
    } catch {
      // the process ended while we looked
    }
  }
  return count;
}

describe('reading frames with ffmpeg, aborted before ffmpeg has started', () => {
  it('ends at once and leaves no ffmpeg behind (regression: the reader waited forever, and so did the stream stop)', async () => {
    // A live source that sends the start of a clip and then nothing: an ffmpeg reading it stays.
    const clip = readFileSync(sharedData('labelled/cremad_1001_DFA_neutral.flv'));
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'video/x-flv' });
      response.write(clip.subarray(0, 4_096));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/live.flv`;
    try {
      await warmUpFfmpeg(); // known once per process; the reader then goes straight on to ffmpeg
      const controller = new AbortController();
      const options = {
        sampling: { kind: 'rate', fps: 5 },
        maxWidth: 0,
        jpegQuality: 80,
        connectTimeoutMs: 5_000,
        readTimeoutMs: 5_000,
      } as const;
      const reader = readFrames(parseSource(url), { ...options, signal: controller.signal });
      const first = reader.next();
      // The earliest abort that reaches the reader: once it listens, with ffmpeg not started yet.
      while (getEventListeners(controller.signal, 'abort').length === 0) await new Promise((resolve) => setImmediate(resolve));
      assert.equal(readersOf(url), 0, 'the test aborts before ffmpeg has started');
      controller.abort();
      const ended = await within(first, 5_000, () => 'the aborted reader still waiting after 5 s');
      assert.deepEqual(ended, { done: true, value: undefined });
      // Had ffmpeg started after the abort, it would still be reading the source. The positive control:
      // a reader of the same server started now, not aborted (its own URL, to tell the two apart), whose
      // ffmpeg shows within the window; one started wrongly at the abort, earlier, would show by then too.
      const controlUrl = `${url}?control`;
      const control = new AbortController();
      const controlReader = readFrames(parseSource(controlUrl), { ...options, signal: control.signal });
      const controlFirst = controlReader.next();
      controlFirst.catch(() => {});
      try {
        await assertStaysTrue(() => readersOf(url) === 0, {
          forMs: 200,
          provenPossible: () => readersOf(controlUrl) === 1,
          message: () => `no ffmpeg left reading the source (${readersOf(url)} reading it)`,
          provenMessage: "the control reader's ffmpeg showed up reading the same server",
          timeoutMs: 10_000,
        });
      } finally {
        control.abort();
        await controlFirst.catch(() => {});
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
