// From a detector graph's outputs to face boxes in frame pixels. Every detector graph of a pack
// outputs `boxes` [N, K, 4] (x1, y1, x2, y2 in [0, 1] of its square input) and `scores` [N, K].
import type { Placement } from './image.js';
import type { Detection } from './nms.js';

/** Boxes of one batch item scoring above `minScore`, mapped into the frame and clamped to it. */
export function toDetections(
  boxes: Float32Array,
  scores: Float32Array,
  minScore: number,
  inputSize: number,
  placement: Placement,
  frame: { width: number; height: number },
): Detection[] {
  const out: Detection[] = [];
  const k = inputSize * placement.scale;
  const clampX = (v: number) => Math.min(frame.width, Math.max(0, v));
  const clampY = (v: number) => Math.min(frame.height, Math.max(0, v));
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i]!;
    if (!(score > minScore)) continue;
    const x1 = clampX(boxes[4 * i]! * k - placement.offsetX);
    const y1 = clampY(boxes[4 * i + 1]! * k - placement.offsetY);
    const x2 = clampX(boxes[4 * i + 2]! * k - placement.offsetX);
    const y2 = clampY(boxes[4 * i + 3]! * k - placement.offsetY);
    if (x2 > x1 && y2 > y1) out.push({ x1, y1, x2, y2, score });
  }
  return out;
}

/**
 * BlazeFace's anchor centres in input pixels (MediaPipe's SSD anchor generator as @vladmandic/human
 * writes it): for each stride, a grid of cells, `perCell` anchors at each cell centre.
 */
export function blazeFaceAnchors(
  inputSize: number,
  layers = [
    { stride: 16, perCell: 2 },
    { stride: 32, perCell: 6 },
  ],
): [number, number][] {
  const anchors: [number, number][] = [];
  for (const { stride, perCell } of layers) {
    const cells = Math.floor((inputSize + stride - 1) / stride);
    for (let gy = 0; gy < cells; gy++) {
      for (let gx = 0; gx < cells; gx++) {
        for (let n = 0; n < perCell; n++) anchors.push([stride * (gx + 0.5), stride * (gy + 0.5)]);
      }
    }
  }
  return anchors;
}
