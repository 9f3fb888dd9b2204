import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EMOTION_LABELS, type EmotionEvent, type FaceEmotionEvent } from '@emostream/shared';
import { ffmpeg, freePort, loopedH264Clip, sharedData, startRtspServer, videoInfo, waitFor, within } from '@emostream/shared/testing';
import { startEmoRun } from './emo-process.js';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const env = { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' };
const labels = EMOTION_LABELS.join('|');

function runEmo(args: string[]) {
  return spawnSync(process.execPath, [emo, 'run', ...args], { env, encoding: 'utf8', timeout: 180_000 });
}

/** emo run in a child process, without blocking this one (which may be serving its input). */
async function runEmoAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const run = startEmoRun(args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 120_000);
  const status = await run.exited;
  clearTimeout(timer);
  return { status, stdout: run.stdout(), stderr: run.stderr() };
}

const countFrames = (video: string) => videoInfo(video).frames;

function csvRows(file: string): string[][] {
  const [header, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(header, `frame,${EMOTION_LABELS.join(',')},track`);
  return rows.map((row) => row.split(','));
}

describe('emo run inputs', () => {
  const cleanup: (() => unknown)[] = [];
  after(() => cleanup.reverse().forEach((step) => step()));

  it('takes every video in a folder, and says so clearly when a clip has no face at all', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'emo-folder-'));
    symlinkSync(sharedData('labelled/cremad_1001_DFA_happy.flv'), path.join(folder, 'happy.flv'));
    // Two seconds of colour bars: a readable video without a single face.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=duration=2:size=320x240:rate=25', '-pix_fmt', 'yuv420p', path.join(folder, 'bars.mp4')]);
    const out = mkdtempSync(path.join(tmpdir(), 'emo-out-'));
    const result = runEmo([folder, '--out', out]);
    assert.equal(result.status, 0, 'a face-less clip was still processed: no failure');
    assert.match(
      result.stdout,
      new RegExp(`happy\\.flv: video emotion (${labels}), mean emotion (${labels}) — 10 faces, 1 track\\(s\\), 10 sampled of 56 frames`),
    );
    assert.match(result.stdout, /bars\.mp4: no face found in 10 sampled frames/);
    assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at .*:\d+:\d+/);
    assert.equal(csvRows(path.join(out, 'happy.csv')).length, 56);
    assert.equal(readFileSync(path.join(out, 'bars.events.jsonl'), 'utf8'), '', 'no face, no event');
    assert.deepEqual(csvRows(path.join(out, 'bars.csv')), [], 'no face: the CSV has its header only, under the same name');
  });

  it('reads an HTTP URL as a live source: the sliding window per sampled frame, and an annotated video of the sampled frames', async () => {
    const server = createServer((request, response) => {
      const file = sharedData('labelled/cremad_1001_DFA_happy.flv');
      response.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': statSync(file).size });
      createReadStream(file).pipe(response);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/happy.flv`;
    const out = mkdtempSync(path.join(tmpdir(), 'emo-http-'));
    const result = await runEmoAsync([url, '--fps', '5', '--out', out]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const name = `127.0.0.1-${(server.address() as AddressInfo).port}-happy`;
    // 1.87 s of video sampled at 5 frames/s.
    const summary = result.stdout.match(
      new RegExp(
        `${url.replace(/\./g, '\\.')}: video emotion (${labels}), mean emotion (?:${labels}) — (\\d+) faces, 1 track\\(s\\), (\\d+) sampled frames`,
      ),
    );
    assert.ok(summary, result.stdout);
    const sampled = Number(summary[3]);
    assert.ok(sampled >= 8 && sampled <= 11, `${sampled} sampled frames`);
    const rows = csvRows(path.join(out, `${name}.csv`));
    assert.equal(rows.length, sampled, 'live inputs: one row per sampled frame');
    const events = readFileSync(path.join(out, `${name}.events.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EmotionEvent);
    const faces = events.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2');
    // The CSV holds the probabilities the pipeline emitted live for each sampled frame.
    for (const face of faces) {
      const row = rows.find((r) => Number(r[0]) === face.seq)!;
      EMOTION_LABELS.forEach((label, i) => assert.ok(Math.abs(Number(row[i + 1]) - face.probabilities[label]) <= 1e-6));
    }
    assert.equal(countFrames(path.join(out, `${name}.annotated.mp4`)), sampled);
  });

  it('stops an RTSP camera on Ctrl-C and still writes the reports of what it saw', async () => {
    // H.264 the GStreamer server plays in real time, looped: a camera that never ends.
    const clip = path.join(mkdtempSync(path.join(tmpdir(), 'emo-rtsp-')), 'camera.mp4');
    loopedH264Clip(sharedData('labelled/cremad_1001_DFA_happy.flv'), clip, 11);
    const port = await freePort();
    const server = await startRtspServer(port, clip);
    cleanup.push(() => server.kill('SIGKILL'));

    const out = mkdtempSync(path.join(tmpdir(), 'emo-rtsp-out-'));
    mkdirSync(out, { recursive: true });
    const run = startEmoRun([`rtsp://127.0.0.1:${port}/live`, '--fps', '5', '--out', out]);
    cleanup.push(() => run.child.kill('SIGKILL'));
    // The live input's sampled pictures are recorded as they arrive: wait for a few, then press Ctrl-C.
    const recorded = () =>
      readdirSync(out)
        .filter((f) => f.includes('.frames-'))
        .flatMap((dir) => readdirSync(path.join(out, dir))).length;
    await waitFor(() => recorded() >= 6, {
      timeoutMs: 60_000,
      message: () => `six recorded RTSP frames; emo run said: ${run.stdout()}${run.stderr()}`,
    });
    run.child.kill('SIGINT');
    const code = await within(run.exited, 60_000, () => `emo run did not finish after Ctrl-C: ${run.stdout()}${run.stderr()}`);
    const stdout = run.stdout();
    assert.equal(code, 130, `a camera stopped by Ctrl-C: ${stdout}${run.stderr()}`);
    assert.match(run.stderr(), /stopping: finishing the frames in flight/);
    const summary = stdout.match(
      new RegExp(
        `rtsp://127\\.0\\.0\\.1:${port}/live: video emotion (${labels}), mean emotion (?:${labels}) — (\\d+) faces, 1 track\\(s\\), (\\d+) sampled frames in .* \\(stopped\\)`,
      ),
    );
    assert.ok(summary, stdout);
    const sampled = Number(summary[3]);
    assert.ok(sampled >= 6);
    const name = `127.0.0.1-${port}-live`;
    assert.equal(csvRows(path.join(out, `${name}.csv`)).length, sampled);
    assert.equal(countFrames(path.join(out, `${name}.annotated.mp4`)), sampled);
    const manifest = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8')) as { state: string; inputs: { state: string }[] };
    assert.deepEqual([manifest.state, manifest.inputs[0]!.state], ['stopped', 'stopped']);
    assert.deepEqual(
      readdirSync(out).filter((f) => f.includes('.frames-')),
      [],
      'the recorded pictures are cleaned up',
    );
  });
});
