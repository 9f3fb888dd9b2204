// The compiled CLI (`npm run build`): what the images run. It must run the pipeline with plain node
// (no tsx), and `emo` must never run compiled JS older than the sources.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sharedData } from '@emostream/shared/testing';
// @ts-expect-error -- plain JS without types: the launcher runs before any TypeScript can
import { freshCompiledMain, ROOT } from '../bin/compiled.mjs';

const launch = freshCompiledMain as (root?: string) => string | undefined;

/** A repository of one workspace package, built at `builtAt` (seconds), its source written at `sourceAt`. */
function fakeRepo(builtAt: number, sourceAt: number): string {
  const root = mkdtempSync(path.join(tmpdir(), 'emostream-compiled-'));
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ workspaces: ['cli'] }));
  mkdirSync(path.join(root, 'cli', 'src'), { recursive: true });
  mkdirSync(path.join(root, 'cli', 'dist'), { recursive: true });
  writeFileSync(path.join(root, 'cli', 'package.json'), '{}');
  writeFileSync(path.join(root, 'cli', 'src', 'main.ts'), '');
  writeFileSync(path.join(root, 'cli', 'dist', 'build-stamp.json'), '{}');
  for (const file of ['package.json', 'src/main.ts']) utimesSync(path.join(root, 'cli', file), sourceAt, sourceAt);
  utimesSync(path.join(root, 'cli', 'dist', 'build-stamp.json'), builtAt, builtAt);
  return root;
}

describe('the compiled CLI', () => {
  it('is used only while its build is newer than every source and no plain tsc ran since', () => {
    const built = fakeRepo(2_000, 1_000);
    assert.equal(launch(built), path.join(built, 'cli', 'dist', 'src', 'main.js'));
    assert.equal(launch(fakeRepo(1_000, 2_000)), undefined, 'a source changed after the build: run it through tsx');
    const retyped = fakeRepo(2_000, 1_000);
    writeFileSync(path.join(retyped, 'cli', 'dist', 'tsconfig.tsbuildinfo'), '{}');
    utimesSync(path.join(retyped, 'cli', 'dist', 'tsconfig.tsbuildinfo'), 3_000, 3_000);
    assert.equal(launch(retyped), undefined, 'a plain tsc -b re-emitted files after the build');
    const unbuilt = fakeRepo(2_000, 1_000);
    rmSync(path.join(unbuilt, 'cli', 'dist', 'build-stamp.json'));
    assert.equal(launch(unbuilt), undefined, 'never built');
  });

  it('runs a whole emo run with plain node (no tsx): the workspace imports point at compiled files', () => {
    const build = spawnSync(process.execPath, [path.join(ROOT as string, 'scripts', 'build.mjs')], { encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr || build.stdout);
    const main = launch();
    assert.ok(main, 'right after npm run build, emo must pick the compiled JS');
    const out = mkdtempSync(path.join(tmpdir(), 'emostream-compiled-run-'));
    const run = spawnSync(
      process.execPath,
      [main, 'run', sharedData('labelled/cremad_1001_DFA_happy.flv'), '--pack', 'synthetic', '--no-video', '--out', out, '--json'],
      { encoding: 'utf8', env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'error' } },
    );
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { state: string; sampledFrames: number };
    assert.equal(summary.state, 'ended');
    assert.equal(summary.sampledFrames, 10);
    const version = spawnSync(process.execPath, [main, '--version'], { encoding: 'utf8' });
    const { version: expected } = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as {
      version: string;
    };
    assert.equal(version.stdout.trim(), expected);
  });
});
