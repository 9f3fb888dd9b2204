import type { StageDefinition, topics } from '@emostream/shared';
import type { LoadedPack, PackManifest } from '@emostream/vision';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import { packBackbone, type BackboneModel } from './backbone-model.js';
import type { backboneConfigSchema } from './config.js';
import { backboneStage } from './handler.js';
import { BackboneMetrics } from './metrics.js';

/** What the backbone stage is given rather than reading it from its config. */
export interface BackboneStageDeps {
  /**
   * The pack holding the backbone session: loaded (the service), or still loading (`emo run` starts the
   * stages meanwhile; the first model call waits for it and fails as its loading did).
   */
  pack: LoadedPack | Promise<LoadedPack>;
  /** The pack's manifest: the crops' input size is known before the pack has loaded. */
  manifest: PackManifest;
  /** Where its metrics go. */
  registry: Registry;
}

/** The backbone stage as the service and `emo run` both run it: the pack's backbone with the `backbone` section's batching. */
export function buildStage(
  config: Pick<z.infer<typeof backboneConfigSchema>, 'backbone'>,
  deps: BackboneStageDeps,
): StageDefinition<typeof topics.faces.schema> {
  return backboneStage({ model: backboneOf(deps), ...config.backbone, metrics: new BackboneMetrics(deps.registry) });
}

function backboneOf({ pack, manifest }: BackboneStageDeps): BackboneModel {
  if (!(pack instanceof Promise)) return packBackbone(pack);
  const model = pack.then(packBackbone);
  model.catch(() => undefined); // a failed load is reported once, by whoever awaits the pack
  return { inputSize: manifest.models.backbone.preprocessing.inputSize, embed: async (crops) => (await model).embed(crops) };
}
