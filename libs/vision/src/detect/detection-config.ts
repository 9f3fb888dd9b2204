// `detection.json` of a pack with several detectors (the default pack): every detector graph,
// with its sha256, and the detection mode chosen by measured recall (one detector, several fused,
// optionally tiled). The manifest's single `detector` role names the primary one; this file says
// how the face stage combines them. Loading checks every file's sha256 like readPack does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { modelFileSha256, PackError } from '../pack.js';
import { ModelSession, type SessionConfig } from '../session.js';
import { detectFused, type DetectorModel, type TilingOptions } from './detector.js';
import type { RgbImage } from '../preprocess.js';
import type { Detection } from './nms.js';

export const DETECTION_FILE = 'detection.json';

const DetectorEntrySchema = z
  .object({
    file: z.string().min(1).describe('ONNX file in the pack folder; input `image` [N,S,S,3] RGB 0–255, outputs `boxes`, `scores`'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    inputSize: z.number().int().positive().describe('S: side of the square input'),
    minScore: z.number().min(0).max(1).describe('Boxes scoring at or below this are dropped'),
    iouThreshold: z.number().min(0).max(1).describe("NMS IoU threshold among this detector's boxes"),
    licence: z.string().min(1),
  })
  .strict();

const TilingSchema = z
  .object({
    columns: z.number().int().positive().describe('Tiles across the frame'),
    rows: z.number().int().positive().describe('Tiles down the frame'),
    overlap: z.number().min(0).lt(1).describe('Fraction of a tile shared with its neighbour'),
    minScore: z.number().min(0).max(1).optional().describe("Score threshold for boxes found in tiles (default: the detector's)"),
  })
  .strict();

const PassSchema = z
  .object({
    detector: z.string().min(1).describe('Key in `detectors`'),
    tiling: TilingSchema.optional().describe('Also detect on overlapping tiles (small faces in wide views)'),
  })
  .strict();

export const DetectionConfigSchema = z
  .object({
    schemaVersion: z.literal(1),
    detectors: z.record(z.string(), DetectorEntrySchema),
    mode: z
      .object({
        name: z.string().min(1).describe('Name of the mode, as the recall table calls it'),
        passes: z.array(PassSchema).min(1).describe('Detectors run on each frame; their boxes are merged by NMS'),
      })
      .strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    for (const [i, pass] of c.mode.passes.entries()) {
      if (!(pass.detector in c.detectors))
        ctx.addIssue({ code: 'custom', path: ['mode', 'passes', i, 'detector'], message: `unknown detector "${pass.detector}"` });
    }
  });
export type DetectionConfig = z.infer<typeof DetectionConfigSchema>;

/** Reads and checks `dir/detection.json` and the sha256 of every detector file it names. */
export async function readDetectionConfig(dir: string, pack = dir): Promise<DetectionConfig> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(join(dir, DETECTION_FILE), 'utf8'));
  } catch (error) {
    throw new PackError(pack, `${DETECTION_FILE} cannot be read: ${String(error)}`, { cause: error });
  }
  const parsed = DetectionConfigSchema.safeParse(json);
  if (!parsed.success) {
    throw new PackError(
      pack,
      `${DETECTION_FILE} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  for (const [name, d] of Object.entries(parsed.data.detectors)) {
    let actual: string;
    try {
      actual = await modelFileSha256(join(dir, d.file));
    } catch (error) {
      throw new PackError(pack, `detector ${name} file ${d.file} is missing`, { cause: error });
    }
    if (actual !== d.sha256)
      throw new PackError(pack, `detector ${name} file ${d.file} has sha256 ${actual}, ${DETECTION_FILE} says ${d.sha256}`);
  }
  return parsed.data;
}

/** A DetectorModel over an onnxruntime session of a `boxes` + `scores` detector graph. */
export function sessionDetector(name: string, session: ModelSession, entry: z.infer<typeof DetectorEntrySchema>): DetectorModel {
  const S = entry.inputSize;
  return {
    name,
    inputSize: S,
    minScore: entry.minScore,
    iouThreshold: entry.iouThreshold,
    async run(image) {
      // Each frame's input is made for this call (squareResize): handed to the model's thread, not copied (3 MB at 512²).
      const out = await session.run({ image: { data: image, dims: [1, S, S, 3] } }, { transferInputs: true });
      const { boxes, scores } = out as Record<string, { data: Float32Array }>;
      if (!boxes || !scores) throw new Error(`detector ${name} did not return boxes and scores`);
      return { boxes: boxes.data, scores: scores.data };
    },
  };
}

/**
 * Opens the sessions of the detectors the config's mode runs. The others stay closed: each session
 * is a worker thread with its own memory and warm-up (the default pack's fused mode runs two of its
 * four detectors).
 */
export async function openDetectors(
  dir: string,
  config: DetectionConfig,
  session: Partial<SessionConfig> = {},
): Promise<Map<string, DetectorModel>> {
  const models = new Map<string, DetectorModel>();
  const used = new Set(config.mode.passes.map((p) => p.detector));
  for (const [name, entry] of Object.entries(config.detectors)) {
    if (!used.has(name)) continue;
    const s = await ModelSession.create(join(dir, entry.file), session, { label: `detector/${name}` });
    models.set(name, sessionDetector(name, s, entry));
  }
  return models;
}

/** The passes of the config's mode, ready for detectFused. */
export function modePasses(
  config: DetectionConfig,
  models: Map<string, DetectorModel>,
): { model: DetectorModel; tiling?: TilingOptions | undefined }[] {
  return config.mode.passes.map((p) => {
    const model = models.get(p.detector);
    if (!model) throw new Error(`detector ${p.detector} is not open`);
    return { model, tiling: p.tiling };
  });
}

/** A pack's detectors in its chosen mode, behind one call: a frame in, face corners out. */
export interface PackFaceDetector {
  readonly mode: string;
  detect(frame: RgbImage): Promise<Detection[]>;
}

/**
 * Reads `dir/detection.json` (checking every file's sha256), opens its detectors and returns the
 * configured mode as one detector; this is what the face stage's `FaceDetector` needs.
 */
export async function openPackFaceDetector(dir: string, session: Partial<SessionConfig> = {}): Promise<PackFaceDetector> {
  const config = await readDetectionConfig(dir);
  const passes = modePasses(config, await openDetectors(dir, config, session));
  return { mode: config.mode.name, detect: (frame) => detectFused(passes, frame) };
}
