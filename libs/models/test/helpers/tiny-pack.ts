// A pack of tiny stand-in models with the real signatures, for tests of pack loading.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMOTION_LABELS } from '@emostream/shared';
import { type PackManifestInput } from '@emostream/vision';
import { OnnxGraphBuilder } from '../../src/onnx/builder.js';

/** Backbone stand-in: mean colour → Dense 512 ReLU (`features`) → Dense 7 softmax (`probs`). */
export function tinyBackbone(): Uint8Array {
  const g = new OnnxGraphBuilder('tiny_backbone');
  const x = g.addInput('input', 'float32', ['N', 224, 224, 3]);
  const mean = g.op('ReduceMean', [x], { axes: [1, 2], keepdims: 0 });
  const f = g.op('Gemm', [mean, g.addInitializer('w1', new Float32Array(3 * 512).fill(0.01), [3, 512]), g.addInitializer('b1', new Float32Array(512).fill(0.1), [512])]);
  g.op('Relu', [f], {}, 'features');
  const logits = g.op('Gemm', ['features', g.addInitializer('w2', new Float32Array(512 * 7).fill(0.01), [512, 7])]);
  g.op('Softmax', [logits], { axis: -1 }, 'probs');
  g.addOutput('features', 'float32', ['N', 512]);
  g.addOutput('probs', 'float32', ['N', 7]);
  return g.toBytes();
}

/** Temporal stand-in: mean over the window → Dense 7 softmax. */
export function tinyTemporal(): Uint8Array {
  const g = new OnnxGraphBuilder('tiny_temporal');
  const x = g.addInput('window', 'float32', ['N', 10, 512]);
  const mean = g.op('ReduceMean', [x], { axes: [1], keepdims: 0 });
  const logits = g.op('Gemm', [mean, g.addInitializer('w', new Float32Array(512 * 7).fill(0.01), [512, 7])]);
  g.op('Softmax', [logits], { axis: -1 }, 'probs');
  g.addOutput('probs', 'float32', ['N', 7]);
  return g.toBytes();
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Writes a valid tiny pack to a fresh temp dir; returns the dir and its manifest. */
export async function writeTinyPack(): Promise<{ dir: string; manifest: PackManifestInput }> {
  const dir = await mkdtemp(join(tmpdir(), 'emostream-pack-'));
  const backbone = tinyBackbone();
  const temporal = tinyTemporal();
  await writeFile(join(dir, 'backbone.onnx'), backbone);
  await writeFile(join(dir, 'temporal.onnx'), temporal);
  const manifest: PackManifestInput = {
    schemaVersion: 1,
    name: 'tiny',
    description: 'test stand-ins',
    trained: false,
    licence: 'MIT',
    labels: [...EMOTION_LABELS],
    models: {
      backbone: {
        file: 'backbone.onnx',
        sha256: sha256(backbone),
        input: { name: 'input', shape: [-1, 224, 224, 3], dtype: 'float32', layout: 'NHWC' },
        preprocessing: { colorOrder: 'BGR', mean: [91.4953, 103.8827, 131.0912], scale: 1, resize: 'nearest', inputSize: { width: 224, height: 224 } },
        crop: { expand: 1, square: false },
        outputs: { features: { name: 'features', shape: [-1, 512] }, probs: { name: 'probs', shape: [-1, 7] } },
      },
      temporal: {
        file: 'temporal.onnx',
        sha256: sha256(temporal),
        input: { name: 'window', shape: [-1, 10, 512], layout: 'NTC' },
        windowLength: 10,
        outputs: { probs: { name: 'probs', shape: [-1, 7] } },
      },
    },
  };
  await writeManifest(dir, manifest);
  return { dir, manifest };
}

export async function writeManifest(dir: string, manifest: unknown): Promise<void> {
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}
