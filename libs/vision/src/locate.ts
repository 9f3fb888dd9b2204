import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { envBoolean, fromEnv, packageDir } from '@emostream/shared';
import { MANIFEST_FILE, PackError } from './pack.js';

/** `models/` at the repository root, where `npm run models` and `emo models build` put packs. */
export const DEFAULT_MODELS_DIR = path.resolve(packageDir(import.meta.url), '../../models');

/** Which pack a model-using stage runs, and how. */
export const modelSettingsSchema = z
  .object({
    pack: fromEnv('EMOSTREAM_PACK', z.string().min(1).default('default').describe('Pack name (a folder of the models dir) or path.')),
    modelsDir: fromEnv('EMOSTREAM_MODELS_DIR', z.string().default(DEFAULT_MODELS_DIR).describe('Folder of named packs.'), {
      shownDefault: 'models/ at the repository root',
    }),
    executionProvider: fromEnv(
      'EMOSTREAM_EXECUTION_PROVIDER',
      z.enum(['cpu', 'cuda']).default('cpu').describe('cpu, or cuda (falls back to cpu with a warning).'),
    ),
    intraOpThreads: fromEnv(
      'EMOSTREAM_INTRA_OP_THREADS',
      z.coerce
        .number()
        .int()
        .min(0)
        .default(0)
        .describe(
          "Threads per operator (0 = onnxruntime decides: one per core, or the CPUs this process may use where fewer: a container's CPU limit, a CPU set).",
        ),
    ),
    spinWait: fromEnv(
      'EMOSTREAM_ORT_SPIN_WAIT',
      envBoolean.default(false).describe("Let onnxruntime's threads spin between runs (only worth it on cores of their own)."),
    ),
    warmUp: fromEnv('EMOSTREAM_MODEL_WARM_UP', envBoolean.default(true).describe('Run each model once at start.')),
    inferenceThread: fromEnv(
      'EMOSTREAM_INFERENCE_THREAD',
      envBoolean.default(true).describe('Run each model in a worker thread of its own.'),
    ),
  })
  .strict();
export type ModelSettings = z.infer<typeof modelSettingsSchema>;

/** A stage's model settings as the options of its onnxruntime sessions (the same names, less the pack's whereabouts). */
export function sessionOptionsOf(settings: ModelSettings) {
  const { executionProvider, intraOpThreads, spinWait, warmUp, inferenceThread } = settings;
  return { executionProvider, intraOpThreads, spinWait, warmUp, inferenceThread };
}

/** The folder of a pack given by name or path; fails with what to do when there is none. */
export function resolvePackDir(pack: string, modelsDir: string = DEFAULT_MODELS_DIR): string {
  for (const candidate of [path.resolve(pack), path.join(modelsDir, pack)]) {
    if (existsSync(path.join(candidate, MANIFEST_FILE))) return candidate;
  }
  const hints: Record<string, string> = {
    default: ' (run `npm run models` to build it)',
    synthetic: ' (run `emo models build synthetic`)',
    'emo-affectnet':
      ' (import the EMO-AffectNet Keras weights: `emo models import emo-affectnet --backbone <backbone.h5> --temporal <lstm.h5>`; see the README, Model packs)',
  };
  const hint = hints[pack] ?? '';
  const there = packsIn(modelsDir);
  const available = there.length > 0 ? `; packs in ${modelsDir}: ${there.join(', ')}` : `; ${modelsDir} holds no pack`;
  throw new PackError(
    pack,
    `not found: neither ${path.resolve(pack)} nor ${path.join(modelsDir, pack)} holds a ${MANIFEST_FILE}${hint}${available}`,
  );
}

/** The names of the packs (folders with a manifest) in a models folder. */
export function packsIn(modelsDir: string): string[] {
  try {
    return readdirSync(modelsDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(path.join(modelsDir, entry.name, MANIFEST_FILE)))
      .map((entry) => entry.name)
      .sort();
  } catch {
    return [];
  }
}
