/**
 * `emo run` and Ctrl-C on a long input (issue 15, item 7): the first Ctrl-C stops reading at once and
 * the frames already read get at most the grace period before the reports are written; a second
 * Ctrl-C writes the reports of what is processed by then, without waiting for the drain.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
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
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const pressedAt = Date.now();
    for (let i = 0; i < presses; i += 1) {
      run.child.kill('SIGINT');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const exit = await within(run.exited, 300_000, () => `emo run still running after Ctrl-C: ${run.stderr()}`);
    return { out, run, exit, tookMs: exit.atMs - pressedAt };
  }

  function assertReports(out: string) {
    const csv = path.join(out, 'long.csv');
    const events = path.join(out, 'long.events.jsonl');
    assert.ok(existsSync(csv) && existsSync(events), 'the reports were not written');
    const faces = readFileSync(events, 'utf8').split('\n').filter(Boolean).length;
    assert.ok(faces > 0, 'no event in the report');
    const rows = readFileSync(csv, 'utf8').trim().split('\n').length - 1;
    assert.ok(rows > 0 && rows < 3360, `the CSV has ${rows} rows of 3,360 frames: the run did not stop early`);
    return { faces, rows };
  }

  it('one Ctrl-C: stops reading, drains within the grace period and writes the reports of what was processed', async () => {
    const graceS = 4;
    const { out, run, exit, tookMs } = await interrupt(1, graceS);
    assert.equal(exit.code, 0, run.stderr());
    assert.match(run.stderr(), /stopping: finishing the frames in flight \(at most 4 s\)/);
    // The grace bounds the drain; writing the reports (the annotated video drawn on every frame up to
    // the last one processed) and closing the stages come on top, and take a while on 2 busy cores:
    // the bound is loose; that the run stopped early is checked below.
    assert.ok(tookMs < graceS * 1000 + 90_000, `took ${tookMs} ms after Ctrl-C`);
    assertReports(out);
  });

  it('a second Ctrl-C writes the reports without waiting for the drain', async () => {
    const { out, run, exit, tookMs } = await interrupt(2, 600);
    assert.equal(exit.code, 130, run.stderr());
    assert.match(run.stderr(), /writing the reports of what is processed now/);
    assert.ok(tookMs < 60_000, `took ${tookMs} ms after the second Ctrl-C (the grace was 600 s)`);
    assertReports(out);
  });
});
