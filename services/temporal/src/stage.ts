import type { StageDefinition, topics } from '@emostream/shared';
import type { LoadedPack, PackManifest } from '@emostream/vision';
import type { z } from 'zod';
import type { temporalConfigSchema } from './config.js';
import { temporalStage } from './handler.js';
import { packTemporal, type TemporalModel } from './temporal-model.js';

/** What the temporal stage is given rather than reading it from its config. */
export interface TemporalStageDeps {
  /** The pack holding the LSTM (if it has one): loaded (the service) or still loading (`emo run`), as for the backbone. */
  pack: LoadedPack | Promise<LoadedPack>;
  /** The pack's manifest: whether there is an LSTM, and its window, are known before the pack has loaded. */
  manifest: PackManifest;
}

/** The temporal stage as the service and `emo run` both run it: the pack's LSTM (or the static fallback) with the `temporal` section. */
export function buildStage(
  config: Pick<z.infer<typeof temporalConfigSchema>, 'temporal'> & { runtime?: { maxBatchSize: number } },
  deps: TemporalStageDeps,
): StageDefinition<typeof topics.embeddings.schema> {
  return temporalStage({
    model: temporalModelOf(deps),
    ...config.temporal,
    // A batch redelivered upstream repeats up to that stage's batch of one stream's frames.
    ...(config.runtime ? { historyFrames: config.runtime.maxBatchSize + 1 } : {}),
  });
}

/**
 * The pack's LSTM as a TemporalModel, or null when the manifest names none (the static-mean fallback).
 * A pack still loading gives a model whose calls wait for it (and fail as its loading did).
 */
export function temporalModelOf({ pack, manifest }: TemporalStageDeps): TemporalModel | null {
  const spec = manifest.models.temporal;
  if (!spec) return null;
  if (!(pack instanceof Promise)) return packTemporal(pack);
  const model = pack.then((loaded) => packTemporal(loaded)!);
  model.catch(() => undefined); // a failed load is reported once, by whoever awaits the pack
  return {
    windowLength: spec.windowLength,
    predict: async (windows, count, featureSize) => (await model).predict(windows, count, featureSize),
  };
}
