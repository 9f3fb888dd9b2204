import { z } from 'zod';
import { type EnvBinding, envBindingsOf, fromEnv, runtimeConfigSchema } from '@emostream/shared';
import { modelSettingsSchema } from '@emostream/vision';

/** The backbone stage's own settings: the section its handler takes as it is parsed. */
export const backboneSettingsSchema = z
  .object({
    maxBatch: fromEnv('BACKBONE_MAX_BATCH', z.coerce.number().int().min(1).default(32).describe('Most faces per model call.')),
    maxWaitMs: fromEnv(
      'BACKBONE_MAX_WAIT_MS',
      z.coerce
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          'Longest a model call that is not full waits for more faces (0 = none: a call starts once the model is free, and faces that arrive meanwhile go in the next).',
        ),
    ),
    concurrentPartitions: fromEnv(
      'BACKBONE_CONCURRENT_PARTITIONS',
      z.coerce.number().int().min(1).default(4).describe('Partitions handled at once so one model call spans them.'),
    ),
    maxFrameAgeMs: fromEnv(
      'BACKBONE_MAX_FRAME_AGE_MS',
      z.coerce.number().int().min(0).default(0).describe('Live freshness: skip frames captured longer ago (0 = off; keep off for files).'),
    ),
  })
  .strict();
export type BackboneSettings = z.infer<typeof backboneSettingsSchema>;

export const backboneConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    model: modelSettingsSchema.default({}),
    backbone: backboneSettingsSchema.default({}),
  })
  .strict();

export type BackboneConfig = z.infer<typeof backboneConfigSchema>;

/** Its environment variables, as its fields declare them (`fromEnv`). */
export const backboneEnvBindings: EnvBinding[] = envBindingsOf(backboneConfigSchema);
