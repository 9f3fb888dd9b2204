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
  // Padded-square sampling: coordinates outside the frame read zeros, as padToSquare's fill does.
  const at = (x: number, y: number, c: number): number => {
    const fx = x - offsetX;
    const fy = y - offsetY;
    return fx < 0 || fy < 0 || fx >= width || fy >= height ? 0 : data[(fy * width + fx) * 3 + c]!;
  };
  for (let r = 0; r < size; r++) {
    const sy = ratio * r;
    const y0 = Math.floor(sy);
    const y1 = Math.min(side - 1, Math.ceil(sy));
    const fy = sy - y0;
    for (let col = 0; col < size; col++) {
      const sx = ratio * col;
      const x0 = Math.floor(sx);
      const x1 = Math.min(side - 1, Math.ceil(sx));
      const fx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const top = at(x0, y0, c) + (at(x1, y0, c) - at(x0, y0, c)) * fx;
        const bottom = at(x0, y1, c) + (at(x1, y1, c) - at(x0, y1, c)) * fx;
        out[(r * size + col) * 3 + c] = top + (bottom - top) * fy;
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
