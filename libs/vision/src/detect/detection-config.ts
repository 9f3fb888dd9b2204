// `detection.json` of a pack with several detectors (the default pack): every detector graph,
// with its sha256, and the detection mode chosen by measured recall (one detector, several fused,
// optionally tiled). The manifest's single `detector` role names the primary one; this file says
// how the face stage combines them. Loading checks every file's sha256 like readPack does.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { usableCpus } from '@emostream/shared';
import { modelFileSha256, PackError } from '../pack.js';
import { ModelSession, type SessionConfig } from '../session.js';
import {
  detectFrame,
  detectTiled,
  mapBox,
  mergeDetections,
  type BoxTransform,
  type DetectorModel,
  type TilingOptions,
} from './detector.js';
import {
  detectAtFaceSize,
  detectWholeAtFaceSize,
  detectWholeAtSide,
  scaleFrame,
  unscale,
  type FaceSizeTiling,
  type FaceSizeWhole,
  type WholeFrame,
} from './face-size.js';
import type { RgbImage } from '../preprocess.js';
import type { Detection } from './nms.js';

export const DETECTION_FILE = 'detection.json';

const DetectorEntrySchema = z
  .object({
    file: z
      .string()
      .min(1)
      .describe('ONNX file in the pack folder; input `image` [N,S,S,3] RGB 0–255 (float32, or uint8 bytes), outputs `boxes`, `scores`'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    inputSize: z.number().int().positive().describe('S: side of the square input (of the letterboxed passes, when anySize)'),
    anySize: z
      .literal(true)
      .optional()
      .describe('The graph also takes an input of any size, [N,H,W,3], its boxes in [0, 1] of W and H (passes with faceSizeWhole)'),
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

const FaceSizeTilingSchema = z
  .object({
    smallestFace: z.number().positive().describe("Smallest face, in the detector's input pixels, it finds reliably"),
    overlap: z.number().min(0).max(0.5).describe('Fraction of a tile shared with its neighbour'),
  })
  .strict();

const FaceSizeWholeSchema = z
  .object({
    smallestFace: z.number().positive().describe("Smallest face, in the detector's input pixels, it finds reliably"),
  })
  .strict();

const WholeFrameSchema = z
  .object({
    longerSide: z.number().int().positive().describe('Longer side, in pixels, the frame is scaled down to (never enlarged)'),
  })
  .strict();

const BoxTransformSchema = z
  .object({
    dx: z.number().describe('Centre shift right, in box widths'),
    dy: z.number().describe('Centre shift down, in box heights'),
    sw: z.number().positive().describe('Width ratio'),
    sh: z.number().positive().describe('Height ratio'),
  })
  .strict();

const PassSchema = z
  .object({
    detector: z.string().min(1).describe('Key in `detectors`'),
    minScore: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Boxes scoring at or below this are dropped in this pass (default: the detector's minScore)"),
    tiling: TilingSchema.optional().describe('Also detect on a fixed grid of overlapping tiles (small faces in wide views)'),
    faceSizeTiling: FaceSizeTilingSchema.optional().describe(
      'See the frame at the scale that brings the minimum face size (FACE_MIN_SIZE) to smallestFace: whole, or in overlapping tiles when it is larger than the input at that scale',
    ),
    maxFrameSide: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Run this pass only on frames whose longer side is at most this many pixels (default: on every frame)'),
    minFrameSide: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Run this pass only on frames whose longer side is at least this many pixels (default: on every frame)'),
    boxTransform: BoxTransformSchema.optional().describe(
      "Maps this pass's boxes to the box shape the expression net was made for (face-api's SSD), fitted by libs/models/scripts/box-mapping.ts",
    ),
    faceSizeWhole: FaceSizeWholeSchema.optional().describe(
      'See the whole frame in one pass at the scale that brings the minimum face size (FACE_MIN_SIZE) to smallestFace, as the frame is (a detector with anySize)',
    ),
    wholeFrame: WholeFrameSchema.optional().describe(
      'See the whole frame scaled down (Lanczos) so its longer side is at most longerSide, in one pass of that size (a detector with anySize): faces too large for the face-size pass, cheaply',
    ),
  })
  .strict()
  .refine((p) => [p.tiling, p.faceSizeTiling, p.faceSizeWhole, p.wholeFrame].filter(Boolean).length <= 1, {
    message: 'a pass has at most one of tiling, faceSizeTiling, faceSizeWhole and wholeFrame',
  });

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
      else if ((pass.faceSizeWhole || pass.wholeFrame) && !c.detectors[pass.detector]!.anySize)
        ctx.addIssue({
          code: 'custom',
          path: ['mode', 'passes', i, pass.faceSizeWhole ? 'faceSizeWhole' : 'wholeFrame'],
          message: `detector "${pass.detector}" takes only its ${c.detectors[pass.detector]!.inputSize}² input (no anySize): it cannot see a whole frame at its own size`,
        });
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
  // The graph takes the RGB bytes (uint8, cast inside it: the default pack's RetinaFace) or floats 0–255.
  const takesBytes = session.inputs.find((i) => i.name === 'image')?.dtype === 'uint8';
  const call = async (data: Float32Array | Uint8Array, dims: number[], transferInputs: boolean) => {
    const out = await session.run({ image: { data, dims } }, { transferInputs });
    const { boxes, scores } = out as Record<string, { data: Float32Array }>;
    if (!boxes || !scores) throw new Error(`detector ${name} did not return boxes and scores`);
    return { boxes: boxes.data, scores: scores.data };
  };
  return {
    name,
    inputSize: S,
    minScore: entry.minScore,
    iouThreshold: entry.iouThreshold,
    // Each frame's input is made for this call (squareResize): handed to the model's thread, not copied
    // (3 MB at 512²). A bytes graph gets it rounded (the typed-array conversion, native: a mapping
    // function per value took ~0.1 s at 640²), exact where the resize falls on whole pixels.
    run: (image) => call(takesBytes ? new Uint8Array(new Uint8ClampedArray(image).buffer) : image, [1, S, S, 3], true),
    ...(entry.anySize && {
      // The bytes may be the frame itself, still to be cropped, and a view of a larger buffer (which
      // posting the view would copy whole): the model's thread is handed a copy of just the view
      // (`new Uint8Array`: a Buffer's own slice() would be a view, and handing it over would detach
      // the frame), or for a float graph its float copy (4 bytes a value).
      runAnySize: (image: Uint8Array, width: number, height: number) =>
        call(takesBytes ? new Uint8Array(image) : Float32Array.from(image), [1, height, width, 3], true),
    }),
  };
}

/** The detectors a mode runs, by name, and how to close their sessions. */
export interface OpenDetectors {
  models: Map<string, DetectorModel>;
  /** The detectors whose session is open so far. */
  opened(): string[];
  /** Ends every session opened (their threads and memory); a detector never used has none. */
  release(): Promise<void>;
}

/**
 * Opens the sessions of the detectors the config's mode runs, side by side (each loads on a thread of
 * its own). The others stay closed: each session is a worker thread with its own memory and warm-up.
 *
 * A detector run on every frame gets `sessions` sessions, each with its share of the usable CPUs (usableCpus: the cores, or a container's CPU quota)
 * (intraOpThreads, unless the config names a count): frames detected side by side each run on one
 * (the face stage detects DETECT_AHEAD frames ahead). On 2 cores, two single-threaded sessions
 * detected the demo clip's frames in 43 ms a frame and 83 CPU-ms, one session on both cores in 53 ms
 * and 95 CPU-ms (issue 29): one operator split over threads waits on its slowest part.
 *
 * A detector whose every pass runs only on some frame sizes (the default pack's SSD: frames up to
 * 640 px) gets one session, opened on its first such frame: a camera that never sends one never pays
 * for it (~0.25 CPU-s and 22 MB for the SSD). Its file's sha256 was checked at start all the same.
 */
export async function openDetectors(
  dir: string,
  config: DetectionConfig,
  session: Partial<SessionConfig> = {},
  sessions = 1,
): Promise<OpenDetectors> {
  if (!(Number.isInteger(sessions) && sessions >= 1))
    throw new RangeError(`detector sessions ${sessions} must be a whole number, at least 1`);
  const used = [...new Set(config.mode.passes.map((p) => p.detector))];
  const opening: Promise<ModelSession>[] = [];
  const openedNames: string[] = [];
  const open = (name: string, options: Partial<SessionConfig>) => {
    const opened = ModelSession.create(join(dir, config.detectors[name]!.file), options, { label: `detector/${name}` });
    opening.push(opened);
    openedNames.push(name);
    return opened;
  };
  const releaseAll = () =>
    Promise.all(opening.map((s) => s.then((opened) => opened.release()).catch(() => undefined))).then(() => undefined);
  const onlySomeSizes = (name: string) =>
    config.mode.passes.filter((p) => p.detector === name).every((p) => p.maxFrameSide !== undefined || p.minFrameSide !== undefined);
  const perSession = { ...session, intraOpThreads: session.intraOpThreads || Math.max(1, Math.floor(usableCpus() / sessions)) };
  const models = await Promise.all(
    used.map(async (name): Promise<[string, DetectorModel]> => {
      const entry = config.detectors[name]!;
      if (onlySomeSizes(name)) {
        let first: Promise<DetectorModel> | undefined;
        return [name, lazyDetector(name, entry, () => (first ??= open(name, session).then((s) => sessionDetector(name, s, entry))))];
      }
      if (sessions === 1) return [name, sessionDetector(name, await open(name, session), entry)];
      const pool = await Promise.all(Array.from({ length: sessions }, () => open(name, perSession)));
      return [name, pooledDetector(pool.map((s) => sessionDetector(name, s, entry)))];
    }),
  ).catch(async (error: unknown) => {
    await releaseAll();
    throw error;
  });
  return { models: new Map(models), opened: () => [...new Set(openedNames)], release: releaseAll };
}

/** Several sessions of one detector as one: each call goes to the session with the fewest calls in progress. */
function pooledDetector(pool: DetectorModel[]): DetectorModel {
  const inProgress = pool.map(() => 0);
  return delegating(pool[0]!, pool[0]!.runAnySize !== undefined, async (call) => {
    const k = inProgress.indexOf(Math.min(...inProgress));
    inProgress[k]! += 1;
    try {
      return await call(pool[k]!);
    } finally {
      inProgress[k]! -= 1;
    }
  });
}

/** A detector whose session opens on its first call (openDetectors). */
function lazyDetector(name: string, entry: z.infer<typeof DetectorEntrySchema>, open: () => Promise<DetectorModel>): DetectorModel {
  const { inputSize, minScore, iouThreshold } = entry;
  return delegating({ name, inputSize, minScore, iouThreshold }, entry.anySize === true, async (call) => call(await open()));
}

/** A detector of `like`'s name, sizes and thresholds whose runs go to the model `withModel` hands each call. */
function delegating(
  like: Pick<DetectorModel, 'name' | 'inputSize' | 'minScore' | 'iouThreshold'>,
  anySize: boolean,
  withModel: <T>(call: (model: DetectorModel) => Promise<T>) => Promise<T>,
): DetectorModel {
  const { name, inputSize, minScore, iouThreshold } = like;
  return {
    name,
    inputSize,
    minScore,
    iouThreshold,
    run: (image) => withModel((model) => model.run(image)),
    ...(anySize && {
      runAnySize: (image: Uint8Array, width: number, height: number) => withModel((model) => model.runAnySize!(image, width, height)),
    }),
  };
}

/** One pass of a mode: a detector, optionally tiled on a fixed grid or by the minimum face size, or whole at the face size. */
export interface ModePass {
  model: DetectorModel;
  tiling?: TilingOptions | undefined;
  faceSizeTiling?: FaceSizeTiling | undefined;
  faceSizeWhole?: FaceSizeWhole | undefined;
  wholeFrame?: WholeFrame | undefined;
  /** Maps the pass's boxes to the SSD's box shape before they merge with the other passes' boxes. */
  boxTransform?: BoxTransform | undefined;
  /** Runs only on frames whose longer side is at most this (pixels). */
  maxFrameSide?: number | undefined;
  /** Runs only on frames whose longer side is at least this (pixels). */
  minFrameSide?: number | undefined;
}

/** The passes of the config's mode, with their open detectors. */
export function modePasses(config: DetectionConfig, models: Map<string, DetectorModel>): ModePass[] {
  return config.mode.passes.map((p) => {
    const model = models.get(p.detector);
    if (!model) throw new Error(`detector ${p.detector} is not open`);
    // A pass's own threshold: the same session, read with another cut.
    return {
      model: p.minScore === undefined ? model : { ...model, minScore: p.minScore },
      tiling: p.tiling,
      faceSizeTiling: p.faceSizeTiling,
      faceSizeWhole: p.faceSizeWhole,
      wholeFrame: p.wholeFrame,
      boxTransform: p.boxTransform,
      maxFrameSide: p.maxFrameSide,
      minFrameSide: p.minFrameSide,
    };
  });
}

/**
 * Most frame pixels per model-input pixel a fixed-size pass is given. A detector's own input resize
 * samples without smoothing (face-api's bilinear, for parity), so a frame much larger than its input
 * aliases and small faces vanish: the 13-px faces of ../shared/data's corridor clip, enlarged, were
 * lost to BlazeFace's 256-px input. Larger frames are first smoothed down (Lanczos) to this many times
 * the input (× the tile grid when it tiles). At 2 the default pack's SSD sees up to 1024 px, which
 * keeps the selfie's smallest face scoring as it does on the original.
 */
export const MAX_PIXELS_PER_INPUT = 2;

/**
 * Smallest face (frame pixels) detection is planned for when the caller names none: the face stage's
 * FACE_MIN_SIZE default.
 */
export const DEFAULT_MIN_FACE_SIZE = 10;

/** A pack's detectors in its chosen mode, behind one call: a frame in, face corners out. */
export interface PackFaceDetector {
  readonly mode: string;
  /**
   * Faces in `frame` (frame pixels). `minFaceSize`, in frame pixels, plans the passes tiled by face
   * size (default: the one the detector was opened with).
   */
  detect(frame: RgbImage, options?: { minFaceSize?: number }): Promise<Detection[]>;
  /** Ends the detectors' sessions (openPackFaceDetector); nothing to end for a detector of given passes. */
  release(): Promise<void>;
}

/**
 * The one detection path: the face stage, `emo run`, the tests, the tools and the benchmarks all
 * detect through this. Each pass adds only the faces not yet found (mergeDetections); a whole-frame
 * face-size pass sees the frame at the face-size scale in one input of its own size, a tiled
 * face-size pass sees it as planFaceSize says, a fixed-size pass sees it smoothed down to at most
 * MAX_PIXELS_PER_INPUT × its input, so detection sees about the same picture whatever size a camera sends.
 */
export function modeDetector(name: string, passes: readonly ModePass[], defaultMinFaceSize = DEFAULT_MIN_FACE_SIZE): PackFaceDetector {
  return {
    mode: name,
    async detect(frame, options = {}) {
      const minFaceSize = options.minFaceSize ?? defaultMinFaceSize;
      let kept: Detection[] = [];
      for (const { model, tiling, faceSizeTiling, faceSizeWhole, wholeFrame, boxTransform, maxFrameSide, minFrameSide } of passes) {
        const longerSide = Math.max(frame.width, frame.height);
        if (maxFrameSide !== undefined && longerSide > maxFrameSide) continue;
        if (minFrameSide !== undefined && longerSide < minFrameSide) continue;
        let found: Detection[];
        if (faceSizeWhole) {
          found = await detectWholeAtFaceSize(model, frame, minFaceSize, faceSizeWhole);
        } else if (wholeFrame) {
          found = await detectWholeAtSide(model, frame, wholeFrame);
        } else if (faceSizeTiling) {
          found = await detectAtFaceSize(model, frame, minFaceSize, faceSizeTiling);
        } else {
          const grid = tiling ? Math.max(tiling.columns, tiling.rows) : 1;
          const side = model.inputSize * MAX_PIXELS_PER_INPUT * grid;
          const { image, fx, fy } = await scaleFrame(frame, side / Math.max(frame.width, frame.height));
          const raw = tiling ? await detectTiled(model, image, tiling) : await detectFrame(model, image);
          found = raw.map((d) => unscale(d, fx, fy));
        }
        kept = mergeDetections(kept, boxTransform ? found.map((d) => mapBox(d, boxTransform, frame)) : found);
      }
      return kept;
    },
    // The passes' sessions belong to whoever opened them (openPackFaceDetector releases its own).
    release: () => Promise.resolve(),
  };
}

/** Options of openPackFaceDetector. */
export interface PackDetectorOptions {
  /** Smallest face (frame pixels) face-size passes are planned for, unless detect() names one. */
  minFaceSize?: number;
  /** Sessions of each detector run on every frame, for frames detected side by side (openDetectors; default 1). */
  sessions?: number;
}

/**
 * Reads `dir/detection.json` (checking every file's sha256), opens the detectors of its mode and
 * returns the mode as one detector (modeDetector): what the face stage, `emo run` and the tools use.
 */
export async function openPackFaceDetector(
  dir: string,
  session: Partial<SessionConfig> = {},
  options: PackDetectorOptions = {},
): Promise<PackFaceDetector> {
  const config = await readDetectionConfig(dir);
  const detectors = await openDetectors(dir, config, session, options.sessions);
  return {
    ...modeDetector(config.mode.name, modePasses(config, detectors.models), options.minFaceSize),
    release: () => detectors.release(),
  };
}
