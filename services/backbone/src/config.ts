import { z } from 'zod';
import { modelEnvBindings, modelSettingsSchema, nestBindings, runtimeConfigSchema, runtimeEnvBindings } from '@emostream/shared';

export const backboneConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    model: modelSettingsSchema.default({}),
    backbone: z
      .object({
        maxBatch: z.coerce.number().int().min(1).default(32).describe('Most faces per model call. Env BACKBONE_MAX_BATCH.'),
        maxWaitMs: z.coerce.number().int().min(0).default(10).describe('Longest wait for a model call to fill. Env BACKBONE_MAX_WAIT_MS.'),
        maxFrameAgeMs: z.coerce
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('Live freshness: skip frames captured longer ago (0 = off; keep off for files). Env BACKBONE_MAX_FRAME_AGE_MS.'),
      })
      .strict()
      .default({}),
  })
  .strict();

export const backboneEnvBindings = [
  ...nestBindings('runtime', runtimeEnvBindings),
  ...modelEnvBindings('model'),
  { env: 'BACKBONE_MAX_BATCH', path: 'backbone.maxBatch' },
  { env: 'BACKBONE_MAX_WAIT_MS', path: 'backbone.maxWaitMs' },
  { env: 'BACKBONE_MAX_FRAME_AGE_MS', path: 'backbone.maxFrameAgeMs' },
];
