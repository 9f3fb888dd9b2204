// Face detection on a frame with any detector graph of the `boxes` + `scores` contract: one pass
// over the whole frame, a tiled pass for small faces in wide views, and the fusion of several
// detectors. The model itself is behind `DetectorModel`, so this runs with any session wrapper.
import { toDetections } from './decode.js';
import { squareResize, cropImage, type RgbImage } from './image.js';
import { nms, type Detection } from './nms.js';

/** One detector graph and how to read it. */
export interface DetectorModel {
  readonly name: string;
  /** Side of the square input, e.g. 512 for face-api's SSD. */
  readonly inputSize: number;
  /** Boxes scoring at or below this are dropped. */
  readonly minScore: number;
  /** NMS IoU threshold of this detector's own boxes. */
  readonly iouThreshold: number;
  /** Runs the graph on [1, S, S, 3] RGB 0–255; returns its `boxes` [K·4] and `scores` [K]. */
  run(image: Float32Array): Promise<{ boxes: Float32Array; scores: Float32Array }>;
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

/** Overlap (of the smaller box) above which two boxes from different passes are one face. */
export const MERGE_OVERLAP = 0.5;

/** Detects faces in the whole frame (letterboxed top-left, as face-api does). */
export async function detectFrame(model: DetectorModel, image: RgbImage, minScore = model.minScore): Promise<Detection[]> {
  const { data, placement } = squareResize(image, model.inputSize, 'top-left');
  const { boxes, scores } = await model.run(data);
  const found = toDetections(boxes, scores, minScore, model.inputSize, placement, image);
  return nms(found, model.iouThreshold);
}

/** The grid's tile rectangles (integer pixels); neighbours share `overlap` of a tile. */
export function planTiles(width: number, height: number, { columns, rows, overlap }: TilingOptions): { x: number; y: number; w: number; h: number }[] {
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
 * The whole frame plus each tile, every tile upscaled to the model's input, boxes mapped back to
 * the frame and merged across passes (a face cut by a tile edge is also found whole elsewhere).
 */
export async function detectTiled(model: DetectorModel, image: RgbImage, tiling: TilingOptions): Promise<Detection[]> {
  const all = await detectFrame(model, image);
  for (const tile of planTiles(image.width, image.height, tiling)) {
    const found = await detectFrame(model, cropImage(image, tile.x, tile.y, tile.w, tile.h), tiling.minScore ?? model.minScore);
    for (const d of found) all.push({ x1: d.x1 + tile.x, y1: d.y1 + tile.y, x2: d.x2 + tile.x, y2: d.y2 + tile.y, score: d.score });
  }
  return nms(all, MERGE_OVERLAP, 'smaller');
}

/** Runs several detectors (each optionally tiled) and merges their boxes. */
export async function detectFused(
  passes: readonly { model: DetectorModel; tiling?: TilingOptions | undefined }[], image: RgbImage,
): Promise<Detection[]> {
  const all: Detection[] = [];
  for (const { model, tiling } of passes) all.push(...(tiling ? await detectTiled(model, image, tiling) : await detectFrame(model, image)));
  return nms(all, MERGE_OVERLAP, 'smaller');
}
