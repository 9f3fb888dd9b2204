// emo run's exit statuses (issue 26): one table in the README, and each of its cases run here. Before,
// an empty folder exited 2 (README: 1), an unknown pack 1 (README: 2), an --out that could not be made
// said ENOENT or EEXIST, a failed run left an empty --out behind, a 0-byte file got ffmpeg's "moov
// atom not found", and a run stopped by Ctrl-C exited 0 like a complete one.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { concatenatedClip, sharedData, waitFor, within } from '@emostream/shared/testing';

const emoBin = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const happy = sharedData('labelled/cremad_1001_DFA_happy.flv');

function emo(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [emoBin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal', ...env },
  });
}

/** The README's table of emo run's exit statuses: status → what it says of it. */
function readmeExitTable(): Map<number, string> {
  const section = /### `emo run`'s exit status\n\n([\s\S]*?)\n\n/.exec(readme)?.[1];
  assert.ok(section, "the README has a table of emo run's exit statuses");
  const rows = section.split('\n').filter((line) => /^\| \d+ \|/.test(line));
  return new Map(rows.map((row) => [Number(/^\| (\d+) \|/.exec(row)![1]), row]));
}

describe("emo run's exit statuses", () => {
  const work = mkdtempSync(path.join(tmpdir(), 'emo-exit-'));
  /** Each status the test saw, with the README's words that must name its case. */
  const seen: { status: number; readme: RegExp }[] = [];
  const expect = (
    result: { status: number | null; stdout: string; stderr: string },
    status: number,
    message: RegExp,
    readmeWords: RegExp,
  ) => {
    const said = result.stdout + result.stderr;
    assert.equal(result.status, status, said);
    assert.match(said, message);
    assert.doesNotMatch(said, /\n\s+at .*:\d+:\d+/, 'no stack trace');
    seen.push({ status, readme: readmeWords });
  };

  it('0: the inputs were read', () => {
    const out = path.join(work, 'ok');
    expect(emo(['run', happy, '--out', out, '--no-video']), 0, /reports written to .*: .*cremad_1001_DFA_happy\.csv/, /read/);
  });

  it('1: nothing could be read (a missing file, a folder without media, a 0-byte file), and no --out folder is left behind', () => {
    const folder = path.join(work, 'no-media');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'notes.txt'), 'no video here');
    const zero = path.join(work, 'zero.mp4');
    writeFileSync(zero, '');
    for (const [input, message, words] of [
      [path.join(work, 'missing.mp4'), /missing\.mp4: no such file/, /missing/],
      [folder, /no-media: no video or image files in folder/, /folder without/],
      [zero, /zero\.mp4: empty file \(0 bytes\)/, /empty file/],
    ] as const) {
      const out = path.join(work, `out-${path.basename(input)}`);
      const result = emo(['run', input, '--out', out]);
      expect(result, 1, message, words);
      assert.doesNotMatch(result.stdout, /moov atom/);
      assert.equal(existsSync(out), false, `${input}: the --out folder this run made is gone again`);
    }
  });

  it("1: no ffmpeg where FFMPEG_PATH says: the input is unreadable, said without a crash (regression: the annotated video's encoder, started first, threw ENOENT unhandled)", () => {
    const out = path.join(work, 'no-ffmpeg');
    const result = emo(['run', happy, '--out', out], { FFMPEG_PATH: path.join(work, 'no-such-ffmpeg') });
    expect(
      result,
      1,
      /cremad_1001_DFA_happy\.flv: ffmpeg failed on .*no-such-ffmpeg ENOENT \(ffmpeg and ffprobe are needed: scripts\/install-system-deps\.sh/,
      /unreadable/,
    );
    assert.equal(existsSync(out), false);
  });

  it('2: a usage error, found before any work: a bad option, an unknown pack, an --out that cannot be made or holds an earlier run', () => {
    const out = path.join(work, 'usage');
    expect(emo(['run', happy, '--fps', 'fast', '--out', out]), 2, /--fps.*expected a number/, /option/);
    expect(emo(['run', happy, '--pack', 'bogus', '--out', out]), 2, /model pack "bogus": not found/, /pack/);
    // Root may write anywhere, but it cannot make a folder inside a file, nor in /proc.
    expect(
      emo(['run', happy, '--out', path.join(happy, 'reports')]),
      2,
      /cannot write reports to --out .*: .*cremad_1001_DFA_happy\.flv is a file, not a folder/,
      /cannot be made/,
    );
    expect(
      emo(['run', happy, '--out', '/proc/emo-reports']),
      2,
      /cannot write reports to --out \/proc\/emo-reports: the file system there does not let a folder be made/,
      /cannot be made/,
    );
    expect(emo(['run', happy, '--out', path.join(work, 'ok')]), 2, /holds the reports of an earlier run/, /earlier run/);
    assert.equal(existsSync(out), false, 'no --out folder made for a usage error');
  });

  it('130: Ctrl-C stopped an input before its end', async () => {
    const long = concatenatedClip(happy, path.join(work, 'long.flv'), 20);
    const out = path.join(work, 'stopped');
    const child = spawn(process.execPath, [emoBin, 'run', long, '--out', out, '--no-video'], {
      env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    await waitFor(() => stdout.includes('"msg":"reading file"'), {
      timeoutMs: 180_000,
      message: () => `emo run to start reading: ${stderr}`,
    });
    child.kill('SIGINT');
    const status = await within(exited, 120_000, () => `emo run still running after Ctrl-C: ${stderr}`);
    expect({ status, stdout, stderr }, 130, /long\.flv: .*\(stopped\)/, /Ctrl-C/);
  });

  it('the README has one table of these statuses, each row naming its cases', () => {
    const table = readmeExitTable();
    assert.deepEqual(
      [...table.keys()].sort((a, b) => a - b),
      [0, 1, 2, 130],
    );
    assert.deepEqual(
      [...new Set(seen.map((s) => s.status))].sort((a, b) => a - b),
      [0, 1, 2, 130],
      'every status was exercised above',
    );
    for (const { status, readme: words } of seen) assert.match(table.get(status)!, words, `README row ${status} names its case`);
  });
});
