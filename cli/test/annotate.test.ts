/**
 * The annotated video writer on its own, on a tiny grey clip (seconds): a frame waits for the sample
 * that covers it, each sample's faces are drawn until the next sample, and a video given up leaves no file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { FACE_EVENT, type FaceEmotionEvent } from '@emostream/shared';
import { AnnotatedVideo } from '../src/annotate.js';
import { decodeAllFrames, strokePixels } from './media.js';
import { ffmpeg } from '@emostream/shared/testing';

const dir = mkdtempSync(path.join(tmpdir(), 'emo-annotate-'));
const clip = path.join(dir, 'grey.mp4');
// Grey (no chroma): the only green in the annotated video is the drawing.
ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:r=25:d=0.4', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', clip]);
const shape = { width: 320, height: 240, fps: 25 };

function face(seq: number): FaceEmotionEvent {
  return {
    schema: FACE_EVENT,
    streamId: 'grey',
    seq,
    ptsMs: 0,
    capturedAtMs: 0,
    emittedAtMs: 0,
    trackId: 1,
    box: { x: 60, y: 80, width: 80, height: 90 },
    frame: { width: 320, height: 240 },
    detectorScore: 0.9,
    label: 'Happiness',
    confidence: 0.9,
    probabilities: { Neutral: 0.1, Happiness: 0.9, Sadness: 0, Surprise: 0, Fear: 0, Disgust: 0, Anger: 0 },
  };
}

describe('AnnotatedVideo', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('draws each sample on the frames up to the next one, waiting for samples that have not come yet', async () => {
    const output = path.join(dir, 'drawn.mp4');
    const video = new AnnotatedVideo(['-i', clip], output, shape);
    video.sampled(1, [face(1)]);
    // Frames 6–10 wait for a sample at or after them: it comes later, with no face.
    await new Promise((resolve) => setTimeout(resolve, 300));
    video.sampled(6, []);
    assert.equal(await video.finish(), 10);
    const drawn = decodeAllFrames(output).map((frame) => strokePixels(frame) > 30);
    assert.deepEqual(drawn, [true, true, true, true, true, false, false, false, false, false]);
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
  });
});
