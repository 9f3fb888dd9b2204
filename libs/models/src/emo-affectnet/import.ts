/**
 * Imports the authors' published weights into model packs: Keras `.h5` files or their PyTorch
 * port's `.pt` files (state dicts, or TorchScript), told apart by their first bytes.
 *
 * The user downloads the files from the authors' links (ElenaRyumina/EMO-AffectNetModel; MIT
 * code, weights "for scientific usage only"); this project never downloads them. One backbone
 * (e.g. `weights_0_66_49_wo_gl.h5` or `FER_static_ResNet50_AffectNet.pt`) and any number of LSTMs
 * (e.g. `RAVDESS_with_config.h5` or `FER_dinamic_LSTM_RAVDESS.pt`) give one pack per LSTM, each
 * with its own copy of the backbone so that every pack folder stands alone. With no LSTM, one
 * backbone-only pack is written. Both kinds build the same ONNX graphs; the only difference is
 * the LSTM's masking: Keras's model has `Masking(0)`, PyTorch's `LSTMPyTorch` has none, and each
 * pack does what its source model does.
 */
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { PackManifest } from '@emostream/vision';
import { readTorchCheckpoint } from '../pytorch/checkpoint.js';
import { BACKBONE_FEATURES, BACKBONE_INPUT, BACKBONE_INPUT_SIZE, BACKBONE_PROBS, backboneSpecFromKeras, buildBackbone, type BackboneSpec } from './backbone.js';
import { readKerasWeights } from './keras-h5.js';
import { writePack } from './pack-writer.js';
import { TEMPORAL_INPUT, TEMPORAL_PROBS, buildTemporal, temporalSpecFromKeras, type TemporalSpec } from './temporal.js';
import { TorchWeightSource, backboneSpecFromTorch, temporalSpecFromTorch } from './torch-weights.js';
import { KerasWeightSource, type WeightSource } from './weights.js';

export interface ImportEmoAffectNetOptions {
  /** Path of the backbone `.h5` or `.pt` (e.g. weights_0_66_49_wo_gl.h5, FER_static_ResNet50_AffectNet.pt). */
  readonly backbone: string;
  /** Paths of LSTM `.h5`/`.pt` files (e.g. RAVDESS_with_config.h5, FER_dinamic_LSTM_RAVDESS.pt); one pack each. */
  readonly temporal?: readonly string[];
  /** Folder that receives one sub-folder per pack. */
  readonly out: string;
  /** Resize recorded in the manifest: nearest (the real-time script, default) or area (offline). */
  readonly resize?: 'nearest' | 'area';
}

export interface ImportedPack {
  readonly dir: string;
  readonly manifest: PackManifest;
}

export const EMO_AFFECTNET_LICENCE =
  'EMO-AffectNet (Ryumina, Dresvyanskiy, Karpov, Neurocomputing 2022): code MIT; the weights are "for scientific usage only" ' +
  '(see ElenaRyumina/EMO-AffectNetModel). Obtained by the user from the authors and imported locally.';

/** Builds one pack per LSTM (or one backbone-only pack) under `options.out`. */
export async function importEmoAffectNet(options: ImportEmoAffectNetOptions): Promise<ImportedPack[]> {
  const { weights: backboneWeights, spec: backboneSpec } = await openBackbone(options.backbone);
  const backboneBytes = buildBackbone(backboneWeights, backboneSpec);
  const backboneName = basename(options.backbone);
  const backbone = {
    bytes: backboneBytes,
    input: { name: BACKBONE_INPUT, shape: [-1, BACKBONE_INPUT_SIZE, BACKBONE_INPUT_SIZE, 3] },
    layout: 'NHWC' as const,
    featuresOutput: { name: BACKBONE_FEATURES, size: backboneSpec.features },
    probsOutput: BACKBONE_PROBS,
    resize: options.resize ?? 'nearest',
  };

  const temporalFiles = options.temporal ?? [];
  if (temporalFiles.length === 0) {
    const name = `emo-affectnet-${slug(stem(backboneName))}`;
    const dir = join(options.out, name);
    const manifest = await writePack(dir, {
      name,
      description: `EMO-AffectNet backbone ${backboneName} (static model only)`,
      trained: true,
      licence: EMO_AFFECTNET_LICENCE,
      source: backboneName,
      backbone,
    });
    return [{ dir, manifest }];
  }

  const packs: ImportedPack[] = [];
  for (const file of temporalFiles) {
    const { weights: temporalWeights, spec: temporalSpec, masking } = await openTemporal(file);
    if (temporalSpec.features !== backboneSpec.features) {
      throw new Error(`${basename(file)}: its LSTM reads ${temporalSpec.features}-d features, but ${backboneName} produces ${backboneSpec.features}-d features`);
    }
    const corpus = stem(basename(file)).replace(/_with_config$/i, '').replace(/^FER_dinamic_LSTM_/i, '');
    const name = `emo-affectnet-${slug(corpus)}`;
    const dir = join(options.out, name);
    const manifest = await writePack(dir, {
      name,
      description: `EMO-AffectNet: backbone ${backboneName} + LSTM ${basename(file)} (trained leaving ${corpus} out)`,
      trained: true,
      licence: EMO_AFFECTNET_LICENCE,
      source: `${backboneName}, ${basename(file)}`,
      backbone,
      temporal: {
        bytes: buildTemporal(temporalWeights, temporalSpec, { masking }),
        input: { name: TEMPORAL_INPUT, shape: [-1, temporalSpec.window, temporalSpec.features] },
        windowLength: temporalSpec.window,
        probsOutput: TEMPORAL_PROBS,
      },
    });
    packs.push({ dir, manifest });
  }
  return packs;
}

type WeightsKind = 'keras' | 'torch';

/** Keras `.h5` files are HDF5; anything else is handed to the PyTorch reader, which names what it is not. */
async function weightsKind(path: string): Promise<WeightsKind> {
  const head = Buffer.alloc(8);
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.read(head, 0, 8, 0);
  } catch (error) {
    throw new Error(`${basename(path)}: file not found or unreadable (${path})`, { cause: error });
  } finally {
    await handle?.close();
  }
  return head.equals(Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])) ? 'keras' : 'torch';
}

async function openBackbone(path: string): Promise<{ weights: WeightSource; spec: BackboneSpec }> {
  if ((await weightsKind(path)) === 'keras') {
    const weights = new KerasWeightSource(await readKerasWeights(path));
    return { weights, spec: backboneSpecFromKeras(weights) };
  }
  const weights = new TorchWeightSource(await readTorchCheckpoint(path), 'backbone');
  return { weights, spec: backboneSpecFromTorch(weights) };
}

async function openTemporal(path: string): Promise<{ weights: WeightSource; spec: TemporalSpec; masking: boolean }> {
  if ((await weightsKind(path)) === 'keras') {
    const weights = new KerasWeightSource(await readKerasWeights(path));
    return { weights, spec: temporalSpecFromKeras(weights, windowLengthFromConfig(weights, path)), masking: true };
  }
  const weights = new TorchWeightSource(await readTorchCheckpoint(path), 'temporal');
  return { weights, spec: temporalSpecFromTorch(weights), masking: false };
}

/**
 * The window length from a whole-model file's config (its InputLayer's batch_input_shape), and
 * a check that its LSTMs use the activations the ONNX graph assumes; 10 when there is no config.
 */
function windowLengthFromConfig(source: KerasWeightSource, file: string): number {
  const config = source.modelConfig as { config?: { layers?: { class_name?: string; config?: Record<string, unknown> }[] } } | undefined;
  const layers = config?.config?.layers ?? [];
  for (const layer of layers) {
    if (layer.class_name === 'LSTM') {
      const activation = layer.config?.['activation'];
      const recurrent = layer.config?.['recurrent_activation'];
      if (activation !== 'tanh' || recurrent !== 'sigmoid') {
        throw new Error(`${basename(file)}: LSTM uses activation=${String(activation)}, recurrent_activation=${String(recurrent)}; only tanh/sigmoid (Keras 2 defaults) are supported`);
      }
    }
  }
  const input = layers.find((l) => l.class_name === 'InputLayer')?.config?.['batch_input_shape'];
  return Array.isArray(input) && typeof input[1] === 'number' ? input[1] : 10;
}

function stem(file: string): string {
  return file.replace(/\.[^.]+$/, '');
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}
