/**
 * `emo run` and Ctrl-C on a long input (issue 15, item 7): the first Ctrl-C stops reading at once and
 * the frames already read get at most the grace period before the reports are written; a second
 * Ctrl-C writes the reports of what is processed by then, without waiting for the drain.
 * Issue 26: a stopped run's reports agree with each other (the summary said 199 sampled frames, the
 * reports held 81; tracks open at the stop had no track_summary), run.json says it stopped, exit 130.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { EMOTION_LABELS, type EmotionEvent, type FaceEmotionEvent, type TrackSummaryEvent } from '@emostream/shared';
import { concatenatedClip, sharedData, waitFor, within } from '@emostream/shared/testing';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

/** `emo run` with its logs on stdout (info), so the test sees when it has started reading. */
function startRun(args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [emo, 'run', ...args], {
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, atMs: Date.now() }));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

describe('emo run and Ctrl-C on a long input', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'emo-ctrl-c-'));
  const long = path.join(dir, 'long.flv');
  before(() => {
    // The happy clip 60 times over (~112 s, 560 sampled frames: minutes of work on a CPU), joined
    // without re-encoding (ffmpeg's concat demuxer, stream copy).
    concatenatedClip(sharedData('labelled/cremad_1001_DFA_happy.flv'), long, 60);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function interrupt(presses: number, graceS: number) {
    const out = path.join(dir, `out-${presses}`);
    const run = startRun([long, '--out', out, '--grace', String(graceS)]);
    // Reading has started and some frames are through the stages.
    await waitFor(() => run.stdout().includes('"msg":"reading file"'), {
      timeoutMs: 180_000,
      message: () => `emo run to start reading: ${run.stderr()}`,
    });
    // Frames are through the stages once the annotated video, drawn from their events, has encoded frames.
    const annotated = path.join(out, 'long.annotated.mp4');
    await waitFor(() => existsSync(annotated) && statSync(annotated).size > 16_384, {
      timeoutMs: 180_000,
      message: () => `the annotated video to have frames (frames through the stages): ${run.stderr()}`,
    });
    const pressedAt = Date.now();
    for (let i = 0; i < presses; i += 1) {
      run.child.kill('SIGINT');
      // The next press only once this one was taken (the run says it is stopping).
      if (i < presses - 1)
        await waitFor(() => run.stderr().includes('stopping:'), {
          timeoutMs: 30_000,
          message: () => `the run to take Ctrl-C: ${run.stderr()}`,
        });
    }
    const exit = await within(run.exited, 300_000, () => `emo run still running after Ctrl-C: ${run.stderr()}`);
    return { out, run, exit, tookMs: exit.atMs - pressedAt };
  }

  /** The reports of a stopped run: each of them, and the summary line, covers the same frames. */
  function assertReports(out: string, stdout: string) {
    const csv = path.join(out, 'long.csv');
    const eventsFile = path.join(out, 'long.events.jsonl');
    assert.ok(existsSync(csv) && existsSync(eventsFile), 'the reports were not written');
    const line = /long\.flv: video emotion .* — (\d+) faces, (\d+) track\(s\), (\d+) sampled of (\d+) frames in .*\(stopped\)/.exec(stdout);
    assert.ok(line, `a summary marked (stopped): ${stdout}`);
    const [faces, tracks, sampled, frames] = line.slice(1).map(Number) as [number, number, number, number];
    assert.ok(frames > 0 && frames < 3360, `the report covers ${frames} of 3,360 frames: the run did not stop early`);

    const events = readFileSync(eventsFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as EmotionEvent);
    const faceEvents = events.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2');
    assert.equal(faceEvents.length, faces, 'the summary counts the face events of the report');
    // Every sampled frame of the CREMA-D clip shows its face: the frames with events are the sampled frames.
    assert.equal(new Set(faceEvents.map((e) => e.seq)).size, sampled, 'the summary counts the sampled frames of the report');
    assert.ok(Math.max(...faceEvents.map((e) => e.seq)) <= frames, 'no event past the last frame of the report');
    // Every track with faces has exactly one summary, of exactly those faces (open ones closed at the stop).
    const summaries = events.filter((e): e is TrackSummaryEvent => e.schema === 'emostream.event.track_summary.v2');
    const trackIds = [...new Set(faceEvents.map((e) => e.trackId))].sort((a, b) => a - b);
    assert.equal(trackIds.length, tracks);
    assert.deepEqual(
      summaries.map((e) => e.trackId).sort((a, b) => a - b),
      trackIds,
      'one track_summary per track',
    );
    for (const summary of summaries) {
      const own = faceEvents.filter((e) => e.trackId === summary.trackId);
      assert.equal(summary.frames, own.length, `track ${summary.trackId}: its summary counts its face events`);
      assert.equal(summary.lastSeq, Math.max(...own.map((e) => e.seq)));
    }

    const [header, ...rows] = readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(header, `frame,${EMOTION_LABELS.join(',')},track`);
    assert.equal(Math.max(...rows.map((r) => Number(r.split(',')[0]))), frames, 'the CSV ends at the last frame of the summary');
    assert.deepEqual(
      [...new Set(rows.map((r) => Number(r.split(',')[8])))].sort((a, b) => a - b),
      trackIds,
      'the CSV has the same tracks',
    );

    const manifest = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as {
      state: string;
      inputs: {
        state: string;
        complete: boolean;
        sampledFrames: number;
        totalFrames: number;
        faces: number;
        tracks: number;
        files: string[];
      }[];
      files: string[];
    };
    assert.equal(manifest.state, 'stopped');
    const [input] = manifest.inputs;
    assert.deepEqual(
      [input!.state, input!.complete, input!.sampledFrames, input!.totalFrames, input!.faces, input!.tracks],
      ['stopped', false, sampled, frames, faces, tracks],
    );
    assert.deepEqual([...manifest.files].sort(), readdirSync(out).sort(), 'run.json lists every file in the folder');
  }

  it('one Ctrl-C: stops reading, drains within the grace period and writes the reports of what was processed', async () => {
    const graceS = 4;
    const { out, run, exit, tookMs } = await interrupt(1, graceS);
    assert.equal(exit.code, 130, `a stopped run exits 130: ${run.stderr()}`);
    assert.match(run.stderr(), /stopping: finishing the frames in flight \(at most 4 s\)/);
    // The grace bounds the drain; writing the reports (the annotated video drawn on every frame up to
    // the last one processed) and closing the stages come on top, and take a while on 2 busy cores:
    // the bound is loose; that the run stopped early is checked below.
    assert.ok(tookMs < graceS * 1000 + 90_000, `took ${tookMs} ms after Ctrl-C`);
    assertReports(out, run.stdout());
  });

  it('a second Ctrl-C writes the reports without waiting for the drain', async () => {
    const { out, run, exit, tookMs } = await interrupt(2, 600);
    assert.equal(exit.code, 130, run.stderr());
    assert.match(run.stderr(), /writing the reports of what is processed now/);
    assert.ok(tookMs < 60_000, `took ${tookMs} ms after the second Ctrl-C (the grace was 600 s)`);
    assertReports(out, run.stdout());
  });
});
