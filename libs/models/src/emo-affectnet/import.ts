/**
 * Imports the authors' published Keras weights into model packs.
 *
 * The user downloads the files from the authors' links (ElenaRyumina/EMO-AffectNetModel; MIT
 * code, weights "for scientific usage only"); this project never downloads them. One backbone
 * (e.g. `weights_0_66_49_wo_gl.h5`) and any number of LSTMs (e.g. `RAVDESS_with_config.h5`) give
 * one pack per LSTM, each with its own copy of the backbone so that every pack folder stands alone.
 * With no LSTM, one backbone-only pack is written.
 */
import { basename, join } from 'node:path';
import type { PackManifest } from '@emostream/shared';
import { BACKBONE_FEATURES, BACKBONE_INPUT, BACKBONE_INPUT_SIZE, BACKBONE_PROBS, backboneSpecFromKeras, buildBackbone } from './backbone.js';
import { readKerasWeights } from './keras-h5.js';
import { writePack } from './pack-writer.js';
import { TEMPORAL_INPUT, TEMPORAL_PROBS, buildTemporal, temporalSpecFromKeras } from './temporal.js';
import { KerasWeightSource } from './weights.js';

export interface ImportEmoAffectNetOptions {
  /** Path of the backbone `.h5` (e.g. weights_0_66_49_wo_gl.h5). */
  readonly backbone: string;
  /** Paths of LSTM `.h5` files (e.g. RAVDESS_with_config.h5); one pack each. */
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
  const backboneWeights = new KerasWeightSource(await readKerasWeights(options.backbone));
  const backboneSpec = backboneSpecFromKeras(backboneWeights);
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
    const temporalWeights = new KerasWeightSource(await readKerasWeights(file));
    const temporalSpec = temporalSpecFromKeras(temporalWeights, windowLengthFromConfig(temporalWeights, file));
    if (temporalSpec.features !== backboneSpec.features) {
      throw new Error(`${basename(file)}: its LSTM reads ${temporalSpec.features}-d features, but ${backboneName} produces ${backboneSpec.features}-d features`);
    }
    const corpus = stem(basename(file)).replace(/_with_config$/i, '');
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
        bytes: buildTemporal(temporalWeights, temporalSpec),
        input: { name: TEMPORAL_INPUT, shape: [-1, temporalSpec.window, temporalSpec.features] },
        windowLength: temporalSpec.window,
        probsOutput: TEMPORAL_PROBS,
      },
    });
    packs.push({ dir, manifest });
  }
  return packs;
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
