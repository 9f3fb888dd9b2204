import { z } from 'zod';
import { type EnvBinding, envBindingsOf, runtimeConfigSchema } from '@emostream/shared';
import { modelSettingsSchema } from '@emostream/vision';

export const backboneConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    model: modelSettingsSchema.default({}),
    backbone: z
      .object({
        maxBatch: z.coerce.number().int().min(1).default(32).describe('Most faces per model call. Env BACKBONE_MAX_BATCH.'),
        maxWaitMs: z.coerce
          .number()
          .int()
          .min(0)
          .default(0)
          .describe(
            'Longest a model call that is not full waits for more faces (0 = none: a call starts once the model is free, and faces that arrive meanwhile go in the next). Env BACKBONE_MAX_WAIT_MS.',
          ),
        concurrentPartitions: z.coerce
          .number()
          .int()
          .min(1)
          .default(4)
          .describe('Partitions handled at once so one model call spans them. Env BACKBONE_CONCURRENT_PARTITIONS.'),
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

/** Its environment variables, read from the schema (each field's description names its variable). */
export const backboneEnvBindings: EnvBinding[] = envBindingsOf(backboneConfigSchema);
