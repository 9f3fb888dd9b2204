import { z } from 'zod';
import { DEFAULT_REPLAY_RECORDS, type EnvBinding, envBindingsOf, fromEnv, runtimeConfigSchema } from '@emostream/shared';
import { modelSettingsSchema } from '@emostream/vision';
import { REFERENCE_WINDOW_LENGTH } from './offline-windows.js';

/** The temporal stage's own settings: the section its handler takes as it is parsed. */
export const temporalSettingsSchema = z
  .object({
    windowLength: fromEnv(
      'TEMPORAL_WINDOW_LENGTH',
      z.coerce
        .number()
        .int()
        .min(1)
        .default(REFERENCE_WINDOW_LENGTH)
        .describe("Window of the static fallback when the pack has no LSTM (the LSTM's own length wins)."),
    ),
    trackTtlMs: fromEnv(
      'TEMPORAL_TRACK_TTL_MS',
      z.coerce
        .number()
        .int()
        .positive()
        .default(2_000)
        .describe(
          "A track whose window got nothing for this long, in media time (ptsMs) of its own stream, ends. Keep it above the face tracker's maxMisses × the sampling interval, or tracks end here before the tracker ends them.",
        ),
    ),
    replayRecords: fromEnv(
      'TEMPORAL_REPLAY_RECORDS',
      z.coerce
        .number()
        .int()
        .min(0)
        .default(DEFAULT_REPLAY_RECORDS)
        .describe('Records per partition re-read on assignment to rebuild windows.'),
    ),
  })
  .strict();
export type TemporalSettings = z.infer<typeof temporalSettingsSchema>;

export const temporalConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    model: modelSettingsSchema.default({}),
    temporal: temporalSettingsSchema.default({}),
  })
  .strict();
export type TemporalConfig = z.infer<typeof temporalConfigSchema>;

/** Its environment variables, as its fields declare them (`fromEnv`). */
export const temporalEnvBindings: EnvBinding[] = envBindingsOf(temporalConfigSchema);
