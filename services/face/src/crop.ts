import { z } from 'zod';

/**
 * The region of a frame the backbone sees for one face, as the reference computes it
 * (EMO-AffectNet `get_face_areas.py`): the detector's corners truncated to whole pixels (Python's
 * `int`), clamped to the frame — x to [0, w−1], y to [0, h−1] — and taken as a half-open slice
 * `frame[y1:y2, x1:x2]`, so the column x2 and the row y2 are not part of the crop.
 *
 * Detectors differ in how tightly they box a face, and the crop changes the backbone's features, so a
 * model pack may grow and square the box first (`CropShape`); EMO-AffectNet's pack uses the box as
 * the detector gives it (`REFERENCE_CROP_SHAPE`).
 */

export const cropShapeSchema = z
  .object({
    expand: z
      .number()
      .min(0)
      .max(4)
      .default(0)
      .describe(
        "How much larger than the detector's box the crop is, as a fraction of the box: 0.2 makes width and height 20 % larger about the box centre. 0 for EMO-AffectNet. Set by the model pack's manifest.",
      ),
    square: z
      .boolean()
      .default(false)
      .describe(
        'Make the box square (side = the larger of width and height, same centre) before expanding, so the 224×224 resize does not stretch the face. false for EMO-AffectNet. Set by the model pack manifest.',
      ),
  })
  .strict();
export type CropShape = z.infer<typeof cropShapeSchema>;

/** The reference's crop: the detector's box as it is. */
export const REFERENCE_CROP_SHAPE: CropShape = { expand: 0, square: false };

/** A box by its corners, in frame pixels, as detectors give it: (x1, y1) top left, (x2, y2) bottom right. */
export interface BoxCorners {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

/** Whole pixels [x, x + width) × [y, y + height) of a frame. */
export interface PixelRect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface FrameSize {
  readonly width: number;
  readonly height: number;
}

/** The corners of a box given as top-left corner and size (the wire format's `Box`). */
export function cornersOf(box: { x: number; y: number; width: number; height: number }): BoxCorners {
  return { x1: box.x, y1: box.y, x2: box.x + box.width, y2: box.y + box.height };
}

/** The box after the pack's squaring and expansion, both about the box centre; the identity for the reference shape. */
export function shapeBox(box: BoxCorners, shape: CropShape): BoxCorners {
  if (shape.expand === 0 && !shape.square) return box;
  const cx = (box.x1 + box.x2) / 2;
  const cy = (box.y1 + box.y2) / 2;
  let width = box.x2 - box.x1;
  let height = box.y2 - box.y1;
  if (shape.square) width = height = Math.max(width, height);
  width *= 1 + shape.expand;
  height *= 1 + shape.expand;
  return { x1: snap(cx - width / 2), y1: snap(cy - height / 2), x2: snap(cx + width / 2), y2: snap(cy + height / 2) };
}

/**
 * Rounds to a millionth of a pixel: `200 * 1.1` is 220.00000000000003, and without this an expansion
 * of 0.1 would truncate a corner at 39.999… to 39 instead of 40.
 */
function snap(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/**
 * The pixels to crop for a face: the shaped box, truncated and clamped as the reference does.
 * Returns null when nothing of the box lies in the frame (the reference would hand an empty image
 * to its resize and fail). Squaring and expansion happen before clamping, so a face at the frame's
 * edge gives a crop that is cut off there, not shifted inwards.
 *
 * For bit-exact parity pass the detector's own corners: rebuilding x2 as x + width in float32 (the
 * wire `Box`) can land just below a whole pixel and truncate one pixel short.
 */
export function cropRect(box: BoxCorners, frame: FrameSize, shape: CropShape = REFERENCE_CROP_SHAPE): PixelRect | null {
  if (![box.x1, box.y1, box.x2, box.y2].every(Number.isFinite)) return null;
  const shaped = shapeBox(box, shape);
  const x1 = clamp(Math.trunc(shaped.x1), 0, frame.width - 1);
  const y1 = clamp(Math.trunc(shaped.y1), 0, frame.height - 1);
  const x2 = clamp(Math.trunc(shaped.x2), 0, frame.width - 1);
  const y2 = clamp(Math.trunc(shaped.y2), 0, frame.height - 1);
  if (x2 <= x1 || y2 <= y1) return null;
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
