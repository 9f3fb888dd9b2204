import { z } from 'zod';
import { nestBindings, runtimeConfigSchema, runtimeEnvBindings, type EnvBinding } from '@emostream/shared';

export const ingestSettingsSchema = z
  .object({
    jpegQuality: z.coerce.number().int().min(1).max(100).default(85).describe('JPEG quality of published frames, 1–100. Env INGEST_JPEG_QUALITY.'),
    maxWidth: z.coerce
      .number()
      .int()
      .min(0)
      .default(1920)
      .describe(
        'Frames wider than this are scaled down for transport (0 keeps the size). Boxes stay in the source\'s pixels and the face stage detects at its own size; 1920 keeps 1080p cameras whole (a downscale plus JPEG can cost marginal faces). Env INGEST_MAX_WIDTH.',
      ),
    liveSampleFps: z.coerce.number().positive().max(60).default(5).describe('Sampling rate of live sources, frames/s. Env INGEST_LIVE_SAMPLE_FPS.'),
    connectTimeoutMs: z.coerce.number().int().positive().default(10_000).describe('Time to open a live source. Env INGEST_CONNECT_TIMEOUT_MS.'),
    readTimeoutMs: z.coerce.number().int().positive().default(10_000).describe('A live source silent this long counts as disconnected. Env INGEST_READ_TIMEOUT_MS.'),
    reconnectInitialMs: z.coerce.number().int().positive().default(500).describe('First reconnect delay; doubles per failure. Env INGEST_RECONNECT_INITIAL_MS.'),
    reconnectMaxMs: z.coerce.number().int().positive().default(30_000).describe('Longest reconnect delay. Env INGEST_RECONNECT_MAX_MS.'),
  })
  .strict();
export type IngestSettings = z.infer<typeof ingestSettingsSchema>;

export const ingestConfigSchema = z.object({ runtime: runtimeConfigSchema, ingest: ingestSettingsSchema.default({}) }).strict();
export type IngestConfig = z.infer<typeof ingestConfigSchema>;

export const ingestEnvBindings: EnvBinding[] = [
  ...nestBindings('runtime', runtimeEnvBindings),
  { env: 'INGEST_JPEG_QUALITY', path: 'ingest.jpegQuality' },
  { env: 'INGEST_MAX_WIDTH', path: 'ingest.maxWidth' },
  { env: 'INGEST_LIVE_SAMPLE_FPS', path: 'ingest.liveSampleFps' },
  { env: 'INGEST_CONNECT_TIMEOUT_MS', path: 'ingest.connectTimeoutMs' },
  { env: 'INGEST_READ_TIMEOUT_MS', path: 'ingest.readTimeoutMs' },
  { env: 'INGEST_RECONNECT_INITIAL_MS', path: 'ingest.reconnectInitialMs' },
  { env: 'INGEST_RECONNECT_MAX_MS', path: 'ingest.reconnectMaxMs' },
];
