// Face detection on a frame with any detector graph of the `boxes` + `scores` contract: one pass
// over the whole frame, a tiled pass for small faces in wide views, and the fusion of several
// detectors. The model itself is behind `DetectorModel`, so this runs with any session wrapper.
import { toDetections } from './decode.js';
import { squareResize, cropImage, type RgbImage } from './image.js';
import { nms, overlapOfSmaller, type Detection } from './nms.js';

/** One detector graph and how to read it. */
export interface DetectorModel {
  readonly name: string;
  /** Side of the square input, e.g. 512 for face-api's SSD. */
  readonly inputSize: number;
  /** Boxes scoring at or below this are dropped. */
  readonly minScore: number;
  /** NMS IoU threshold of this detector's own boxes. */
  readonly iouThreshold: number;
  /**
   * Runs the graph on [1, S, S, 3] RGB 0–255; returns its `boxes` [K·4] and `scores` [K]. `image` may
   * be handed to another thread: the caller must not use it afterwards.
   */
  run(image: Float32Array): Promise<{ boxes: Float32Array; scores: Float32Array }>;
  /**
   * Present when the graph takes an input of any size ([1, H, W, 3], detection.json `anySize`):
   * runs it on the image's RGB bytes as they are, no letterbox; `boxes` are in [0, 1] of its width
   * and height. `image` is left as it was (it may be the frame itself, still to be cropped).
   */
  runAnySize?(image: Uint8Array, width: number, height: number): Promise<{ boxes: Float32Array; scores: Float32Array }>;
}

/**
 * Tiling of a wide frame into a grid of overlapping tiles, each letterboxed into the model's input:
 * a face of f pixels in a W-wide frame reaches the model at about f·S/tileWidth instead of f·S/W.
 * A fixed grid (not a fixed tile size) bounds the cost at columns × rows extra passes per frame.
 */
export interface TilingOptions {
  columns: number;
  rows: number;
  /** Fraction of a tile shared with its neighbour, in [0, 1). */
  overlap: number;
  /**
   * Score threshold for boxes found in tiles (the whole-frame pass keeps the model's own).
   * Upscaled tiles show the detector textures it never saw at that scale, so it is stricter.
   */
  minScore?: number | undefined;
}

/**
 * A fitted map from one detector's box to another's box convention (libs/models/scripts/box-mapping.ts):
 * the centre moves by (dx·w, dy·h), the size becomes (sw·w, sh·h), w and h the box's own size.
 * The expression net was made for face-api's SSD boxes; another detector's boxes are mapped to that shape.
 */
export interface BoxTransform {
  dx: number;
  dy: number;
  sw: number;
  sh: number;
}

/** `d` mapped by `t`, clamped to the frame. */
export function mapBox(d: Detection, t: BoxTransform, frame: { width: number; height: number }): Detection {
  const w = d.x2 - d.x1;
  const h = d.y2 - d.y1;
  const cx = (d.x1 + d.x2) / 2 + t.dx * w;
  const cy = (d.y1 + d.y2) / 2 + t.dy * h;
  const clampX = (v: number) => Math.min(frame.width, Math.max(0, v));
  const clampY = (v: number) => Math.min(frame.height, Math.max(0, v));
  return {
    x1: clampX(cx - (t.sw * w) / 2),
    y1: clampY(cy - (t.sh * h) / 2),
    x2: clampX(cx + (t.sw * w) / 2),
    y2: clampY(cy + (t.sh * h) / 2),
    score: d.score,
  };
}

/** Overlap (of the smaller box) above which two boxes from different passes are one face. */
export const MERGE_OVERLAP = 0.5;

/**
 * Adds to `kept` the candidates (best first, NMS among themselves) that overlap no kept box.
 * Earlier passes take precedence whatever the scores, so a face keeps the box convention of the
 * first detector that found it (BlazeFace's square vs the SSD's taller box) from frame to frame.
 */
export function mergeDetections(kept: readonly Detection[], candidates: readonly Detection[]): Detection[] {
  const out = [...kept];
  for (const c of nms(candidates, MERGE_OVERLAP, 'smaller')) {
    if (out.every((k) => overlapOfSmaller(k, c) <= MERGE_OVERLAP)) out.push(c);
  }
  return out;
}

/** Detects faces in the whole frame (letterboxed top-left, as face-api does). */
export async function detectFrame(model: DetectorModel, image: RgbImage, minScore = model.minScore): Promise<Detection[]> {
  const { data, placement } = squareResize(image, model.inputSize, 'top-left');
  const { boxes, scores } = await model.run(data);
  const found = toDetections(boxes, scores, minScore, model.inputSize, placement, image);
  return nms(found, model.iouThreshold);
}

/** The grid's tile rectangles (integer pixels); neighbours share `overlap` of a tile. */
export function planTiles(
  width: number,
  height: number,
  { columns, rows, overlap }: TilingOptions,
): { x: number; y: number; w: number; h: number }[] {
  if (!(overlap >= 0 && overlap < 1)) throw new RangeError(`tile overlap ${overlap} must be in [0, 1)`);
  if (!(columns >= 1 && rows >= 1)) throw new RangeError(`tile grid ${columns}×${rows} must have at least one tile`);
  const axis = (length: number, count: number) => {
    const size = Math.round(length / (count - (count - 1) * overlap));
    const step = count > 1 ? (length - size) / (count - 1) : 0;
    return { size, starts: Array.from({ length: count }, (_, i) => Math.round(i * step)) };
  };
  const xs = axis(width, columns);
  const ys = axis(height, rows);
  return ys.starts.flatMap((y) => xs.starts.map((x) => ({ x, y, w: xs.size, h: ys.size })));
}

/**
 * The whole frame, then each tile upscaled to the model's input, tile boxes mapped back to the
 * frame. Whole-frame boxes take precedence; tile boxes add faces not found whole (and a face cut
 * by one tile's edge is merged with the same face seen whole in its neighbour).
 */
export async function detectTiled(model: DetectorModel, image: RgbImage, tiling: TilingOptions): Promise<Detection[]> {
  const whole = await detectFrame(model, image);
  const fromTiles: Detection[] = [];
  for (const tile of planTiles(image.width, image.height, tiling)) {
    const found = await detectFrame(model, cropImage(image, tile.x, tile.y, tile.w, tile.h), tiling.minScore ?? model.minScore);
    for (const d of found) fromTiles.push({ x1: d.x1 + tile.x, y1: d.y1 + tile.y, x2: d.x2 + tile.x, y2: d.y2 + tile.y, score: d.score });
  }
  return mergeDetections(whole, fromTiles);
}
