// What `emo run` writes, and what it says it wrote (issue 26): the names of the files depend on the
// inputs only (one `<name>.csv` whatever the number of faces), `<out>/run.json` lists the inputs, the
// settings and every file written, the closing line and `--json`'s `reports` name the files actually
// written (the folder's table of faces was missing from `reports`), an `--out` that holds an earlier
// run is refused unless `--overwrite` (which removes that run's files first), and a photo's summary is
// a photo's, not "video emotion … 1 sampled of 1 frames".
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EMOTION_LABELS } from '@emostream/shared';
import { ffmpeg, sharedData } from '@emostream/shared/testing';
import { runEmo } from './media.js';

interface Manifest {
  state: string;
  settings: Record<string, unknown>;
  inputs: { input: string; name: string; state: string; complete: boolean; sampledFrames: number; faces: number; files: string[] }[];
  files: string[];
}

const labels = EMOTION_LABELS.join('|');
const readManifest = (out: string) => JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as Manifest;

describe('emo run output files', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'emo-outputs-'));
  const happy = sharedData('labelled/cremad_1001_DFA_happy.flv');
  // A folder with one photo: the first frame of the happy clip, one face.
  const photos = path.join(work, 'photos');
  mkdirSync(photos);
  ffmpeg(['-i', happy, '-frames:v', '1', path.join(photos, 'portrait.jpg')]);
  const out = path.join(work, 'out');

  it('lists every file it wrote in run.json, in its closing line and in --json reports, with names from the inputs only', () => {
    const result = runEmo([happy, photos, '--out', out, '--no-video', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const manifest = readManifest(out);
    const inFolder = readdirSync(out).sort();
    assert.deepEqual(inFolder, [
      'cremad_1001_DFA_happy.csv',
      'cremad_1001_DFA_happy.events.jsonl',
      'photos.faces.csv',
      'portrait.events.jsonl',
      'run.json',
    ]);
    assert.deepEqual([...manifest.files].sort(), inFolder, 'run.json lists every file in the folder');

    // --json: each input's reports, its folder's table of faces included.
    const summaries = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { input: string; reports: string[]; video?: unknown });
    // No annotated picture written (--no-video): no share of the time to report.
    for (const summary of summaries) assert.equal(summary.video, undefined, summary.input);
    const reports = new Map(summaries.map((s) => [path.basename(s.input), s.reports.map((file) => path.relative(out, file)).sort()]));
    assert.deepEqual(reports.get('cremad_1001_DFA_happy.flv'), ['cremad_1001_DFA_happy.csv', 'cremad_1001_DFA_happy.events.jsonl']);
    assert.deepEqual(reports.get('portrait.jpg'), ['photos.faces.csv', 'portrait.events.jsonl']);

    // The closing line names the files written.
    const closing = /reports written to .*\/: (.*)/.exec(result.stderr);
    assert.ok(closing, result.stderr);
    assert.deepEqual(closing[1]!.split(', ').sort(), inFolder);

    // The CSV: the reference's columns, then the track, under the same name whatever was found.
    const [header, first] = readFileSync(path.join(out, 'cremad_1001_DFA_happy.csv'), 'utf8').split('\n');
    assert.equal(header, `frame,${EMOTION_LABELS.join(',')},track`);
    assert.match(first!, /^000001,(0\.\d{6},){7}1$/);

    // run.json: the inputs, each complete, and the settings.
    assert.equal(manifest.state, 'complete');
    assert.deepEqual(
      manifest.inputs.map((i) => [path.basename(i.input), i.state, i.complete, i.sampledFrames, i.faces, [...i.files].sort()]),
      [
        ['cremad_1001_DFA_happy.flv', 'ended', true, 10, 10, ['cremad_1001_DFA_happy.csv', 'cremad_1001_DFA_happy.events.jsonl']],
        ['portrait.jpg', 'ended', true, 1, 1, ['photos.faces.csv', 'portrait.events.jsonl']],
      ],
    );
    assert.equal(manifest.settings.pack, 'default');
    assert.equal(manifest.settings.video, false);

    // A photo's summary: its faces, not a video's frames.
    const photoLine = result.stderr.split('\n').find((line) => line.includes('portrait.jpg:'));
    assert.match(photoLine ?? '', new RegExp(`portrait\\.jpg: 1 face: (${labels}) \\(image, [\\d.]+ s\\)$`));
    assert.doesNotMatch(photoLine!, /video emotion|sampled/);
  });

  it("reports the annotated video's share of the input's wall time in --json", () => {
    const videoOut = path.join(work, 'video-out');
    const result = runEmo([happy, '--out', videoOut, '--json']);
    assert.equal(result.status, 0, result.stderr);
    const [summary] = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seconds: number; reports: string[]; video?: { seconds: number; share: number } });
    assert.ok(
      summary!.reports.some((file) => file.endsWith('.annotated.mp4')),
      `an annotated video was written: ${summary!.reports.join(', ')}`,
    );
    const video = summary!.video;
    assert.ok(video, `--json carries the video's time: ${result.stdout}`);
    assert.ok(video.seconds > 0 && video.seconds < summary!.seconds, `video ${video.seconds} s within the input's ${summary!.seconds} s`);
    assert.ok(video.share > 0 && video.share < 1, `share ${video.share}`);
    assert.ok(Math.abs(video.share - video.seconds / summary!.seconds) < 1e-9, 'share = video seconds / input seconds');
  });

  it('refuses an --out that holds an earlier run, and with --overwrite replaces all of that run', () => {
    const before = statSync(path.join(out, 'run.json')).mtimeMs;
    const again = runEmo([photos, '--out', out, '--no-video']);
    assert.equal(again.status, 2, again.stderr);
    assert.match(
      again.stderr,
      /emo: --out .*out holds the reports of an earlier run \(.*run\.json\): choose another folder, or add --overwrite/,
    );
    assert.equal(statSync(path.join(out, 'run.json')).mtimeMs, before, 'the earlier run is left as it was');

    const replaced = runEmo([photos, '--out', out, '--no-video', '--overwrite']);
    assert.equal(replaced.status, 0, replaced.stderr);
    // The earlier run's files are gone: none of them stays beside the new run's.
    const now = ['photos.faces.csv', 'portrait.events.jsonl', 'run.json'];
    assert.deepEqual(readdirSync(out).sort(), now);
    assert.deepEqual(readManifest(out).files.sort(), now);
  });
});
