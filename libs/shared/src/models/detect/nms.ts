// Greedy non-maximum suppression over scored boxes, the same rule face-api and tfjs use:
// take boxes by falling score and drop any whose IoU with a kept box exceeds the threshold.

/** A face box in frame pixels, as the contracts' `Box` (top-left x, y; width, height), with its score. */
export interface Detection {
  x: number;
  y: number;
  width: number;
  height: number;
  score: number;
}

function intersection(a: Detection, b: Detection): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return w * h;
}

const area = (d: Detection) => Math.max(0, d.width) * Math.max(0, d.height);

export function iou(a: Detection, b: Detection): number {
  if (area(a) <= 0 || area(b) <= 0) return 0;
  const inter = intersection(a, b);
  return inter / (area(a) + area(b) - inter);
}

/**
 * Intersection over the smaller box: 1 when one box lies inside the other. Merging boxes of two
 * detectors (or of overlapping tiles) uses it, because the same face boxed by BlazeFace and by the
 * SSD, or cut by a tile edge, can overlap little by IoU while one box contains the other.
 */
export function overlapOfSmaller(a: Detection, b: Detection): number {
  if (area(a) <= 0 || area(b) <= 0) return 0;
  return intersection(a, b) / Math.min(area(a), area(b));
}

export type OverlapMetric = 'iou' | 'smaller';

/** Keeps the best box of each overlapping group; stable for equal scores (input order). */
export function nms(boxes: readonly Detection[], threshold: number, metric: OverlapMetric = 'iou', maxResults = Infinity): Detection[] {
  const overlap = metric === 'iou' ? iou : overlapOfSmaller;
  const order = boxes.map((b, i) => ({ b, i })).sort((p, q) => q.b.score - p.b.score || p.i - q.i);
  const kept: Detection[] = [];
  for (const { b } of order) {
    if (kept.length >= maxResults) break;
    if (kept.every((k) => overlap(k, b) <= threshold)) kept.push(b);
  }
  return kept;
}
