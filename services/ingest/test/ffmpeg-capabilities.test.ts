/**
 * Its own file (its own process): fluent-ffmpeg keeps the formats and encoders it asked for the rest of
 * a process, so the first test here is the first to ask.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { sharedData } from '@emostream/shared/testing';
import { ffmpegCapabilities } from '../src/index.js';

const work = mkdtempSync(path.join(tmpdir(), 'ffmpeg-capabilities-'));
const log = path.join(work, 'ffmpeg-starts.log');

/** An ffmpeg that notes each start's arguments, then runs the installed one. */
function loggingFfmpeg(name: string): string {
  const program = path.join(work, name);
  writeFileSync(program, `#!/bin/sh\necho "$*" >> '${log}'\nexec ffmpeg "$@"\n`);
  chmodSync(program, 0o755);
  return program;
}

const starts = (): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : []);
const questions = (lines: string[]) => lines.filter((line) => /^-formats|^-encoders|filter=showinfo/.test(line));

describe("ffmpeg's capabilities, kept on disk per binary", () => {
  const program = loggingFfmpeg('ffmpeg-a');
  const cache = path.join(work, 'cache');

  it('asks ffmpeg the first time and stores the answers', async () => {
    const answers = await ffmpegCapabilities(program, cache);
    assert.ok(answers, 'the installed ffmpeg answers');
    assert.equal(answers.showinfo, 'showinfo=checksum=0', 'ffmpeg 5.1 has the checksum option');
    assert.equal(answers.formats.image2pipe?.canMux, true);
    assert.equal(answers.encoders.mjpeg?.type, 'video');
    assert.deepEqual(questions(starts()).length, 3, `three questions: ${starts().join(' | ')}`);
    assert.equal(readdirSync(cache).filter((f) => f.endsWith('.json')).length, 1);
  });

  it('answers from the stored file without starting ffmpeg', async () => {
    const before = starts().length;
    const first = await ffmpegCapabilities(program, cache);
    assert.equal(starts().length, before, 'no ffmpeg started');
    assert.equal(first?.showinfo, 'showinfo=checksum=0');
    assert.equal(first?.encoders.libx264?.type, 'video');
  });

  it('asks again when the binary changed (a new ffmpeg installed in its place)', async () => {
    appendFileSync(program, '# replaced\n');
    const before = starts().length;
    const answers = await ffmpegCapabilities(program, cache);
    assert.equal(answers?.showinfo, 'showinfo=checksum=0');
    // fluent-ffmpeg answers formats and encoders from its own process-wide cache; showinfo is asked.
    assert.ok(
      questions(starts().slice(before)).some((line) => line.includes('filter=showinfo')),
      'the changed binary was asked',
    );
    const again = starts().length;
    await ffmpegCapabilities(program, cache);
    assert.equal(starts().length, again, 'and its answers stored');
  });

  it('still answers where the cache cannot be written (a read-only home)', async () => {
    const blocked = path.join(work, 'a-file');
    writeFileSync(blocked, '');
    const answers = await ffmpegCapabilities(program, path.join(blocked, 'cache'));
    assert.equal(answers?.showinfo, 'showinfo=checksum=0');
    // Where Node's recursive mkdir spun forever (regression: emo run hung at start with XDG_CACHE_HOME in /proc).
    assert.equal((await ffmpegCapabilities(program, '/proc/no-such-dir/emostream'))?.showinfo, 'showinfo=checksum=0');
  });

  it('gives undefined for an ffmpeg that cannot run, so the read fails with its own message', async () => {
    assert.equal(await ffmpegCapabilities(path.join(work, 'no-such-ffmpeg'), cache), undefined);
  });

  it('a process reading frames with the answers stored starts only the reading ffmpeg', () => {
    const reader = loggingFfmpeg('ffmpeg-b');
    const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/index.ts');
    const clip = sharedData('labelled/cremad_1001_DFA_happy.flv');
    const script =
      `const { parseSource, readFrames } = await import(${JSON.stringify(index)});` +
      `let n = 0; for await (const _ of readFrames(parseSource(${JSON.stringify(clip)}), { sampling: { kind: 'every', step: 6 }, maxWidth: 0, jpegQuality: 80, connectTimeoutMs: 5000, readTimeoutMs: 5000 })) n++;` +
      `console.log(n);`;
    const run = () => {
      const before = starts().length;
      const done = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        env: { ...process.env, FFMPEG_PATH: reader, XDG_CACHE_HOME: path.join(work, 'xdg') },
        encoding: 'utf8',
      });
      assert.equal(done.status, 0, done.stderr);
      return { frames: Number(done.stdout.trim()), starts: starts().slice(before) };
    };
    const first = run();
    assert.equal(first.frames, 10, 'frames 1, 7, …, 55 of the 56');
    assert.equal(questions(first.starts).length, 3, `the first process asks: ${first.starts.join(' | ')}`);
    const second = run();
    assert.equal(second.frames, 10);
    assert.equal(second.starts.length, 1, `only the reading ffmpeg: ${second.starts.join(' | ')}`);
    assert.match(second.starts[0]!, /-i \S+cremad_1001_DFA_happy\.flv/);
  });
});
