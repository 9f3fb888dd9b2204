/**
 * The annotated video writer on its own, on a tiny grey clip (seconds): a frame waits for the sample
 * that covers it, each sample's faces are drawn until the next sample, and a video given up leaves no file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { AnnotatedVideo } from '../src/reports/annotated-video.js';
import { decodeAllFrames, strokePixels } from './media.js';
import { faceEventFixture, ffmpeg } from '@emostream/shared/testing';

const dir = mkdtempSync(path.join(tmpdir(), 'emo-annotate-'));
const clip = path.join(dir, 'grey.mp4');
// Grey (no chroma): the only green in the annotated video is the drawing.
ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=25:d=0.4', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', clip]);
const shape = { width: 320, height: 240, fps: 25 };

const face = (seq: number) => faceEventFixture({ streamId: 'grey', seq });

/** An ffmpeg decoding `input` into a shared-decode video's FIFO, as ingest's does beside its JPEGs; resolves at its exit. */
function decodeInto(video: AnnotatedVideo, input: string): Promise<unknown> {
  const { path: fifo, filter } = video.rawFrames!;
  const args = ['-hide_banner', '-loglevel', 'error', '-y', '-i', input, '-vf', filter, '-fps_mode', 'passthrough'];
  return once(spawn('ffmpeg', [...args, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', fifo], { stdio: 'ignore' }), 'exit');
}

describe('AnnotatedVideo', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('draws each sample on the frames up to the next one, waiting for samples that have not come yet', async () => {
    const output = path.join(dir, 'drawn.mp4');
    const video = new AnnotatedVideo(['-i', clip], output, shape);
    assert.equal(video.rawFrames, undefined, 'its own decoder writes its FIFO: no other ffmpeg may');
    video.sampled(1, [face(1)]);
    // Frames 6–10 wait for a sample at or after them: it comes later, with no face. A kept sleep: no
    // hook shows the writer waiting at frame 6 (AnnotatedVideo would need one); the drawing is the
    // same whether it waited or not, so the pause cannot make the test pass wrongly, it only makes
    // the waiting path the likely one.
    await new Promise((resolve) => setTimeout(resolve, 300));
    video.sampled(6, []);
    assert.equal(await video.finish(), 10);
    const drawn = decodeAllFrames(output).map((frame) => strokePixels(frame) > 30);
    assert.deepEqual(drawn, [true, true, true, true, true, false, false, false, false, false]);
  });

  it('draws no box after a hard cut (the scene-cut definition of @emostream/vision, on the decoded yuv420p frames)', async () => {
    // 5 grey frames, then a cut to 5 frames of another (blue) shot; one sample, at frame 1, with a face.
    const cut = path.join(dir, 'cut.mp4');
    ffmpeg([
      ...['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=25:d=0.2', '-f', 'lavfi', '-i', 'color=c=0x304060:s=320x240:r=25:d=0.2'],
      ...['-filter_complex', '[0][1]concat=n=2:v=1[v]', '-map', '[v]', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', cut],
    ]);
    const output = path.join(dir, 'cut-drawn.mp4');
    const video = new AnnotatedVideo(['-i', cut], output, shape);
    video.sampled(1, [face(1)]);
    assert.equal(await video.finish(), 10);
    const drawn = decodeAllFrames(output).map((frame) => strokePixels(frame) > 30);
    assert.deepEqual(drawn, [true, true, true, true, true, false, false, false, false, false], 'the box ends with its shot');
  });

  it("takes its frames from another ffmpeg's decode (emo run's ingest) and draws them as its own decode does", async () => {
    const output = path.join(dir, 'shared.mp4');
    const video = AnnotatedVideo.sharingDecode(output, shape, 5);
    const decoded = decodeInto(video, clip);
    video.sampled(1, [face(1)]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    video.sampled(6, []);
    await decoded;
    assert.equal(await video.finish(), 10);
    const drawn = decodeAllFrames(output).map((frame) => strokePixels(frame) > 30);
    assert.deepEqual(drawn, [true, true, true, true, true, false, false, false, false, false]);
  });

  it('draws on when no sampled frame comes while the shared decoder waits for it, never holding up the pipeline', async () => {
    // 25 frames and a read-ahead of 12 (one frame between samples): the decoder fills it and waits.
    const long = path.join(dir, 'long.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=25:d=1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', long]);
    const output = path.join(dir, 'stalled.mp4');
    const video = AnnotatedVideo.sharingDecode(output, shape, 1, 300);
    const decoded = decodeInto(video, long);
    // The pipeline lost its sampled frames: none is ever reported, yet the decoder gets to its end.
    const ended = await Promise.race([decoded.then(() => 'ended'), new Promise((r) => setTimeout(() => r('held up'), 15_000))]);
    assert.equal(ended, 'ended');
    assert.equal(await video.finish(), 25);
    assert.equal(decodeAllFrames(output).length, 25);
  });

  it('reads a shared decoder to its end when its own encoder fails, so the input it also feeds goes on', async () => {
    const long = path.join(dir, 'long-for-failure.mp4');
    ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=25:d=1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', long]);
    // The encoder cannot open its output (no such folder): it fails at once.
    const video = AnnotatedVideo.sharingDecode(path.join(dir, 'missing', 'out.mp4'), shape, 1);
    const decoded = decodeInto(video, long);
    video.sampled(1, [face(1)]);
    const ended = await Promise.race([decoded, new Promise((r) => setTimeout(() => r('held up'), 15_000))]);
    assert.deepEqual(ended, [0, null], 'the decoder wrote every frame and exited 0');
    await assert.rejects(video.finish(), /could not write/);
  });

  it('ends at the frame it is told to (a stopped run) and removes the file when given up', async () => {
    const short = path.join(dir, 'short.mp4');
    const video = new AnnotatedVideo(['-i', clip], short, shape);
    video.sampled(1, [face(1)]);
    assert.equal(await video.finish(4), 4);
    assert.equal(decodeAllFrames(short).length, 4);

    const abandoned = path.join(dir, 'abandoned.mp4');
    const given = new AnnotatedVideo(['-i', clip], abandoned, shape);
    await given.abort();
    assert.ok(!existsSync(abandoned), 'no partial file is left');
    // Sharing a decoder that never came (the input failed before its ffmpeg opened the FIFO): ends too.
    const unread = AnnotatedVideo.sharingDecode(path.join(dir, 'unread.mp4'), shape, 5);
    assert.equal(await unread.finish(), 0);
    assert.ok(!existsSync(unread.rawFrames!.path), 'the FIFO is removed');
  });
});
