// `emo run` reads the stages' settings as `emo serve` does (issue 25: FACE_* variables took no effect there).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const clip = fileURLToPath(new URL('../../test/media/labelled/cremad_1001_DFA_happy.flv', import.meta.url));

/** Faces `emo run --json` reports on the clip, with `env` added to this environment. */
function facesFound(env: Record<string, string>): { faces: number; tracks: number; stderr: string; status: number | null } {
  const out = mkdtempSync(path.join(tmpdir(), 'emo-run-settings-'));
  const run = spawnSync(process.execPath, [emo, 'run', clip, '--out', out, '--no-video', '--json'], {
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'error', ...env },
    encoding: 'utf8',
  });
  const summary =
    run.status === 0
      ? (JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { faces: number; tracks: number })
      : { faces: NaN, tracks: NaN };
  return { faces: summary.faces, tracks: summary.tracks, stderr: run.stderr, status: run.status };
}

/** The run with no setting changed, once for the tests that compare with it. */
let defaultRun: ReturnType<typeof facesFound> | undefined;
const byDefaultRun = () => (defaultRun ??= facesFound({}));

describe("emo run and the face stage's settings", () => {
  it('applies FACE_MIN_SIZE as the face service does: faces narrower than it are not events', () => {
    const byDefault = byDefaultRun();
    assert.equal(byDefault.status, 0, byDefault.stderr);
    assert.ok(byDefault.faces > 0, 'the clip has faces by default (the control)');
    // The clip's face is ~120 px wide in a 480×360 frame: a minimum of 400 px leaves none.
    const tooSmall = facesFound({ FACE_MIN_SIZE: '400' });
    assert.equal(tooSmall.status, 0, tooSmall.stderr);
    assert.equal(tooSmall.faces, 0, 'FACE_MIN_SIZE=400 drops every face, as in `emo serve face`');
  });

  it('applies the tracker’s FACE_TRACK_* settings: FACE_TRACK_MIN_HITS above the sampled frames confirms no track', () => {
    const byDefault = byDefaultRun();
    assert.equal(byDefault.status, 0, byDefault.stderr);
    assert.ok(byDefault.tracks >= 1 && byDefault.faces > 0, `one actor, tracked by default (the control): ${JSON.stringify(byDefault)}`);
    // The clip is ~2 s: about 12 sampled frames. A track needs 50 consecutive matches before it gets an id.
    const neverConfirmed = facesFound({ FACE_TRACK_MIN_HITS: '50' });
    assert.equal(neverConfirmed.status, 0, neverConfirmed.stderr);
    assert.deepEqual({ faces: neverConfirmed.faces, tracks: neverConfirmed.tracks }, { faces: 0, tracks: 0 });
  });

  it('says in --help that the stages read the FACE_* settings', () => {
    const help = spawnSync(process.execPath, [emo, 'run', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout.replace(/\s+/g, ' '), /same settings as `emo serve` \(FACE_\*/);
  });

  it('refuses a bad value naming its variable, before reading any input', () => {
    const bad = facesFound({ FACE_MIN_SIZE: 'wide' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /FACE_MIN_SIZE="wide" is not valid/);
  });
});
