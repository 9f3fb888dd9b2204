import { z } from 'zod';
import { envBindingsOf, fromEnv, loadConfig, type EnvBinding } from './load.js';

/** pino's levels, and `silent`. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The settings of the process as a whole rather than of one stage: read by the logger, the programs
 * the process starts (ffmpeg, Python) and every command, so they sit in no stage's section. Declared
 * like every other setting (`fromEnv`), so the docs and the settings test see them.
 */
export const processSettingsSchema = z
  .object({
    logLevel: fromEnv(
      'EMOSTREAM_LOG_LEVEL',
      z
        .enum(LOG_LEVELS)
        .default('info')
        .describe('Least level logged (fatal, error, warn, info, debug, trace or silent); `emo run` logs warn unless told.'),
    ),
    ffmpegPath: fromEnv(
      'FFMPEG_PATH',
      z
        .string()
        .min(1)
        .default('ffmpeg')
        .describe(
          'The ffmpeg program ingest and `emo run` read sources (and write annotated videos) with: a path, or a name looked up in PATH.',
        ),
    ),
    python: fromEnv(
      'EMOSTREAM_PYTHON',
      z
        .string()
        .min(1)
        .default('python3')
        .describe("The Python 3 that makes the quantizer's virtual environment (emo models quantize, scripts/gpu-check.sh)."),
    ),
  })
  .strict();
export type ProcessSettings = z.infer<typeof processSettingsSchema>;

/** Environment variables of the process settings, as their fields declare them. */
export const processEnvBindings: readonly EnvBinding[] = envBindingsOf(processSettingsSchema);

/**
 * The process settings from the environment alone (not the EMOSTREAM_CONFIG file: the logger reads
 * them while modules load, before any file could be named or checked). Read anew at each call, so a
 * variable set by a test or by `emo` before it loads a service is seen.
 */
export function processSettings(env: NodeJS.ProcessEnv = process.env): ProcessSettings {
  return loadConfig(processSettingsSchema, processEnvBindings, { env, file: '' });
}
