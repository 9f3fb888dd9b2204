import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { runModelsCli } from '../src/cli.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/keras/${name}`, import.meta.url));

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runModelsCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

test('import, list and verify a pack through the CLI', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const imported = await run('import', 'emo-affectnet', '--backbone', fixture('backbone_w16.h5'), '--temporal', fixture('temporal_small.h5'), '--models-dir', dir);
  assert.equal(imported.code, 0, imported.err);
  assert.match(imported.out, /imported pack "emo-affectnet-temporal-small"/);

  const listed = await run('list', '--models-dir', dir);
  assert.equal(listed.code, 0, listed.err);
  assert.match(listed.out, /emo-affectnet-temporal-small\s+yes\s+backbone,temporal/);

  const verified = await run('verify', 'emo-affectnet-temporal-small', '--models-dir', dir);
  assert.equal(verified.code, 0, verified.err);
  assert.match(verified.out, /backbone\s+backbone\.onnx\s+input \[-1,224,224,3\]\s+features \[-1,64\] probs \[-1,7\]\s+cpu/);
  assert.match(verified.out, /temporal\s+temporal\.onnx\s+window \[-1,10,64\]/);
  assert.match(verified.out, /verify: ok/);
});

test('verify fails with exit code 1 and the reason when a pack file was changed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await run('import', 'emo-affectnet', '--backbone', fixture('backbone_w16.h5'), '--models-dir', dir);
  await writeFile(join(dir, 'emo-affectnet-backbone-w16', 'backbone.onnx'), 'tampered');
  const verified = await run('verify', join(dir, 'emo-affectnet-backbone-w16'));
  assert.equal(verified.code, 1);
  assert.match(verified.err, /model pack "emo-affectnet-backbone-w16": backbone model file backbone\.onnx has sha256/);
  const listed = await run('list', '--models-dir', dir);
  assert.equal(listed.code, 1, 'list reports a broken pack');
});

test('unknown commands and missing arguments are usage errors (exit code 2)', async () => {
  assert.equal((await run('frobnicate')).code, 2);
  const missing = await run('import', 'emo-affectnet');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /needs --backbone/);
  assert.equal((await run('verify', 'x', '--provider', 'tpu')).code, 2);
});

test('help prints the usage with exit code 0', async () => {
  const help = await run('help');
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: models <command>/);
});

test('verify checks and runs every detector of detection.json, not only the manifest\'s: a corrupted SSD fails it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pack = join(dir, 'default');
  await cp(join(DEFAULT_MODELS_DIR, 'default'), pack, { recursive: true });
  const verified = await run('verify', pack);
  assert.equal(verified.code, 0, verified.err);
  const detection = JSON.parse(await readFile(join(pack, 'detection.json'), 'utf8')) as { detectors: Record<string, { file: string }> };
  for (const [name, d] of Object.entries(detection.detectors)) assert.match(verified.out, new RegExp(`detector ${name}\\s+${d.file.replace('.', '\\.')}`));

  // The SSD is not the manifest's detector role: before, verify never looked at it.
  const ssd = join(pack, detection.detectors['ssd']!.file);
  const bytes = await readFile(ssd);
  const middle = bytes.length >> 1;
  bytes[middle] = bytes[middle]! ^ 0xff;
  await writeFile(ssd, bytes);
  const broken = await run('verify', pack);
  assert.equal(broken.code, 1);
  assert.match(broken.err, /detector ssd file ssd-mobilenetv1\.onnx has sha256/);
});
