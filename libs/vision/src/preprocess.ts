/**
 * Face-crop preprocessing for the backbone (REFERENCE.md "Input preprocessing of a face crop"):
 * clamp the detector's box to the frame, crop, resize to the model's input size, RGB → BGR,
 * float32, subtract the per-channel means, no scaling, NHWC or NCHW.
 *
 * The two resizes reproduce the reference's libraries, not textbook formulas, because the
 * reference's numbers depend on them (checked against Pillow and OpenCV outputs by
 * `libs/models/test/resize-parity.test.ts`):
 * - `nearest`: Pillow's `Image.resize(size, NEAREST)` (the real-time script);
 * - `area`: OpenCV's `cv2.resize(..., interpolation=INTER_AREA)` on uint8 (the offline script),
 *   which averages pixel areas when shrinking but interpolates linearly when enlarging.
 */
import { StageError } from '@emostream/shared';

/** An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** A box in frame pixels as the contracts carry it (`emostream.v1.Box`): top-left corner and size. */
export interface BoxLike {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Integer pixel rectangle by corners, half-open: x1 ≤ x < x2, y1 ≤ y < y2. */
export interface PixelRect {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

/** How the box becomes a crop (a pack's `crop` setting). */
export interface CropSettings {
  /** Width and height are multiplied by this around the box centre (1 = as detected). */
  readonly expand: number;
  /** Grow the shorter side so the crop is square. */
  readonly square: boolean;
}

/** How the crop becomes a tensor (a pack's `preprocessing` plus the input layout). */
export interface TensorSettings {
  readonly colorOrder: 'RGB' | 'BGR';
  /** Subtracted per channel, given in `colorOrder`. */
  readonly mean: readonly [number, number, number];
  readonly scale: number;
  /** Face crops use nearest or area; the bilinear variants are for detector inputs. */
  readonly resize: 'nearest' | 'area' | 'bilinear' | 'bilinear-tf-legacy';
  readonly inputSize: { readonly width: number; readonly height: number };
  readonly layout: 'NHWC' | 'NCHW';
  /** Face crops are stretched to the input size, as in the reference; padding is for detectors. */
  readonly fit?: 'stretch' | 'pad-bottom-right' | 'pad-center';
}

/** The tensor settings of a pack's backbone (or detector) entry: its preprocessing plus input layout. */
export function tensorSettingsOf(model: {
  readonly input: { readonly layout: string };
  readonly preprocessing: Omit<TensorSettings, 'layout'>;
}): TensorSettings {
  const { layout } = model.input;
  if (layout !== 'NHWC' && layout !== 'NCHW') throw new Error(`an image model's input layout must be NHWC or NCHW, not ${layout}`);
  return { ...model.preprocessing, layout };
}

/** Thrown by `clampBox`/`preprocessFace` when a box, clamped to the frame, leaves no pixels. Not retriable. */
export class EmptyCropError extends StageError {
  constructor(box: BoxLike, width: number, height: number) {
    super('EMPTY_CROP', `box at (${box.x}, ${box.y}) of ${box.width}×${box.height} leaves no pixels inside the ${width}×${height} frame`);
    this.name = 'EmptyCropError';
  }
}

/** Grows the box around its centre (and squares it) per the pack's crop setting. */
export function adjustBox(box: BoxLike, crop: CropSettings): BoxLike {
  if (crop.expand === 1 && !crop.square) return box;
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  let width = box.width * crop.expand;
  let height = box.height * crop.expand;
  if (crop.square) width = height = Math.max(width, height);
  return { x: cx - width / 2, y: cy - height / 2, width, height };
}

/**
 * The reference's crop rectangle: coordinates truncated to integers (Python's `int()`), the start
 * clamped to ≥ 0 and the end to ≤ w − 1 / h − 1, then used as a half-open slice
 * `frame[y1:y2, x1:x2]`; so a box reaching the frame edge loses its last row/column, as in the
 * reference. The reference's corners are our x, y and x + width, y + height.
 */
export function clampBox(box: BoxLike, width: number, height: number): PixelRect {
  const clamped = {
    x1: Math.max(0, Math.trunc(box.x)),
    y1: Math.max(0, Math.trunc(box.y)),
    x2: Math.min(width - 1, Math.trunc(box.x + box.width)),
    y2: Math.min(height - 1, Math.trunc(box.y + box.height)),
  };
  if (clamped.x2 <= clamped.x1 || clamped.y2 <= clamped.y1) throw new EmptyCropError(box, width, height);
  return clamped;
}

/** Copies the half-open rectangle of an already clamped box. */
export function crop(image: RgbImage, box: PixelRect): RgbImage {
  const width = box.x2 - box.x1;
  const height = box.y2 - box.y1;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((box.y1 + y) * image.width + box.x1) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}

/**
 * Pillow's NEAREST resize (`ImagingScaleAffine`): the source column of output x is
 * floor(sx/2 + sx + … + sx), accumulated by repeated addition exactly as Pillow does (a product
 * would round differently at exact pixel boundaries, e.g. 4 → 6 pixels); rows likewise.
 */
export function resizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const sx = image.width / width;
  const sy = image.height / height;
  const columns = new Int32Array(width);
  let xo = sx * 0.5;
  for (let x = 0; x < width; x++) {
    columns[x] = Math.min(Math.floor(xo), image.width - 1);
    xo += sx;
  }
  const data = new Uint8Array(width * height * 3);
  let yo = sy * 0.5;
  for (let y = 0; y < height; y++, yo += sy) {
    const row = Math.min(Math.floor(yo), image.height - 1) * image.width;
    for (let x = 0; x < width; x++) {
      const from = (row + columns[x]!) * 3;
      const to = (y * width + x) * 3;
      data[to] = image.data[from]!;
      data[to + 1] = image.data[from + 1]!;
      data[to + 2] = image.data[from + 2]!;
    }
  }
  return { width, height, data };
}

/** OpenCV's INTER_AREA on uint8: area averaging when both axes shrink, else "area-linear". */
export function resizeArea(image: RgbImage, width: number, height: number): RgbImage {
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  if (Number.isInteger(scaleX) && Number.isInteger(scaleY)) return resizeAreaIntegerShrink(image, width, height, scaleX, scaleY);
  if (scaleX >= 1 && scaleY >= 1) return resizeAreaShrink(image, width, height, scaleX, scaleY);
  return resizeAreaLinear(image, width, height);
}

/** OpenCV's `resizeAreaFast` for whole-number ratios: block sums, rounded as OpenCV rounds them. */
function resizeAreaIntegerShrink(image: RgbImage, width: number, height: number, scaleX: number, scaleY: number): RgbImage {
  const area = scaleX * scaleY;
  const inverse = Math.fround(1 / area);
  const out = new Uint8Array(width * height * 3);
  for (let dy = 0; dy < height; dy++)
    for (let dx = 0; dx < width; dx++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let y = 0; y < scaleY; y++)
          for (let x = 0; x < scaleX; x++) sum += image.data[((dy * scaleY + y) * image.width + dx * scaleX + x) * 3 + c]!;
        // 2×2 goes through OpenCV's SIMD path, which rounds halves up; other ratios multiply by
        // the float 1/area and round half to even (cvRound).
        out[(dy * width + dx) * 3 + c] = area === 4 ? (sum + 2) >> 2 : roundHalfEvenToByte(Math.fround(sum * inverse));
      }
  return { width, height, data: out };
}

/** OpenCV's `computeResizeAreaTab` as parallel arrays: tap i adds `weight[i]` × source pixel `src[i]` to output `dst[i]`. */
interface AreaTaps {
  readonly src: Int32Array;
  readonly dst: Int32Array;
  readonly weight: Float32Array;
}

/** OpenCV's `computeResizeAreaTab`: which source pixels cover each output pixel, and how much. */
function areaTaps(srcSize: number, dstSize: number, scale: number): AreaTaps {
  const src: number[] = [];
  const dst: number[] = [];
  const weight: number[] = [];
  const add = (s: number, d: number, w: number) => (src.push(s), dst.push(d), weight.push(w));
  for (let d = 0; d < dstSize; d++) {
    const fs1 = d * scale;
    const fs2 = fs1 + scale;
    const cell = Math.min(scale, srcSize - fs1);
    let s2 = Math.floor(fs2);
    s2 = Math.min(s2, srcSize - 1);
    const s1 = Math.min(Math.ceil(fs1), s2);
    if (s1 - fs1 > 1e-3) add(s1 - 1, d, (s1 - fs1) / cell);
    for (let s = s1; s < s2; s++) add(s, d, 1 / cell);
    if (fs2 - s2 > 1e-3) add(s2, d, Math.min(Math.min(fs2 - s2, 1), cell) / cell);
  }
  // Float32Array rounds each weight to a float, as OpenCV's table holds them.
  return { src: Int32Array.from(src), dst: Int32Array.from(dst), weight: Float32Array.from(weight) };
}

/**
 * OpenCV's `resizeArea_` (float accumulation, rounded to nearest-even like `cvRound`). Every sum is
 * a float as in OpenCV (Math.fround after each product and each addition), in OpenCV's order. This
 * runs on every face crop, so a source row is shrunk horizontally once, though a row on the border
 * of two output rows serves both (a third fewer passes on a 300 → 224 crop).
 */
function resizeAreaShrink(image: RgbImage, width: number, height: number, scaleX: number, scaleY: number): RgbImage {
  const f = Math.fround;
  const x = areaTaps(image.width, width, scaleX);
  const y = areaTaps(image.height, height, scaleY);
  const data = image.data;
  const out = new Uint8Array(width * height * 3);
  const row = new Float32Array(width * 3);
  const sum = new Float32Array(width * 3);
  /** Source row `sy` shrunk horizontally into `row`: the taps of an output pixel are consecutive. */
  const shrinkRow = (sy: number) => {
    const base = sy * image.width * 3;
    for (let k = 0; k < x.src.length;) {
      const dx = x.dst[k]!;
      let r = 0;
      let g = 0;
      let b = 0;
      for (; k < x.src.length && x.dst[k] === dx; k++) {
        const from = base + x.src[k]! * 3;
        const alpha = x.weight[k]!;
        r = f(r + f(data[from]! * alpha));
        g = f(g + f(data[from + 1]! * alpha));
        b = f(b + f(data[from + 2]! * alpha));
      }
      row[dx * 3] = r;
      row[dx * 3 + 1] = g;
      row[dx * 3 + 2] = b;
    }
  };
  const flush = (dy: number) => {
    const at = dy * width * 3;
    for (let i = 0; i < sum.length; i++) out[at + i] = roundHalfEvenToByte(sum[i]!);
  };
  let shrunk = -1;
  let currentDst = -1;
  for (let t = 0; t < y.src.length; t++) {
    const dy = y.dst[t]!;
    const beta = y.weight[t]!;
    if (y.src[t] !== shrunk) shrinkRow((shrunk = y.src[t]!));
    if (dy !== currentDst) {
      if (currentDst >= 0) flush(currentDst);
      for (let i = 0; i < sum.length; i++) sum[i] = f(beta * row[i]!);
      currentDst = dy;
    } else {
      for (let i = 0; i < sum.length; i++) sum[i] = f(sum[i]! + f(beta * row[i]!));
    }
  }
  flush(currentDst);
  return { width, height, data: out };
}

/** One axis of OpenCV's INTER_AREA-as-linear: source index and fixed-point weights (×2048). */
function areaLinearAxis(srcSize: number, dstSize: number): { index: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = srcSize / dstSize;
  const inverse = dstSize / srcSize;
  const index = new Int32Array(dstSize);
  const w0 = new Int32Array(dstSize);
  const w1 = new Int32Array(dstSize);
  for (let d = 0; d < dstSize; d++) {
    let s = Math.floor(d * scale);
    let fx = Math.fround(d + 1 - (s + 1) * inverse);
    fx = fx <= 0 ? 0 : Math.fround(fx - Math.floor(fx));
    if (s >= srcSize - 1) {
      s = srcSize - 1;
      fx = 0;
    }
    index[d] = s;
    w0[d] = roundHalfEven(Math.fround(Math.fround(1 - fx) * 2048));
    w1[d] = roundHalfEven(Math.fround(fx * 2048));
  }
  return { index, w0, w1 };
}

/** OpenCV's linear resize with INTER_AREA coefficients, 8-bit fixed point (2 × 11 bits). */
function resizeAreaLinear(image: RgbImage, width: number, height: number): RgbImage {
  const xs = areaLinearAxis(image.width, width);
  const ys = areaLinearAxis(image.height, height);
  const out = new Uint8Array(width * height * 3);
  const rowCache = new Map<number, Int32Array>();
  const horizontal = (sy: number): Int32Array => {
    let row = rowCache.get(sy);
    if (!row) {
      row = new Int32Array(width * 3);
      const base = sy * image.width * 3;
      for (let dx = 0; dx < width; dx++) {
        const s = xs.index[dx]!;
        const next = Math.min(s + 1, image.width - 1);
        for (let c = 0; c < 3; c++) {
          row[dx * 3 + c] = image.data[base + s * 3 + c]! * xs.w0[dx]! + image.data[base + next * 3 + c]! * xs.w1[dx]!;
        }
      }
      rowCache.set(sy, row);
    }
    return row;
  };
  for (let dy = 0; dy < height; dy++) {
    const s = ys.index[dy]!;
    const r0 = horizontal(s);
    const r1 = horizontal(Math.min(s + 1, image.height - 1));
    const b0 = ys.w0[dy]!;
    const b1 = ys.w1[dy]!;
    for (let i = 0; i < width * 3; i++) {
      // OpenCV's SIMD vertical pass (VResizeLinearVec_32s8u), not its exact scalar formula
      // (v + 2^21) >> 22: drop 4 bits, keep the high 16 of each product, round off 2 bits.
      // The two differ by 1 on many pixels; the fixtures show OpenCV takes this one.
      const v = ((((r0[i]! >> 4) * b0) >> 16) + (((r1[i]! >> 4) * b1) >> 16) + 2) >> 2;
      out[dy * width * 3 + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function roundHalfEvenToByte(v: number): number {
  const r = roundHalfEven(v);
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/** Resizes with the named method. */
export function resize(image: RgbImage, width: number, height: number, method: TensorSettings['resize']): RgbImage {
  if (image.width === width && image.height === height) return image;
  if (method === 'nearest') return resizeNearest(image, width, height);
  if (method === 'area') return resizeArea(image, width, height);
  throw new Error(`resize "${method}" is not implemented for face crops (use nearest or area)`);
}

/**
 * Writes an image (already at the input size) into `out` at element `offset` as float32:
 * channels reordered to `colorOrder`, mean subtracted, multiplied by `scale`, NHWC or NCHW.
 */
export function writeTensor(image: RgbImage, settings: TensorSettings, out: Float32Array, offset = 0): void {
  const { width, height, data } = image;
  const plane = width * height;
  const [s0, s1, s2] = settings.colorOrder === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  // This runs for every face (150k values for a 224² crop), so the per-value work is one table load:
  // (byte − mean) · scale for each of the 256 byte values, per output channel. The table holds the same
  // double-precision value the formula gives, so the float32 written is bit-identical.
  const [t0, t1, t2] = [0, 1, 2].map((c) => {
    const table = new Float64Array(256);
    for (let v = 0; v < 256; v++) table[v] = (v - settings.mean[c]!) * settings.scale;
    return table;
  }) as [Float64Array, Float64Array, Float64Array];
  if (settings.layout === 'NHWC') {
    for (let p = 0, i = 0, o = offset; p < plane; p++, i += 3, o += 3) {
      out[o] = t0[data[i + s0]!]!;
      out[o + 1] = t1[data[i + s1]!]!;
      out[o + 2] = t2[data[i + s2]!]!;
    }
  } else {
    for (let p = 0, i = 0; p < plane; p++, i += 3) {
      out[offset + p] = t0[data[i + s0]!]!;
      out[offset + plane + p] = t1[data[i + s1]!]!;
      out[offset + 2 * plane + p] = t2[data[i + s2]!]!;
    }
  }
}

/**
 * The whole face path: adjust the box, clamp and crop it from the frame, resize, and write the
 * tensor for one face. `out` receives width·height·3 floats at `offset` (one row of a batch).
 */
export function preprocessFace(
  frame: RgbImage,
  box: BoxLike,
  cropSettings: CropSettings,
  settings: TensorSettings,
  out: Float32Array,
  offset = 0,
): void {
  if (settings.fit && settings.fit !== 'stretch')
    throw new Error(`face crops are stretched to the input size; fit "${settings.fit}" is for detector inputs`);
  const region = clampBox(adjustBox(box, cropSettings), frame.width, frame.height);
  const face = resize(crop(frame, region), settings.inputSize.width, settings.inputSize.height, settings.resize);
  writeTensor(face, settings, out, offset);
}
