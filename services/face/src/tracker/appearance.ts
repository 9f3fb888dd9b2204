import type { FaceBox } from './box.js';

/** Packed RGB pixels, row by row (the shape of the shared `RgbImage`). */
export interface RgbPixels {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Cells per side of the grey layout part of the descriptor. */
const LAYOUT_CELLS = 8;
/** Hue bins × saturation bins of the colour part. */
const HUE_BINS = 8;
const SATURATION_BINS = 3;
/** Pixels sampled per side of each layout cell: enough to average out JPEG noise, few enough to stay cheap. */
const SAMPLES_PER_CELL = 3;

/** Length of an appearance descriptor. */
export const APPEARANCE_LENGTH = LAYOUT_CELLS * LAYOUT_CELLS + HUE_BINS * SATURATION_BINS;

/**
 * A cheap appearance descriptor of the face in `box` (unit length; compare two with `cosine`):
 * - the face's grey layout: 8×8 cell means of its inner part (where the eyes, nose and mouth are,
 *   without background), zero-mean, so brightness changes do not count;
 * - its colours: a hue × saturation histogram of the whole box (skin, hair, glasses, clothes at the
 *   chin), square-rooted so the cosine of two is their Bhattacharyya coefficient.
 * Both halves weigh the same. It samples ~600 pixels per face: nothing next to the detector, and it
 * needs only the decoded frame the face stage already has (the backbone's features come later).
 * It tells apart different people well enough to keep ids when faces move far between sampled
 * frames or cross; it is no face-recognition embedding.
 */
export function appearanceOf(frame: RgbPixels, box: FaceBox): Float32Array {
  const descriptor = new Float32Array(APPEARANCE_LENGTH);
  const x1 = Math.max(0, box.x);
  const y1 = Math.max(0, box.y);
  const x2 = Math.min(frame.width, box.x + box.width);
  const y2 = Math.min(frame.height, box.y + box.height);
  if (x2 - x1 < 1 || y2 - y1 < 1) return descriptor;

  // Grey layout of the inner face: 15 % off each side, 10 % off the top and bottom.
  const innerX = x1 + (x2 - x1) * 0.15;
  const innerY = y1 + (y2 - y1) * 0.1;
  const innerWidth = (x2 - x1) * 0.7;
  const innerHeight = (y2 - y1) * 0.8;
  const grid = LAYOUT_CELLS * SAMPLES_PER_CELL;
  for (let gy = 0; gy < grid; gy++) {
    const y = Math.min(frame.height - 1, Math.floor(innerY + ((gy + 0.5) * innerHeight) / grid));
    for (let gx = 0; gx < grid; gx++) {
      const x = Math.min(frame.width - 1, Math.floor(innerX + ((gx + 0.5) * innerWidth) / grid));
      const i = (y * frame.width + x) * 3;
      const grey = 0.299 * frame.data[i]! + 0.587 * frame.data[i + 1]! + 0.114 * frame.data[i + 2]!;
      descriptor[Math.floor(gy / SAMPLES_PER_CELL) * LAYOUT_CELLS + Math.floor(gx / SAMPLES_PER_CELL)]! += grey;
    }
  }
  const layout = descriptor.subarray(0, LAYOUT_CELLS * LAYOUT_CELLS);
  const mean = layout.reduce((sum, v) => sum + v, 0) / layout.length;
  for (let i = 0; i < layout.length; i++) layout[i] = layout[i]! - mean;
  normalise(layout);

  // Colours of the whole box.
  const colours = descriptor.subarray(LAYOUT_CELLS * LAYOUT_CELLS);
  const colourGrid = 20;
  for (let gy = 0; gy < colourGrid; gy++) {
    const y = Math.min(frame.height - 1, Math.floor(y1 + ((gy + 0.5) * (y2 - y1)) / colourGrid));
    for (let gx = 0; gx < colourGrid; gx++) {
      const x = Math.min(frame.width - 1, Math.floor(x1 + ((gx + 0.5) * (x2 - x1)) / colourGrid));
      const i = (y * frame.width + x) * 3;
      const { hue, saturation } = hueSaturation(frame.data[i]!, frame.data[i + 1]!, frame.data[i + 2]!);
      const hueBin = Math.min(HUE_BINS - 1, Math.floor((hue / 360) * HUE_BINS));
      const saturationBin = Math.min(SATURATION_BINS - 1, Math.floor(saturation * SATURATION_BINS));
      colours[hueBin * SATURATION_BINS + saturationBin]! += 1;
    }
  }
  for (let i = 0; i < colours.length; i++) colours[i] = Math.sqrt(colours[i]!);
  normalise(colours);

  for (let i = 0; i < descriptor.length; i++) descriptor[i] = descriptor[i]! * Math.SQRT1_2;
  return descriptor;
}

/** Cosine of two descriptors (both unit length, or zero: then 0). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

/** `previous` moved towards `next` by `1 - keep`, back to unit length: a track's running appearance. */
export function blendAppearance(previous: ArrayLike<number>, next: ArrayLike<number>, keep: number): Float32Array {
  const blended = new Float32Array(previous.length);
  for (let i = 0; i < blended.length; i++) blended[i] = keep * previous[i]! + (1 - keep) * next[i]!;
  normalise(blended);
  return blended;
}

function normalise(values: Float32Array): void {
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < values.length; i++) values[i] = values[i]! / norm;
}

function hueSaturation(r: number, g: number, b: number): { hue: number; saturation: number } {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const chroma = max - min;
  const saturation = max === 0 ? 0 : chroma / max;
  if (chroma === 0) return { hue: 0, saturation };
  let hue: number;
  if (max === r) hue = ((g - b) / chroma) % 6;
  else if (max === g) hue = (b - r) / chroma + 2;
  else hue = (r - g) / chroma + 4;
  return { hue: (hue * 60 + 360) % 360, saturation };
}
