// emo run on a phone-style video: frames stored landscape with a display matrix that turns them a
// quarter turn (what a phone held upright records). ffmpeg turns the frames upright as it decodes, so
// the pipeline's events are in the upright frame; the annotated video was made at the stored size
// and squashed the upright frames into it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { FaceEmotionEvent } from '@emostream/shared';
import { ffmpeg, h264Output, sharedData } from '@emostream/shared/testing';
import { parseSource, probeVideo } from '@emostream/ingest';
import { decodeFrames, drawnNear, readJsonLines, runEmo } from './media.js';

/** The upright picture: a CREMA-D clip in grey (the only green in the annotated video is the drawing), on a portrait canvas. */
const UPRIGHT = { width: 360, height: 640 };

describe('emo run on a video stored turned (a display matrix, as phones record)', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'emo-rotated-'));
  const upright = path.join(work, 'upright.mp4');
  const phone = path.join(work, 'phone.mp4');
  const out = path.join(work, 'out');
  mkdirSync(out);

  before(() => {
    const clip = sharedData('labelled/cremad_1001_DFA_happy.flv');
    ffmpeg(['-i', clip, '-t', '1.2', '-vf', 'hue=s=0,scale=360:270,pad=360:640:0:120', ...h264Output(16), '-an', upright]);
    // Stored a quarter turn clockwise, then (copied: an encode drops it) a matrix that turns it back when played.
    const stored = path.join(work, 'stored.mp4');
    ffmpeg(['-i', upright, '-vf', 'transpose=1', ...h264Output(16), stored]);
    ffmpeg(['-i', stored, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', phone]);
  });

  it('is made as ffmpeg plays it: the stored frames, turned upright', async () => {
    const info = await probeVideo(parseSource(phone), { connectTimeoutMs: 10_000, readTimeoutMs: 10_000 });
    assert.deepEqual([info.width, info.height], [UPRIGHT.width, UPRIGHT.height], 'the probe reports the upright size');
    const played = spawnSync('ffmpeg', ['-v', 'error', '-i', phone, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
    const original = spawnSync('ffmpeg', ['-v', 'error', '-i', upright, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
    assert.equal(played.stdout.length, UPRIGHT.width * UPRIGHT.height);
    let diff = 0;
    for (let i = 0; i < played.stdout.length; i++) diff += Math.abs(played.stdout[i]! - original.stdout[i]!);
    assert.ok(diff / played.stdout.length < 4, `the played frame is the upright one (mean difference ${diff / played.stdout.length})`);
  });

  it('writes events in the upright frame and an annotated video of the upright size with each box on its face', () => {
    const result = runEmo([phone, '--out', out]);
    assert.equal(result.status, 0, `emo run failed:\n${result.stdout}\n${result.stderr}`);
    const events = readJsonLines<FaceEmotionEvent>(readFileSync(path.join(out, 'phone.events.jsonl'), 'utf8')).filter(
      (e) => e.schema === 'emostream.event.face.v2',
    );
    assert.ok(events.length >= 5, `a face on most sampled frames (got ${events.length})`);
    const annotatedFile = path.join(out, 'phone.annotated.mp4');
    const annotated = decodeFrames(
      annotatedFile,
      events.map((e) => e.seq),
    );
    for (const event of events) {
      assert.deepEqual(event.frame, UPRIGHT, 'the event carries the upright frame size');
      const frame = annotated.get(event.seq)!;
      assert.deepEqual([frame.width, frame.height], [UPRIGHT.width, UPRIGHT.height], 'the annotated video is upright, not squashed');
      assert.ok(drawnNear(frame, event.box), `frame ${event.seq}: the box is drawn where the event says the face is`);
    }
  });
});
