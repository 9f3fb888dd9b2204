// loadPack lives in @emostream/shared; its tests live here because they need this package's
// graph builder to make real (tiny) ONNX files, and shared must not depend on models.
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  forgetModelHashes,
  HASH_CACHE_FILE,
  loadPack,
  readPack,
  PackError,
  tensorSettingsOf,
  toReferenceProbabilities,
  type PackManifestInput,
} from '@emostream/vision';
import { tinyBackbone, writeManifest, writeTinyPack } from './helpers/tiny-pack.js';
import onnxProto from 'onnx-proto';
import { decodeModel } from '../src/onnx/builder.js';

async function withPack(fn: (dir: string, manifest: PackManifestInput) => Promise<void>): Promise<void> {
  const { dir, manifest } = await writeTinyPack();
  try {
    await fn(dir, structuredClone(manifest));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('loads a valid pack, opens a session per role and maps labels to the reference order', async () => {
  await withPack(async (dir) => {
    const pack = await loadPack(dir);
    assert.equal(pack.manifest.name, 'tiny');
    assert.deepEqual(pack.toReferenceOrder, [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Object.keys(pack.sessions).sort(), ['backbone', 'temporal']);
    const out = await pack.sessions.temporal!.run({ window: { data: new Float32Array(2 * 10 * 512), dims: [2, 10, 512] } });
    assert.deepEqual(out['probs']!.dims, [2, 7]);
    await Promise.all(Object.values(pack.sessions).map((s) => s.release()));
  });
});

test('loads a backbone that cannot take its crops as bytes as it is, on floats, and says so', async () => {
  await withPack(async (dir, manifest) => {
    // A graph that also returns its input: the byte steps cannot go in front of it.
    const model = decodeModel(tinyBackbone());
    model.graph!.output!.push(model.graph!.input![0]!);
    const bytes = onnxProto.onnx.ModelProto.encode(model).finish();
    await writeFile(join(dir, 'backbone.onnx'), bytes);
    manifest.models.backbone.sha256 = createHash('sha256').update(bytes).digest('hex');
    await writeManifest(dir, manifest);
    const warnings: string[] = [];
    const logger = { warn: (obj: object, msg: string) => void warnings.push(`${msg} ${JSON.stringify(obj)}`), info: () => undefined };
    const pack = await loadPack(dir, { roles: ['backbone'], backboneTakesBytes: true, logger });
    try {
      assert.equal(pack.sessions.backbone!.inputs[0]!.dtype, 'float32');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /the backbone takes floats.*tiny\/backbone.*returns its input ..input.. as an output/);
    } finally {
      await pack.sessions.backbone!.release();
    }
    // The tiny pack's own backbone does take bytes.
    const { dir: plain } = await writeTinyPack();
    const bytesPack = await loadPack(plain, { roles: ['backbone'], backboneTakesBytes: true, logger });
    assert.equal(bytesPack.sessions.backbone!.inputs[0]!.dtype, 'uint8');
    await bytesPack.sessions.backbone!.release();
    await rm(plain, { recursive: true, force: true });
  });
});

test('rejects a file whose sha256 differs from the manifest', async () => {
  await withPack(async (dir) => {
    await writeFile(join(dir, 'temporal.onnx'), 'not the same bytes');
    await assert.rejects(readPack(dir), (e: unknown) => {
      assert.ok(e instanceof PackError);
      assert.match(e.message, /model pack "tiny": temporal model file temporal\.onnx has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/);
      return true;
    });
  });
});

test('remembers each file\'s sha256 for its size, mtime and inode, and hashes a changed file again', async () => {
  await withPack(async (dir) => {
    await readPack(dir);
    const cache = JSON.parse(await readFile(join(dir, HASH_CACHE_FILE), 'utf8')) as Record<string, { sha256: string }>;
    assert.deepEqual(Object.keys(cache).sort(), ['backbone.onnx', 'temporal.onnx']);
    // A remembered hash is what the check reads while the file is unchanged: a planted one is believed…
    const planted = { ...cache, 'temporal.onnx': { ...cache['temporal.onnx']!, sha256: '0'.repeat(64) } };
    await writeFile(join(dir, HASH_CACHE_FILE), JSON.stringify(planted));
    await assert.rejects(readPack(dir), /temporal model file temporal\.onnx has sha256 0{64}/);
    // …and forgotten as soon as the file's mtime moves (same bytes, same size).
    const later = new Date(Date.now() + 5_000);
    await utimes(join(dir, 'temporal.onnx'), later, later);
    await readPack(dir);
    // Same size, new bytes: the mtime moves with the write, so the file is hashed again and refused.
    const bytes = await readFile(join(dir, 'backbone.onnx'));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await writeFile(join(dir, 'backbone.onnx'), bytes);
    await assert.rejects(readPack(dir), /backbone model file backbone\.onnx has sha256/);
  });
});

test('forgetModelHashes (emo models verify) drops what was remembered', async () => {
  await withPack(async (dir) => {
    await readPack(dir);
    await forgetModelHashes(dir);
    await assert.rejects(readFile(join(dir, HASH_CACHE_FILE)), /ENOENT/);
  });
});

test('rejects a missing model file, naming it', async () => {
  await withPack(async (dir) => {
    await unlink(join(dir, 'backbone.onnx'));
    await assert.rejects(readPack(dir), /model pack "tiny": backbone model file backbone\.onnx is missing/);
  });
});

test('rejects a missing manifest', async () => {
  await withPack(async (dir) => {
    await unlink(join(dir, 'manifest.json'));
    await assert.rejects(readPack(dir), /manifest\.json not found/);
  });
});

test('rejects a manifest input shape that does not match the model', async () => {
  await withPack(async (dir, manifest) => {
    manifest.models.backbone.input.shape = [-1, 3, 224, 224];
    await writeManifest(dir, manifest);
    await assert.rejects(loadPack(dir), /model pack "tiny": backbone input "input" has shape \[-1,224,224,3\], the manifest says \[-1,3,224,224\]/);
  });
});

test('rejects an output name the model does not have', async () => {
  await withPack(async (dir, manifest) => {
    manifest.models.temporal!.outputs.probs.name = 'softmax';
    await writeManifest(dir, manifest);
    await assert.rejects(loadPack(dir), /temporal model has no output "softmax" \(it has "probs"\)/);
  });
});

test('rejects an unknown label', async () => {
  await withPack(async (dir, manifest) => {
    manifest.labels[1] = 'Happy';
    await writeManifest(dir, manifest);
    await assert.rejects(readPack(dir), /labels: unknown label "Happy"; allowed: Neutral, Happiness/);
  });
});

test('rejects a label list that repeats or omits a label', async () => {
  await withPack(async (dir, manifest) => {
    manifest.labels[6] = 'Neutral';
    await writeManifest(dir, manifest);
    await assert.rejects(readPack(dir), /labels: must name each of the 7 labels exactly once; missing Anger/);
  });
});

test('accepts labels in another order and maps them onto the reference order', async () => {
  await withPack(async (dir, manifest) => {
    manifest.labels = ['Neutral', 'Happiness', 'Sadness', 'Anger', 'Fear', 'Disgust', 'Surprise'];
    await writeManifest(dir, manifest);
    const pack = await readPack(dir);
    assert.deepEqual(pack.toReferenceOrder, [0, 1, 2, 6, 4, 5, 3]);
  });
});

test('rejects unknown manifest keys and a file path outside the pack', async () => {
  await withPack(async (dir, manifest) => {
    await writeManifest(dir, { ...manifest, extra: 1 });
    await assert.rejects(readPack(dir), /manifest\.json is invalid: \(root\): Unrecognized key\(s\) in object: 'extra'/);
    manifest.models.backbone.file = '../backbone.onnx';
    await writeManifest(dir, manifest);
    await assert.rejects(readPack(dir), /must be a path inside the pack folder/);
  });
});

test('a loaded pack gives everything a backbone stage needs to preprocess faces and reorder labels', async () => {
  await withPack(async (dir, manifest) => {
    manifest.labels = ['Anger', 'Happiness', 'Sadness', 'Surprise', 'Fear', 'Disgust', 'Neutral'];
    await writeManifest(dir, manifest);
    const pack = await readPack(dir);
    const settings = tensorSettingsOf(pack.manifest.models.backbone);
    assert.deepEqual(settings, { colorOrder: 'BGR', mean: [91.4953, 103.8827, 131.0912], scale: 1, resize: 'nearest', inputSize: { width: 224, height: 224 }, fit: 'stretch', layout: 'NHWC' });
    // The model's first output is Anger; in reference order it goes last.
    assert.deepEqual(Array.from(toReferenceProbabilities([0.7, 0, 0, 0, 0, 0, 0.3], pack.toReferenceOrder)), [0.3, 0, 0, 0, 0, 0, 0.7].map(Math.fround));
  });
});
