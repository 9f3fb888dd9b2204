// The PyTorch checkpoint reader and the `.pt` import refuse damaged or mismatched files with one
// line naming the file and the problem (and the tensor, where one is at fault).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESNET50_SPEC, buildBackbone } from '../src/emo-affectnet/backbone.js';
import { TorchWeightSource } from '../src/emo-affectnet/torch-weights.js';
import { runModelsCli } from '../src/cli.js';
import { parseTorchCheckpoint, readTorchCheckpoint } from '../src/pytorch/checkpoint.js';
import { unpickle, PyGlobal, PyObject } from '../src/pytorch/pickle.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/torch/${name}`, import.meta.url));

async function importCli(dir: string, ...files: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const code = await runModelsCli(['import', 'emo-affectnet', ...files, '--out', dir], { out: () => {}, err: (l) => err.push(l) });
  return { code, err };
}

async function withTempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-torch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts one error line from the CLI, matching `pattern`. */
function assertOneLine(result: { code: number; err: string[] }, pattern: RegExp): void {
  assert.equal(result.code, 1);
  assert.equal(result.err.length, 1, result.err.join('\n'));
  assert.doesNotMatch(result.err[0]!, /\n/);
  assert.match(result.err[0]!, pattern);
}

test('reads tensors by name with dtype and shape; the state dict\'s own attributes are not tensors', async () => {
  const checkpoint = await readTorchCheckpoint(fixture('backbone_w16.pt'));
  assert.equal(checkpoint.format, 'zip');
  const conv = checkpoint.tensors.get('layer4.2.conv3.weight')!;
  assert.equal(conv.dtype, 'float32');
  assert.deepEqual(conv.shape, [128, 32, 1, 1]);
  assert.equal(conv.toFloat32().length, 128 * 32);
  assert.equal(checkpoint.tensors.get('batch_norm1.num_batches_tracked')!.dtype, 'int64');
  assert.ok(![...checkpoint.tensors.keys()].some((n) => n.includes('_metadata')), 'OrderedDict attributes are not tensors');
});

test('the CLI imports the authors\' file names into a pack named after the LSTM corpus', async (t) => {
  const dir = await withTempDir(t);
  const lstm = join(dir, 'FER_dinamic_LSTM_RAVDESS.pt');
  await copyFile(fixture('temporal_small.pt'), lstm);
  const out: string[] = [];
  const code = await runModelsCli(['import', 'emo-affectnet', '--backbone', fixture('backbone_w16.pt'), '--temporal', lstm, '--out', dir], { out: (l) => out.push(l), err: (l) => out.push(l) });
  assert.equal(code, 0, out.join('\n'));
  assert.match(out.join('\n'), /imported pack "emo-affectnet-ravdess"/);
  const manifest = JSON.parse(await readFile(join(dir, 'emo-affectnet-ravdess', 'manifest.json'), 'utf8')) as { source: string; licence: string };
  assert.equal(manifest.source, 'backbone_w16.pt, FER_dinamic_LSTM_RAVDESS.pt');
  assert.match(manifest.licence, /scientific usage only/);
});

test('a truncated zip checkpoint is refused in one line naming the file', async (t) => {
  const dir = await withTempDir(t);
  const bytes = await readFile(fixture('backbone_w16.pt'));
  const path = join(dir, 'FER_static_ResNet50_AffectNet.pt');
  await writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
  assertOneLine(await importCli(dir, '--backbone', path), /^error: FER_static_ResNet50_AffectNet\.pt: .*(damaged|truncated)/);
});

test('a flipped byte in a tensor storage is caught by the archive checksum, naming the entry', async (t) => {
  const dir = await withTempDir(t);
  const bytes = Buffer.from(await readFile(fixture('temporal_small.pt')));
  // The largest storage (lstm1.weight_ih_l0, 128×64 float32) fills the middle of the archive.
  bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
  const path = join(dir, 'FER_dinamic_LSTM_RAVDESS.pt');
  await writeFile(path, bytes);
  await assert.rejects(readTorchCheckpoint(path), (error: Error) => {
    assert.match(error.message, /^FER_dinamic_LSTM_RAVDESS\.pt: archive entry "[^"]+\/data\/\d+" cannot be read .*damaged/);
    assert.doesNotMatch(error.message, /\n/);
    return true;
  });
});

test('a truncated legacy checkpoint is refused naming the storage that is cut off', async (t) => {
  const dir = await withTempDir(t);
  const bytes = await readFile(fixture('temporal_small_legacy.pt'));
  const path = join(dir, 'mobilenet0.25_Final.pth');
  await writeFile(path, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(readTorchCheckpoint(path), /^Error: mobilenet0\.25_Final\.pth: storage "\d+" needs \d+ bytes, \d+ are left; the file is truncated$/);
});

test('a file that is not a checkpoint is refused as such', async (t) => {
  const dir = await withTempDir(t);
  const path = join(dir, 'notes.pt');
  await writeFile(path, 'these are not weights\n');
  assertOneLine(await importCli(dir, '--backbone', path), /^error: notes\.pt: not a PyTorch checkpoint/);
  assert.throws(() => parseTorchCheckpoint(new Uint8Array([0x80, 0x02, 0x4b, 0x01]), 'cut.pt'), /^Error: cut\.pt: not a readable PyTorch checkpoint \(pickle at byte 4: truncated/);
});

test('an LSTM passed as the backbone is refused naming the missing tensor', async (t) => {
  const dir = await withTempDir(t);
  assertOneLine(
    await importCli(dir, '--backbone', fixture('temporal_small.pt')),
    /^error: temporal_small\.pt: found 0 ResNet stages .*not the authors' ResNet50 state dict$/,
  );
  const source = new TorchWeightSource(await readTorchCheckpoint(fixture('temporal_small.pt')), 'backbone');
  assert.throws(() => buildBackbone(source), /temporal_small\.pt: has no tensor "conv_layer_s2_same\.weight" \(Keras layer conv1_7x7_s2\); not the authors' ResNet50/);
});

test('a backbone whose shapes do not fit is refused naming the tensor and both shapes', async () => {
  const source = new TorchWeightSource(await readTorchCheckpoint(fixture('backbone_w16.pt')), 'backbone');
  assert.throws(() => buildBackbone(source, RESNET50_SPEC), /^Error: backbone_w16\.pt: tensor "conv_layer_s2_same\.weight" has shape \[4,3,7,7\], expected \[64,3,7,7\]$/);
});

test('a backbone passed as the LSTM is refused naming the missing tensor', async (t) => {
  const dir = await withTempDir(t);
  assertOneLine(
    await importCli(dir, '--backbone', fixture('backbone_w16.pt'), '--temporal', fixture('backbone_w16.pt')),
    /^error: backbone_w16\.pt: has no tensor "lstm1\.weight_ih_l0"/,
  );
});

test('the unpickler never runs code: unknown globals become inert records', () => {
  // pickle.dumps(os.system, protocol=2) then a call to it: GLOBAL 'os system', ('echo',), REDUCE.
  const bytes = new Uint8Array([0x80, 0x02, 0x63, ...Buffer.from('os\nsystem\n'), 0x58, 4, 0, 0, 0, ...Buffer.from('echo'), 0x85, 0x52, 0x2e]);
  const { value } = unpickle(bytes);
  assert.ok(value instanceof PyObject);
  assert.ok(value.cls instanceof PyGlobal);
  assert.equal(value.cls.qualifiedName, 'os.system');
  assert.deepEqual([...value.args], ['echo']);
});
