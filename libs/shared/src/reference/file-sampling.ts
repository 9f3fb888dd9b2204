/**
 * The reference's frame sampling for video files (EMO-AffectNet `get_face_areas.py`): of a video with
 * `fps` frames per second, the frames 1, 1+k, 1+2k, … are processed, with k = round(5·fps/25), about
 * five frames per second of video — the rate the temporal models were trained at.
 *
 * The reference computes `round(5 * np.round(fps) / 25)`: OpenCV's fps (often 30000/1001) is first
 * rounded by NumPy, then k by Python's built-in `round`. Both round halves to even ("banker's
 * rounding"), where JavaScript's Math.round rounds halves up: for 12.5 fps the reference takes every
 * 2nd frame, and a port using Math.round would take every 3rd. The two-step form gives the same k as
 * the single `round(5·fps/25)` of REFERENCE.md for every fps (round(fps)/5 never ends in .5, and at
 * fps = 5n + 2.5 both land on the even one of n, n+1); we keep the reference's two steps anyway.
 */

/** Python's `round(x)` (and NumPy's `np.round(x)`): to the nearest integer, halves to the even neighbour. */
export function roundHalfToEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const floor = Math.floor(x);
  const fraction = x - floor; // exact for every double below 2^52
  if (fraction < 0.5) return floor;
  if (fraction > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The sampling step k of the reference for a file of `fps` frames per second.
 * Throws a RangeError where the reference itself fails (fps below 3 gives k = 0, and Python's
 * `range` refuses a zero step).
 */
export function samplingStep(fps: number): number {
  if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`fps must be a positive number, got ${fps}`);
  const k = roundHalfToEven((5 * roundHalfToEven(fps)) / 25);
  if (k < 1) throw new RangeError(`fps ${fps} gives a sampling step of 0: the reference cannot sample it`);
  return k;
}

/** The 1-based frame numbers the reference processes in a file of `totalFrames` frames: 1, 1+k, 1+2k, … ≤ totalFrames. */
export function sampledFrameNumbers(totalFrames: number, step: number): number[] {
  assertStep(step);
  const frames: number[] = [];
  for (let frame = 1; frame <= totalFrames; frame += step) frames.push(frame);
  return frames;
}

/** Whether the 1-based `frameNumber` is one the reference processes with sampling step `step` (for streaming ingest). */
export function isSampledFrame(frameNumber: number, step: number): boolean {
  assertStep(step);
  return Number.isInteger(frameNumber) && frameNumber >= 1 && (frameNumber - 1) % step === 0;
}

function assertStep(step: number): void {
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`sampling step must be a positive integer, got ${step}`);
}
