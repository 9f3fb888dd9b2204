import type { RgbPixels } from './appearance.js';

/** The frame is split into GRID × GRID cells; each gets a coarse colour histogram. */
const GRID = 3;
/** Levels per colour channel: 4 × 4 × 4 = 64 colours. */
const LEVELS = 4;
/** Pixels sampled per side of a cell. */
const SAMPLES_PER_SIDE = 24;

/** A frame's colour layout, for telling a hard cut from motion (see `sceneChange`). */
export type FrameSignature = Float32Array;

/**
 * Per cell of a 3×3 grid, the frame's histogram over 64 coarse colours, as counts of 576 samples a
 * cell (cheap next to detection; integers keep a saved signature short and exact). Faces that move or approach the camera change a few cells; a cut to another
 * shot changes nearly all of them.
 */
export function frameSignature(frame: RgbPixels): FrameSignature {
  const bins = LEVELS * LEVELS * LEVELS;
  const signature = new Float32Array(GRID * GRID * bins);
  const shift = 8 - Math.log2(LEVELS);
  for (let cy = 0; cy < GRID; cy++) {
    for (let cx = 0; cx < GRID; cx++) {
      const cell = (cy * GRID + cx) * bins;
      for (let sy = 0; sy < SAMPLES_PER_SIDE; sy++) {
        const y = Math.min(frame.height - 1, Math.floor(((cy + (sy + 0.5) / SAMPLES_PER_SIDE) * frame.height) / GRID));
        for (let sx = 0; sx < SAMPLES_PER_SIDE; sx++) {
          const x = Math.min(frame.width - 1, Math.floor(((cx + (sx + 0.5) / SAMPLES_PER_SIDE) * frame.width) / GRID));
          const i = (y * frame.width + x) * 3;
          const bin = ((frame.data[i]! >> shift) * LEVELS + (frame.data[i + 1]! >> shift)) * LEVELS + (frame.data[i + 2]! >> shift);
          signature[cell + bin]! += 1;
        }
      }
    }
  }
  return signature;
}

/**
 * How many of the cells changed a lot between two frames, as a fraction of all cells (0 … 1). A cell
 * changed a lot when half or more of its histogram moved (total-variation distance ≥ 0.5).
 */
export function sceneChange(a: FrameSignature, b: FrameSignature): number {
  const bins = a.length / (GRID * GRID);
  let changed = 0;
  for (let cell = 0; cell < GRID * GRID; cell++) {
    let distance = 0;
    for (let i = cell * bins; i < (cell + 1) * bins; i++) distance += Math.abs(a[i]! - b[i]!);
    if (distance / (2 * SAMPLES_PER_SIDE * SAMPLES_PER_SIDE) >= 0.5) changed += 1;
  }
  return changed / (GRID * GRID);
}
