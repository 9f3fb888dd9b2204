/**
 * The annotated video's frame pipe on its own: whole frames read into reused buffers, a writer held
 * up by the read-ahead, and an end whether the writer came or never did.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { FifoFrames, removeAbandonedPipes } from '../src/reports/fifo-frames.js';

const FRAME = 4096;
/** Frame i: every byte i (so a frame read from the wrong offset shows). */
const frameOf = (i: number) => Buffer.alloc(FRAME, i);

async function readAll(frames: FifoFrames): Promise<Buffer[]> {
  const read: Buffer[] = [];
  for (let frame = await frames.next(); frame; frame = await frames.next()) {
    read.push(Buffer.from(frame));
    frames.release(frame);
  }
  return read;
}

describe('FifoFrames', () => {
  it('reads whole frames in order, reuses the buffers handed back, and drops a partial last frame', async () => {
    const frames = new FifoFrames(FRAME, 2);
    const writer = createWriteStream(frames.path);
    for (let i = 1; i <= 5; i++) writer.write(frameOf(i));
    writer.end(Buffer.alloc(FRAME / 2, 9));
    const seen = new Set<Buffer>();
    const read: number[] = [];
    for (let frame = await frames.next(); frame; frame = await frames.next()) {
      assert.ok(
        frame.every((byte) => byte === frame[0]),
        'a frame holds one frame',
      );
      read.push(frame[0]!);
      seen.add(frame);
      frames.release(frame);
    }
    assert.deepEqual(read, [1, 2, 3, 4, 5]);
    assert.ok(seen.size <= 3, `5 frames took ${seen.size} buffers: the released ones are reused`);
    frames.close();
    assert.ok(!existsSync(frames.path), 'the FIFO is removed');
  });

  it('stops reading once the read-ahead is full, holding the writer up, and goes on as frames are taken', async () => {
    let fullTimes = 0;
    // Frames larger than a pipe's buffer (64 KiB): a writer the reader stops reading cannot finish.
    const big = 256 * 1024;
    const large = new FifoFrames(big, 2, () => (fullTimes += 1));
    const writer = createWriteStream(large.path);
    // Listened for now: it may close before the reading below ends.
    const closed = once(writer, 'close');
    let finished = false;
    writer.on('finish', () => (finished = true));
    for (let i = 1; i <= 6; i++) writer.write(Buffer.alloc(big, i));
    writer.end();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(large.full, 'two frames wait');
    assert.ok(fullTimes >= 1, 'onFull was told');
    assert.ok(!finished, 'the writer waits while nothing is taken');
    const read = (await readAll(large)).map((frame) => frame[0]);
    assert.deepEqual(read, [1, 2, 3, 4, 5, 6]);
    await closed;
    large.close();
  });

  it('ends with no frame when the writer never comes (its ffmpeg failed before opening the FIFO)', async () => {
    const frames = new FifoFrames(FRAME, 2);
    const next = frames.next();
    // Without a word from the writer's owner the reader waits (the writer may still be starting).
    const early = await Promise.race([next, new Promise((resolve) => setTimeout(() => resolve('waiting'), 200))]);
    assert.equal(early, 'waiting');
    frames.writerGone();
    assert.equal(await next, undefined);
    frames.close();
  });

  it("removes the pipe folders of runs that are gone (killed outright), not a live process's", () => {
    const temp = mkdtempSync(path.join(tmpdir(), 'fifo-temp-'));
    try {
      // A pid that was just used and is free again, and one that is alive (this test's parent, the runner).
      const gone = spawnSync('true').pid;
      for (const name of [`emostream-frames-${gone}-abc123`, `emostream-frames-${process.ppid}-def456`, 'emostream-frames-xyz', 'other']) {
        mkdirSync(path.join(temp, name));
      }
      removeAbandonedPipes(temp);
      assert.deepEqual(readdirSync(temp).sort(), [`emostream-frames-${process.ppid}-def456`, 'emostream-frames-xyz', 'other'].sort());
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  });

  it('makes its pipe under a folder named by its pid, and removes it on close', () => {
    const frames = new FifoFrames(FRAME, 2);
    const dir = path.dirname(frames.path);
    assert.match(path.basename(dir), new RegExp(`^emostream-frames-${process.pid}-`));
    frames.close();
    assert.equal(existsSync(dir), false);
  });
});
