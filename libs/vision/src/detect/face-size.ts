// Detection planned by the smallest face to be found. A detector finds faces down to some size in
// its own input pixels (RetinaFace-MobileNet0.25: about 10 px, its smallest anchor is 16); a frame
// letterboxed whole into a 640² input shrinks a 1080p frame's 20-px faces to 7 px, below it. So the
// frame is seen at the scale that brings the smallest wanted face to the detector's smallest size:
// whole when it fits the input at that scale, otherwise as overlapping input-sized tiles (plus the
// whole frame, for faces larger than the tiles' overlap), boxes merged across tiles by NMS.
import sharp from 'sharp';
import type { DetectorModel } from './detector.js';
import { detectFrame, mergeDetections } from './detector.js';
import { cropImage, type RgbImage } from './image.js';
import { nms, type Detection } from './nms.js';

/** How a detector pass is planned from the minimum face size (detection.json `faceSizeTiling`). */
export interface FaceSizeTiling {
  /** Smallest face, in the detector's input pixels, it finds reliably. */
  smallestFace: number;
  /** Fraction of a tile shared with its neighbour, in [0, 0.5]. A face up to this × tile side lies whole in some tile. */
  overlap: number;
}

/** A tile in the (scaled) frame's pixels. */
export interface Tile {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** What one frame's detection runs: the frame scaled by `scale`, then whole or tiled. */
export interface FaceSizePlan {
  /** Frame scale applied before the detector (≤ 1; above 1 the detector's own resize enlarges the tiles). */
  scale: number;
  /** Tiles in the scaled frame's pixels; none: the whole frame in one pass. */
  tiles: Tile[];
}

/**
 * Plans a frame of width × height: the scale s = smallestFace / minFaceSize brings a face of
 * minFaceSize frame pixels to the detector's smallest face. At s ≤ 1 the frame is first scaled down
 * by s (smoothly) and tiles are input-sized; at s > 1 tiles are inputSize / s frame pixels, enlarged
 * by the detector's resize. A frame whose longer side at scale s fits the input is one pass (scaled
 * down smoothly to the input when larger: the detector's own resize fills its input anyway).
 */
export function planFaceSize(width: number, height: number, inputSize: number, minFaceSize: number, tiling: FaceSizeTiling): FaceSizePlan {
  if (!(minFaceSize > 0)) throw new RangeError(`minimum face size ${minFaceSize} must be above 0 pixels`);
  if (!(tiling.overlap >= 0 && tiling.overlap <= 0.5)) throw new RangeError(`tile overlap ${tiling.overlap} must be in [0, 0.5]`);
  const s = tiling.smallestFace / minFaceSize;
  const longer = Math.max(width, height);
  // One pass: the detector's input holds the whole frame at scale s or more (it fills its input).
  if (longer * s <= inputSize) return { scale: Math.min(1, inputSize / longer), tiles: [] };
  const scale = Math.min(1, s);
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const side = s <= 1 ? inputSize : Math.floor(inputSize / s);
  const overlap = Math.round(side * tiling.overlap);
  const axis = (length: number): { start: number; size: number }[] => {
    if (length <= side) return [{ start: 0, size: length }];
    const count = Math.ceil((length - overlap) / (side - overlap));
    const step = (length - side) / (count - 1);
    return Array.from({ length: count }, (_, i) => ({ start: Math.round(i * step), size: side }));
  };
  const tiles = axis(h).flatMap((y) => axis(w).map((x) => ({ x: x.start, y: y.start, w: x.size, h: y.size })));
  return { scale, tiles };
}

/** A tile box touching a tile edge inside the frame is a face cut by the tile: its neighbour sees it whole. */
const EDGE_MARGIN = 2;

function cutByTile(d: Detection, tile: Tile, width: number, height: number): boolean {
  return (
    (tile.x > 0 && d.x1 <= tile.x + EDGE_MARGIN) ||
    (tile.y > 0 && d.y1 <= tile.y + EDGE_MARGIN) ||
    (tile.x + tile.w < width && d.x2 >= tile.x + tile.w - EDGE_MARGIN) ||
    (tile.y + tile.h < height && d.y2 >= tile.y + tile.h - EDGE_MARGIN)
  );
}

/**
 * Detects as planFaceSize plans: the whole frame first (its boxes take precedence: a large face cut
 * by tiles keeps its whole box), then each tile; tile boxes cut by an inner tile edge are dropped
 * (the overlap shows that face whole in a neighbour), the rest merged across tiles by NMS.
 */
export async function detectAtFaceSize(
  model: DetectorModel,
  frame: RgbImage,
  minFaceSize: number,
  tiling: FaceSizeTiling,
): Promise<Detection[]> {
  const plan = planFaceSize(frame.width, frame.height, model.inputSize, minFaceSize, tiling);
  const { image, fx, fy } = await scaleFrame(frame, plan.scale);
  let found: Detection[];
  if (plan.tiles.length === 0) {
    found = await detectFrame(model, image);
  } else {
    // The whole frame as the detector's input size, smoothed (its own resize does not smooth).
    const whole = await scaleFrame(image, model.inputSize / Math.max(image.width, image.height));
    const wholeFound = (await detectFrame(model, whole.image)).map((d) => unscale(d, whole.fx, whole.fy));
    const fromTiles: Detection[] = [];
    for (const tile of plan.tiles) {
      for (const d of await detectFrame(model, cropImage(image, tile.x, tile.y, tile.w, tile.h))) {
        const box = { x1: d.x1 + tile.x, y1: d.y1 + tile.y, x2: d.x2 + tile.x, y2: d.y2 + tile.y, score: d.score };
        if (!cutByTile(box, tile, image.width, image.height)) fromTiles.push(box);
      }
    }
    found = mergeDetections(wholeFound, fromTiles);
  }
  return found.map((d) => unscale(d, fx, fy));
}

/**
 * A pass of a detector whose graph takes an input of any size (detection.json `faceSizeWhole`): the
 * whole frame, one inference, at the scale that brings the minimum face size to `smallestFace`.
 */
export interface FaceSizeWhole {
  /** Smallest face, in the detector's input pixels, it finds reliably. */
  smallestFace: number;
}

/**
 * Most pixels a whole-frame pass gives the detector (4K UHD). Its cost and memory grow with the
 * pixels; a frame whose face-size scale would exceed this is seen at the largest scale within it,
 * so faces below FACE_MIN_SIZE × (that scale ÷ the planned one) may be missed (README, Known limitations).
 */
export const MAX_WHOLE_PIXELS = 3840 * 2160;

/**
 * The scale of a whole-frame pass: smallestFace ÷ minFaceSize, at most the one that fills
 * MAX_WHOLE_PIXELS. A small frame is not enlarged to the detector's input, as a letterboxed pass
 * would: the box map to the SSD's shape (boxTransform) was fitted at the frame's own scale, and on
 * enlarged CREMA-D frames the mapped box read a disgust frame as Anger (README, Known limitations).
 */
export function wholeFrameScale(width: number, height: number, minFaceSize: number, whole: FaceSizeWhole): number {
  if (!(minFaceSize > 0)) throw new RangeError(`minimum face size ${minFaceSize} must be above 0 pixels`);
  return Math.min(whole.smallestFace / minFaceSize, Math.sqrt(MAX_WHOLE_PIXELS / (width * height)));
}

/**
 * Detects on the whole frame at the face-size scale in one inference of the frame's own (scaled)
 * size: the seed runs RetinaFace so, on the whole image at full size. One pass costs what the frame's
 * pixels cost, where tiles overlapping by a quarter plus the whole frame cost about three times more.
 */
export async function detectWholeAtFaceSize(
  model: DetectorModel,
  frame: RgbImage,
  minFaceSize: number,
  whole: FaceSizeWhole,
): Promise<Detection[]> {
  return detectWholeAtScale(model, frame, wholeFrameScale(frame.width, frame.height, minFaceSize, whole));
}

/**
 * A pass of a detector whose graph takes an input of any size (detection.json `wholeFrame`): the
 * whole frame scaled down so its longer side is at most `longerSide`, one inference of that size.
 * It finds the faces too large for the face-size pass (beyond the detector's largest anchor) at a
 * fraction of its cost: a 720p frame at 320 px is 16 times fewer pixels, and no square padding.
 */
export interface WholeFrame {
  /** Longer side, in pixels, the frame is scaled down to (never enlarged). */
  longerSide: number;
}

/** Detects on the whole frame scaled down to `whole.longerSide` (smaller frames as they are). */
export async function detectWholeAtSide(model: DetectorModel, frame: RgbImage, whole: WholeFrame): Promise<Detection[]> {
  return detectWholeAtScale(model, frame, Math.min(1, whole.longerSide / Math.max(frame.width, frame.height)));
}

/** One inference of an any-size detector on the whole frame scaled by `scale` (Lanczos); boxes in frame pixels. */
async function detectWholeAtScale(model: DetectorModel, frame: RgbImage, scale: number): Promise<Detection[]> {
  if (!model.runAnySize)
    throw new Error(`detector ${model.name} takes only its ${model.inputSize}² input: a whole-frame pass needs a graph of any input size`);
  const { image, fx, fy } = await resizeFrame(frame, scale);
  const { boxes, scores } = await model.runAnySize(image.data, image.width, image.height);
  const found: Detection[] = [];
  const clamp = (v: number, side: number) => Math.min(side, Math.max(0, v * side));
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    if (!(score > model.minScore)) continue;
    const x1 = clamp(boxes[4 * i]!, image.width);
    const y1 = clamp(boxes[4 * i + 1]!, image.height);
    const x2 = clamp(boxes[4 * i + 2]!, image.width);
    const y2 = clamp(boxes[4 * i + 3]!, image.height);
    if (x2 > x1 && y2 > y1) found.push({ x1, y1, x2, y2, score });
  }
  return nms(found, model.iouThreshold).map((d) => unscale(d, fx, fy));
}

/** A box of a frame scaled by (fx, fy), in the original frame's pixels. */
export function unscale(d: Detection, fx: number, fy: number): Detection {
  return fx === 1 && fy === 1 ? d : { x1: d.x1 / fx, y1: d.y1 / fy, x2: d.x2 / fx, y2: d.y2 / fy, score: d.score };
}

/** A frame scaled for a detector, and the scale applied per axis (boxes map back with them exactly). */
export interface ScaledFrame {
  image: RgbImage;
  fx: number;
  fy: number;
}

/** The frame scaled down (Lanczos) by `factor` (≥ 1: unchanged). */
export async function scaleFrame(frame: RgbImage, factor: number): Promise<ScaledFrame> {
  return resizeFrame(frame, Math.min(1, factor));
}

/** The frame scaled by `factor`, down or up (Lanczos; 1: unchanged). */
export async function resizeFrame(frame: RgbImage, factor: number): Promise<ScaledFrame> {
  if (factor === 1) return { image: frame, fx: 1, fy: 1 };
  const width = Math.max(1, Math.round(frame.width * factor));
  const height = Math.max(1, Math.round(frame.height * factor));
  if (width === frame.width && height === frame.height) return { image: frame, fx: 1, fy: 1 };
  const data = await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return {
    image: { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) },
    fx: width / frame.width,
    fy: height / frame.height,
  };
}
