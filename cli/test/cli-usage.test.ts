// The CLI without surprises: help that works, a version, usage errors that exit 2 everywhere, the
// defaults the README states, a bad --pack that says which packs there are, an unwritable --out refused
// before any work, no empty reports for an input that could not be read, and a machine-readable summary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { packsIn, DEFAULT_MODELS_DIR } from '@emostream/vision';
import { sharedData } from '@emostream/shared/testing';

const emoBin = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));
const emo = (args: string[]) =>
  spawnSync(process.execPath, [emoBin, ...args], { encoding: 'utf8', env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' } });
const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string })
  .version;

describe('emo command line', () => {
  it('prints its version (-v and --version), and its help points to a models help that works', () => {
    for (const flag of ['--version', '-v']) {
      const v = emo([flag]);
      assert.equal(v.status, 0, `${flag}: ${v.stderr}`);
      assert.equal(v.stdout.trim(), version);
    }
    const help = emo(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /emo\s+models help/);
    const modelsHelp = emo(['models', 'help']);
    assert.equal(modelsHelp.status, 0, modelsHelp.stderr);
    assert.match(modelsHelp.stdout, /usage: models <command>/);
  });

  it('exits 2 on usage errors, in emo as in emo models, with one message and no stack trace', () => {
    for (const args of [['run'], ['run', 'x.mp4', '--fps', 'fast'], ['serve', 'nosuch'], ['bogus-command'], ['models', 'frobnicate']]) {
      const result = emo(args);
      assert.equal(result.status, 2, `emo ${args.join(' ')}: exit ${result.status}\n${result.stderr}`);
      assert.doesNotMatch(result.stderr, /\n\s+at .*:\d+:\d+/);
    }
    const unknownStage = emo(['serve', 'nosuch']);
    assert.equal(unknownStage.stderr.match(/unknown stage/g)?.length, 1, 'the error is printed once');
  });

  it('a stage started without KAFKA_BROKERS exits 1 naming KAFKA_BROKERS and its fix, in one JSON line without a stack trace (issue 26: it said "runtime: Required")', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, EMOSTREAM_LOG_LEVEL: 'info' };
    delete env.KAFKA_BROKERS;
    delete env.EMOSTREAM_CONFIG;
    for (const stage of ['face', 'ingest']) {
      const result = spawnSync(process.execPath, [emoBin, 'serve', stage], { encoding: 'utf8', env, timeout: 60_000 });
      assert.equal(result.status, 1, `emo serve ${stage}: exit ${result.status}\n${result.stdout}${result.stderr}`);
      // Not a terminal here: one JSON log line, the problems as fields.
      const lines = result.stdout.trim().split('\n');
      assert.equal(lines.length, 1, result.stdout);
      const line = JSON.parse(lines[0]!) as { level: number; code: string; msg: string; problems: { env: string }[]; err?: unknown };
      assert.equal(line.code, 'CONFIG_INVALID');
      assert.match(line.msg, /^invalid configuration: KAFKA_BROKERS is not set \(Required when bus is kafka\); set it: Bootstrap servers/);
      assert.deepEqual(
        line.problems.map((p) => p.env),
        ['KAFKA_BROKERS'],
      );
      assert.equal(line.err, undefined, 'no stack trace');
      assert.doesNotMatch(result.stdout + result.stderr, /runtime: Required|\n\s+at .*:\d+:\d+/);
    }
  });

  it('says in emo run --help that images and folders of images are inputs too', () => {
    const help = emo(['run', '--help']).stdout.replace(/\s+/g, ' ');
    assert.match(help, /over videos, images, folders of them/);
    assert.match(help, /images \(jpg, png, bmp, webp, tiff\), folders of videos and\/or images/);
  });

  it('shows the live sampling default the README states (5 frames/s)', () => {
    const help = emo(['run', '--help']);
    assert.match(help.stdout, /--fps <n>[\s\S]{0,200}?\(default: 5\)/);
    assert.match(readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8'), /`--fps`[^\n]*\n?[^\n]*\(default 5\)/);
  });

  it('names the packs there are when --pack names none, as a usage error', () => {
    const result = emo([
      'run',
      sharedData('labelled/cremad_1001_DFA_happy.flv'),
      '--pack',
      'bogus',
      '--out',
      mkdtempSync(path.join(tmpdir(), 'emo-cli-')),
    ]);
    assert.equal(result.status, 2);
    const packs = packsIn(DEFAULT_MODELS_DIR);
    assert.ok(packs.includes('default'), 'npm test builds the default pack first');
    assert.match(result.stderr, new RegExp(`model pack "bogus": not found: .*packs in .*: ${packs.join(', ')}`));
  });

  it('refuses an --out that is a file, before reading any input', () => {
    const started = Date.now();
    const result = emo([
      'run',
      sharedData('labelled/cremad_1001_DFA_happy.flv'),
      '--out',
      path.join(sharedData('labelled/cremad_1001_DFA_happy.flv'), 'reports'),
    ]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /cannot write reports to --out .*: .*happy\.flv is a file, not a folder/);
    assert.ok(Date.now() - started < 20_000, 'refused up front, not after the pipeline ran');
  });

  it('writes no empty reports for an input it could not read, and says that nothing was written', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-cli-'));
    const result = emo(['run', path.join(out, 'missing.mp4'), '--out', out]);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /missing\.mp4: no such file/);
    assert.match(result.stdout, /no reports written/);
    assert.doesNotMatch(result.stdout, /reports written to/);
    assert.equal(existsSync(path.join(out, 'missing.events.jsonl')), false, 'no 0-byte events file');
  });

  it('prints the error of an input it could not read once (in its summary, not also as a log line)', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-cli-'));
    // The default log level, as a user runs it.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.EMOSTREAM_LOG_LEVEL;
    const result = spawnSync(process.execPath, [emoBin, 'run', path.join(out, 'missing.mp4'), '--out', out], { encoding: 'utf8', env });
    assert.equal(result.status, 1, result.stderr);
    const said = `${result.stdout}${result.stderr}`;
    assert.equal(said.match(/no such file/g)?.length, 1, said);
  });

  it('--json prints one machine-readable summary per input on stdout, and nothing else there', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'emo-cli-'));
    const result = emo(['run', sharedData('labelled/cremad_1001_DFA_happy.flv'), path.join(out, 'missing.mp4'), '--out', out, '--json']);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            input: string;
            state: string;
            sampledFrames: number;
            trackEmotions: unknown[];
            reports: string[];
            error?: string;
          },
      );
    assert.equal(lines.length, 2);
    const [happy, missing] = [lines.find((l) => l.input.endsWith('happy.flv'))!, lines.find((l) => l.input.endsWith('missing.mp4'))!];
    assert.equal(happy.state, 'ended');
    assert.ok(happy.sampledFrames > 0 && happy.trackEmotions.length === 1 && happy.reports.length > 0);
    assert.equal(missing.state, 'failed');
    assert.match(missing.error!, /no such file/);
    assert.match(result.stderr, /reports written to/);
  });
});
