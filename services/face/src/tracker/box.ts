/** A face box in frame pixels: top-left corner and size (the wire format's `Box` has this shape). */
export interface FaceBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Intersection over union of two boxes; 0 when either has no area. */
export function iou(a: FaceBox, b: FaceBox): number {
  const overlapWidth = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const overlapHeight = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (overlapWidth <= 0 || overlapHeight <= 0) return 0;
  const intersection = overlapWidth * overlapHeight;
  const union = a.width * a.height + b.width * b.height - intersection;
  return union > 0 ? intersection / union : 0;
}

/** A box moved by (dx, dy), same size. */
export function translate(box: FaceBox, dx: number, dy: number): FaceBox {
  return { x: box.x + dx, y: box.y + dy, width: box.width, height: box.height };
}

export function centre(box: FaceBox): { x: number; y: number } {
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}
