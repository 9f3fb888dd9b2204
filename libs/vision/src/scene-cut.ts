import type { BoxLike, RgbImage } from './preprocess.js';

/**
 * The one definition of a hard cut (a change of shot), used by the face stage's tracker (every track
 * ends at a cut) and by `emo annotate`/`emo run`'s annotated video (no box is carried onto another
 * shot). The frame is split into GRID × GRID cells; each gets a coarse colour histogram. Faces that
 * move or approach the camera change a few cells; a cut to another shot changes nearly all of them.
 */
const GRID = 3;
/** Levels per colour channel: 4 × 4 × 4 = 64 colours. */
const LEVELS = 4;
const BINS = LEVELS * LEVELS * LEVELS;
/** Pixels sampled per side of a cell. */
const SAMPLES_PER_SIDE = 24;
const SAMPLES_PER_CELL = SAMPLES_PER_SIDE * SAMPLES_PER_SIDE;
/** A cell changed a lot when half or more of its histogram moved (total-variation distance ≥ 0.5). */
const CELL_CHANGE = 0.5;
/**
 * A cell is compared only when at least this share of its samples lies outside faces in both frames:
 * a face that fills a cell (a close-up) changes it without any change of shot.
 */
const MIN_SCENERY = 0.5;

/** Share of the cells that must change for a cut (`sceneChange`): most of the picture, not a few cells. */
export const DEFAULT_SCENE_CUT_FRACTION = 0.7;

/**
 * A frame's colour layout: per cell, the counts of its samples over 64 coarse colours (integers keep
 * a saved signature short and exact). Samples inside faces (`ignore`) are not counted.
 */
export type FrameSignature = Float32Array;

/** Options of the signature functions. */
export interface SignatureOptions {
  /**
   * Regions not to count (the faces and the head and shoulders around them, see `faceSurroundings`):
   * only the scenery tells one shot from another; a face coming up to the camera is not a cut.
   */
  readonly ignore?: readonly BoxLike[];
}

/** The colour layout of a packed RGB frame. */
export function frameSignature(frame: RgbImage, options: SignatureOptions = {}): FrameSignature {
  const shift = 8 - Math.log2(LEVELS);
  return signatureOf(frame.width, frame.height, options, (x, y) => {
    const i = (y * frame.width + x) * 3;
    return colourBin(frame.data[i]! >> shift, frame.data[i + 1]! >> shift, frame.data[i + 2]! >> shift);
  });
}

/**
 * A planar yuv420p frame as ffmpeg writes it (BT.601, limited range): the luma plane, `stride` bytes
 * a row and `paddedHeight` rows, then the two chroma planes at half the stride and half the rows.
 * `width` × `height` is the picture.
 */
export interface Yuv420Frame {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly paddedHeight: number;
}

/** The colour layout of a yuv420p frame: the same signature its RGB conversion has (to within rounding). */
export function frameSignatureYuv420(frame: Yuv420Frame, options: SignatureOptions = {}): FrameSignature {
  const { data, stride, paddedHeight } = frame;
  const chromaStride = stride / 2;
  const uPlane = stride * paddedHeight;
  const vPlane = uPlane + chromaStride * (paddedHeight / 2);
  const level = (v: number) => Math.min(LEVELS - 1, Math.max(0, Math.floor((v * LEVELS) / 256)));
  return signatureOf(frame.width, frame.height, options, (x, y) => {
    const c = 1.164 * (data[y * stride + x]! - 16);
    const chroma = (y >> 1) * chromaStride + (x >> 1);
    const u = data[uPlane + chroma]! - 128;
    const v = data[vPlane + chroma]! - 128;
    return colourBin(level(c + 1.596 * v), level(c - 0.392 * u - 0.813 * v), level(c + 2.017 * u));
  });
}

/**
 * The share of the cells compared that changed a lot between two frames (0 … 1). Cells mostly covered
 * by faces in either frame are not compared; with none left to compare, 0 (no sign of a cut).
 */
export function sceneChange(a: FrameSignature, b: FrameSignature): number {
  let compared = 0;
  let changed = 0;
  for (let cell = 0; cell < GRID * GRID; cell++) {
    const start = cell * BINS;
    let totalA = 0;
    let totalB = 0;
    for (let i = start; i < start + BINS; i++) {
      totalA += a[i]!;
      totalB += b[i]!;
    }
    if (totalA < MIN_SCENERY * SAMPLES_PER_CELL || totalB < MIN_SCENERY * SAMPLES_PER_CELL) continue;
    compared += 1;
    let distance = 0;
    for (let i = start; i < start + BINS; i++) distance += Math.abs(a[i]! / totalA - b[i]! / totalB);
    if (distance / 2 >= CELL_CHANGE) changed += 1;
  }
  return compared === 0 ? 0 : changed / compared;
}

/**
 * The regions a face changes when it moves or comes closer: its box grown by half its width on each
 * side and by half its height above, and down to two heights below it (neck and shoulders).
 */
export function faceSurroundings(boxes: readonly BoxLike[]): BoxLike[] {
  return boxes.map((b) => ({ x: b.x - b.width / 2, y: b.y - b.height / 2, width: b.width * 2, height: b.height * 3.5 }));
}

/**
 * Cut detection over a run of frames: `next` takes each frame's signature and says whether it starts a
 * new shot (at least `fraction` of the compared cells changed since the previous frame).
 */
export class SceneCutDetector {
  #previous: FrameSignature | undefined;

  constructor(private readonly fraction = DEFAULT_SCENE_CUT_FRACTION) {}

  next(signature: FrameSignature): boolean {
    const previous = this.#previous;
    this.#previous = signature;
    return previous !== undefined && sceneChange(previous, signature) >= this.fraction;
  }
}

function colourBin(r: number, g: number, b: number): number {
  return (r * LEVELS + g) * LEVELS + b;
}

function signatureOf(
  width: number,
  height: number,
  { ignore = [] }: SignatureOptions,
  binAt: (x: number, y: number) => number,
): FrameSignature {
  const signature = new Float32Array(GRID * GRID * BINS);
  for (let cy = 0; cy < GRID; cy++) {
    for (let cx = 0; cx < GRID; cx++) {
      const cell = (cy * GRID + cx) * BINS;
      for (let sy = 0; sy < SAMPLES_PER_SIDE; sy++) {
        const y = Math.min(height - 1, Math.floor(((cy + (sy + 0.5) / SAMPLES_PER_SIDE) * height) / GRID));
        for (let sx = 0; sx < SAMPLES_PER_SIDE; sx++) {
          const x = Math.min(width - 1, Math.floor(((cx + (sx + 0.5) / SAMPLES_PER_SIDE) * width) / GRID));
          if (ignore.some((box) => x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height)) continue;
          signature[cell + binAt(x, y)]! += 1;
        }
      }
    }
  }
  return signature;
}
