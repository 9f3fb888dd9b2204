import { loadConfig } from '@emostream/shared';
import { backboneConfigSchema, backboneEnvBindings } from '@emostream/backbone';
import { faceConfigSchema, faceEnvBindings } from '@emostream/face';
import { temporalConfigSchema, temporalEnvBindings } from '@emostream/temporal';

/**
 * The stages' settings in `emo run`, read from the environment (and EMOSTREAM_CONFIG) exactly as
 * `emo serve <stage>` reads them: the same schemas and variables (FACE_*, BACKBONE_*, TEMPORAL_*), so
 * detection and tracking are tuned the same way for both. What differs in one process: the bus (the
 * in-memory one) and, unless FACE_CROP_ENCODING says otherwise, crops as raw RGB (no JPEG round trip
 * between two stages of the same process).
 */
export function stageSettingsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const rawCrops = env.FACE_CROP_ENCODING ? {} : { face: { cropEncoding: 'rgb8' } };
  const inProcess = { env, overrides: { runtime: { bus: 'memory' } } };
  const faceInProcess = { env, overrides: { runtime: { bus: 'memory' }, ...rawCrops } };
  return {
    face: loadConfig(faceConfigSchema, faceEnvBindings, faceInProcess),
    backbone: loadConfig(backboneConfigSchema, backboneEnvBindings, inProcess).backbone,
    temporal: loadConfig(temporalConfigSchema, temporalEnvBindings, inProcess).temporal,
  };
}
export type StageSettings = ReturnType<typeof stageSettingsFromEnv>;
