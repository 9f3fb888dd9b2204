// docs/settings.md and `emo serve --help` list the settings from their declarations (fromEnv), never
// by hand: the page must be what `npm run docs:settings` writes, and the help must name every variable.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { packageDir } from '@emostream/shared';
import { settingsMarkdown, settingsSections } from '../src/settings-reference.js';

const root = path.resolve(packageDir(import.meta.url), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');

test('docs/settings.md is what the declarations give (run `npm run docs:settings` after changing a schema)', () => {
  const page = readFileSync(path.join(root, 'docs', 'settings.md'), 'utf8');
  assert.equal(page, settingsMarkdown(), 'docs/settings.md is stale: run `npm run docs:settings`');
});

test('the reference lists each declared variable once, with its meaning, and marks secrets', () => {
  const bindings = settingsSections().flatMap((s) => s.bindings);
  const names = bindings.map((b) => b.env);
  assert.deepEqual(
    names.filter((n, i) => names.indexOf(n) !== i),
    [],
    'a variable listed in two sections',
  );
  for (const name of [
    'EMOSTREAM_LOG_LEVEL',
    'FFMPEG_PATH',
    'KAFKA_BROKERS',
    'EMOSTREAM_MODELS_DIR',
    'FACE_MIN_SIZE',
    'SINK_LIVE_VIEW_TOKEN',
  ])
    assert.ok(names.includes(name), `${name} is missing`);
  assert.deepEqual(
    bindings.filter((b) => !b.meaning).map((b) => b.env),
    [],
    'variables without a meaning',
  );
  assert.deepEqual(
    bindings
      .filter((b) => b.secret)
      .map((b) => b.env)
      .sort(),
    ['KAFKA_SASL_PASSWORD', 'SINK_LIVE_VIEW_TOKEN'],
  );
  const markdown = settingsMarkdown();
  assert.match(markdown, /\| `TEMPORAL_REPLAY_RECORDS` \| `temporal\.replayRecords` \| `2000` \|/);
  assert.match(markdown, /\| `EMOSTREAM_INSTANCE_ID` \| `instanceId` \| `the host name` \|/);
});

test('emo serve --help names every variable the stages read', () => {
  const help = spawnSync(process.execPath, [emo, 'serve', '--help'], {
    encoding: 'utf8',
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' },
  });
  assert.equal(help.status, 0, help.stderr);
  const missing = settingsSections()
    .flatMap((s) => s.bindings.map((b) => b.env))
    .filter((env) => !new RegExp(`\\b${env}\\b`).test(help.stdout));
  assert.deepEqual(missing, [], `emo serve --help does not name ${missing.join(', ')}`);
});
