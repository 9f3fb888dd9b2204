// The detectors' input: an RGB frame resized into a square, the way face-api prepares it
// (dom/NetInput.toBatchTensor): pad to a square with zeros, then tf.image.resizeBilinear with
// alignCorners=false and halfPixelCenters=false (source = destination · in/out, no half-pixel shift).

import type { RgbImage } from '../preprocess.js';

export type { RgbImage };

/** Where the frame went inside the square: frame pixel = square pixel · scale − offset. */
export interface Placement {
  /** Side of the padded square, in frame pixels. */
  side: number;
  /** Frame pixels per model-input pixel. */
  scale: number;
  offsetX: number;
  offsetY: number;
}

/**
 * Pads `image` to a square and resizes it to size × size, as float32 NHWC RGB 0–255.
 * `align` 'top-left' pads at the bottom/right (face-api's detectors); 'centre' splits the padding
 * (face-api's face crops: round(diff / 2) after, the rest before).
 */
export function squareResize(image: RgbImage, size: number, align: 'top-left' | 'centre'): { data: Float32Array; placement: Placement } {
  const side = Math.max(image.width, image.height);
  const diff = side - Math.min(image.width, image.height);
  const before = align === 'centre' ? diff - Math.round(diff * 0.5) : 0;
  const offsetX = image.width < side ? before : 0;
  const offsetY = image.height < side ? before : 0;
  const ratio = side / size;
  const out = new Float32Array(size * size * 3);
  const { width, height, data } = image;
  if (Number.isInteger(ratio)) {
    // A whole-number ratio (a 720p frame into RetinaFace's 640², or a frame already the input's
    // size): every tap falls on a pixel with weight 0, so the output is every ratio-th pixel beside
    // zero padding, to the bit. Picking them costs a fifth of the bilinear loop (the coarse pass of
    // a 720p frame: ~5 ms, not ~25).
    let o = 0;
    for (let r = 0; r < size; r++) {
      const y = r * ratio - offsetY;
      if (y < 0 || y >= height) {
        o += size * 3;
        continue;
      }
      for (let col = 0; col < size; col++, o += 3) {
        const x = col * ratio - offsetX;
        if (x < 0 || x >= width) continue;
        const from = (y * width + x) * 3;
        out[o] = data[from]!;
        out[o + 1] = data[from + 1]!;
        out[o + 2] = data[from + 2]!;
      }
    }
    return { data: out, placement: { side, scale: ratio, offsetX, offsetY } };
  }
  // The source taps of every output column and row are computed once (this runs on every frame, at
  // 512² for the SSD): a tap is the index of its pixel or row in `data`, or -1 where it falls in the
  // padding, which reads zeros as padToSquare's fill does. The arithmetic per channel is the
  // reference bilinear formula, unchanged, so the output is the same to the bit.
  const taps = (span: number, offset: number, stride: number) => {
    const near = new Int32Array(size);
    const far = new Int32Array(size);
    const weight = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const at = ratio * i;
      const lo = Math.floor(at);
      const hi = Math.min(side - 1, Math.ceil(at));
      const index = (v: number) => (v - offset < 0 || v - offset >= span ? -1 : (v - offset) * stride);
      near[i] = index(lo);
      far[i] = index(hi);
      weight[i] = at - lo;
    }
    return { near, far, weight };
  };
  const columns = taps(width, offsetX, 3);
  const rows = taps(height, offsetY, width * 3);
  let o = 0;
  for (let r = 0; r < size; r++) {
    const top = rows.near[r]!;
    const bottom = rows.far[r]!;
    const fy = rows.weight[r]!;
    for (let col = 0; col < size; col++) {
      const left = columns.near[col]!;
      const right = columns.far[col]!;
      const fx = columns.weight[col]!;
      if (top >= 0 && bottom >= 0 && left >= 0 && right >= 0) {
        // Inside the frame (most of the square): four taps, read directly.
        for (let c = 0; c < 3; c++) {
          const topLeft = data[top + left + c]!;
          const bottomLeft = data[bottom + left + c]!;
          const upper = topLeft + (data[top + right + c]! - topLeft) * fx;
          const lower = bottomLeft + (data[bottom + right + c]! - bottomLeft) * fx;
          out[o++] = upper + (lower - upper) * fy;
        }
      } else {
        // At the padding's edge: a tap outside the frame reads zero, as padToSquare's fill does.
        for (let c = 0; c < 3; c++) {
          const topLeft = top < 0 || left < 0 ? 0 : data[top + left + c]!;
          const topRight = top < 0 || right < 0 ? 0 : data[top + right + c]!;
          const bottomLeft = bottom < 0 || left < 0 ? 0 : data[bottom + left + c]!;
          const bottomRight = bottom < 0 || right < 0 ? 0 : data[bottom + right + c]!;
          const upper = topLeft + (topRight - topLeft) * fx;
          const lower = bottomLeft + (bottomRight - bottomLeft) * fx;
          out[o++] = upper + (lower - upper) * fy;
        }
      }
    }
  }
  return { data: out, placement: { side, scale: ratio, offsetX, offsetY } };
}

/** Copies a rectangle (integer pixel bounds, clamped to the image) out of an image. */
export function cropImage(image: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const x0 = Math.max(0, Math.min(image.width - 1, Math.floor(x)));
  const y0 = Math.max(0, Math.min(image.height - 1, Math.floor(y)));
  const x1 = Math.max(x0 + 1, Math.min(image.width, Math.ceil(x + w)));
  const y1 = Math.max(y0 + 1, Math.min(image.height, Math.ceil(y + h)));
  const width = x1 - x0;
  const height = y1 - y0;
  const data = new Uint8Array(width * height * 3);
  for (let row = 0; row < height; row++) {
    const start = ((y0 + row) * image.width + x0) * 3;
    data.set(image.data.subarray(start, start + width * 3), row * width * 3);
  }
  return { width, height, data };
}
