// Issue 25: on crowd photos `emo run` emitted face events for 8, 112 and 50 of the 9, 179 and 97
// faces its detector found; nothing said where the others went. Now every detected face is an event
// or a drop counted by reason (the face stage's account, in the summary and its JSON).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_MODELS_DIR, openPackFaceDetector } from '@emostream/vision';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const media = (file: string) => fileURLToPath(new URL(`../../test/media/${file}`, import.meta.url));

interface Summary {
  faces: number;
  detectedFaces: number;
  droppedFaces: Record<string, number>;
  sampledFrames: number;
}

/** `emo run --json` on one input, with `env` added to this environment: its summary and stderr (the human summary). */
function run(input: string, env: Record<string, string> = {}): { summary: Summary; stderr: string } {
  const out = mkdtempSync(path.join(tmpdir(), 'emo-run-account-'));
  const result = spawnSync(process.execPath, [emo, 'run', input, '--out', out, '--no-video', '--json'], {
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'error', ...env },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return { summary: JSON.parse(result.stdout.trim().split('\n').at(-1)!) as Summary, stderr: result.stderr };
}

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((a, n) => a + n, 0);

describe('emo run accounts for every detected face', () => {
  it('emits an event for every face the default detector finds on a crowd photo (21 of 21, not two in five)', async () => {
    const photo = media('crowds/crowd_corridor_1280x720.jpg');
    // The detector on the photo itself, as the face stage opens it: what "detected" means to a user.
    const detector = await openPackFaceDetector(path.join(DEFAULT_MODELS_DIR, 'default'));
    const { data, info } = await sharp(photo).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const direct = await detector.detect({ width: info.width, height: info.height, data: new Uint8Array(data) });
    assert.ok(direct.length >= 15, `the photo's faces are found (${direct.length})`);

    const { summary } = run(photo);
    assert.equal(summary.detectedFaces, direct.length, 'the stage detects what the detector finds on the photo (ingest kept it whole)');
    assert.equal(summary.faces, summary.detectedFaces, 'a still: every detected face is an event');
    assert.deepEqual(summary.droppedFaces, {});
  });

  it('on video, detected faces = events + drops counted by reason, and the summary names the drops', () => {
    const clip = media('scenes/intel_corridor_3people_walk_and_pause.gif');
    // A track is passed on after 3 frames in a row: each person's first two frames are counted drops.
    const strict = run(clip, { FACE_TRACK_MIN_HITS: '3' });
    assert.ok(strict.summary.faces > 0);
    assert.ok((strict.summary.droppedFaces.unconfirmed_track ?? 0) > 0, JSON.stringify(strict.summary.droppedFaces));
    assert.equal(strict.summary.detectedFaces, strict.summary.faces + sum(strict.summary.droppedFaces));
    const dropped = sum(strict.summary.droppedFaces);
    assert.match(
      strict.stderr,
      new RegExp(`${dropped} of ${strict.summary.detectedFaces} detected faces dropped: .*unconfirmed_track \\d+`),
    );

    // By default every detection starts a track at once: nothing is dropped, and the account still adds up.
    const { summary } = run(clip);
    assert.equal(summary.detectedFaces, summary.faces + sum(summary.droppedFaces));
    assert.equal(
      summary.detectedFaces,
      strict.summary.detectedFaces,
      'the tracker settings change what is passed on, not what is detected',
    );
    assert.ok(summary.faces > strict.summary.faces);
  });
});
