import { z } from 'zod';
import { type EnvBinding, envBindingsOf, runtimeConfigSchema } from '@emostream/shared';
import { modelSettingsSchema } from '@emostream/vision';

export const temporalConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    model: modelSettingsSchema.default({}),
    temporal: z
      .object({
        windowLength: z.coerce
          .number()
          .int()
          .min(1)
          .default(10)
          .describe("Window of the static fallback when the pack has no LSTM (the LSTM's own length wins). Env TEMPORAL_WINDOW_LENGTH."),
        trackTtlMs: z.coerce
          .number()
          .int()
          .positive()
          .default(2_000)
          .describe('A track unseen this long (media time) ends. Env TEMPORAL_TRACK_TTL_MS.'),
        replayRecords: z.coerce
          .number()
          .int()
          .min(0)
          .default(2_000)
          .describe('Records per partition re-read on assignment to rebuild windows. Env TEMPORAL_REPLAY_RECORDS.'),
      })
      .strict()
      .default({}),
  })
  .strict();

/** Its environment variables, read from the schema (each field's description names its variable). */
export const temporalEnvBindings: EnvBinding[] = envBindingsOf(temporalConfigSchema);
