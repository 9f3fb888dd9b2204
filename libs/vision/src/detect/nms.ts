// Greedy non-maximum suppression over scored boxes, the same rule face-api and tfjs use:
// take boxes by falling score and drop any whose IoU with a kept box exceeds the threshold.

/** A face box in frame pixels (x1, y1 top-left; x2, y2 bottom-right) with its score. */
export interface Detection {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
}

/** The areas of two boxes and of their intersection (0 for an empty box). */
function areas(a: Detection, b: Detection): { a: number; b: number; intersection: number } {
  const areaA = Math.max(0, a.x2 - a.x1) * Math.max(0, a.y2 - a.y1);
  const areaB = Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
  const w = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const h = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  return { a: areaA, b: areaB, intersection: w * h };
}

export function iou(a: Detection, b: Detection): number {
  const area = areas(a, b);
  if (area.a <= 0 || area.b <= 0) return 0;
  return area.intersection / (area.a + area.b - area.intersection);
}

/**
 * Intersection over the smaller box: 1 when one box lies inside the other. Merging boxes of two
 * detectors (or of overlapping tiles) uses it, because the same face boxed by BlazeFace and by the
 * SSD, or cut by a tile edge, can overlap little by IoU while one box contains the other.
 */
export function overlapOfSmaller(a: Detection, b: Detection): number {
  const area = areas(a, b);
  if (area.a <= 0 || area.b <= 0) return 0;
  return area.intersection / Math.min(area.a, area.b);
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
