/**
 * The reference's offline mode (EMO-AffectNet `run.py` with `functions/sequences.py`), reproduced
 * exactly, as two pure steps around the LSTM:
 *
 *   features of the sampled frames ──cutWindows──▶ windows ──LSTM──▶ one prediction per window
 *   ──assignPredictions──▶ one probability row per video frame
 *
 * "Sampled frames" are the frames that were sampled *and* gave a face: the reference keys its
 * features by frame number and only stores frames where the detector found a face.
 */

export interface WindowSpec {
  /** Items per window (the LSTM's sequence length). */
  readonly length: number;
  /** Items between the starts of consecutive windows. */
  readonly step: number;
}

/** EMO-AffectNet's LSTM sequence length: the reference's windows, and the static fallback's by default. */
export const REFERENCE_WINDOW_LENGTH = 10;

/** The reference's windows: 10 sampled frames, a new window every 5. */
export const REFERENCE_WINDOWS: WindowSpec = { length: REFERENCE_WINDOW_LENGTH, step: 5 };

/** One window over a sequence: `count` real items from index `start`, padded to the full length. */
export interface CutWindow<T> {
  /** Index of the window's first item in the cut sequence. */
  readonly start: number;
  /** Real items in the window (before padding): `items[count - 1]` is its last real item. */
  readonly count: number;
  /** Exactly `spec.length` items; a short window repeats its last real item to the end. */
  readonly items: readonly T[];
}

/**
 * Cuts `items` into windows as the reference does: a window starts at every multiple of `step`
 * below the number of items — so the last windows are short and may lie wholly inside the one
 * before them (12 items give windows at 0, 5 and 10) — and a short window is padded by repeating
 * its last item. No items, no windows.
 */
export function cutWindows<T>(items: readonly T[], spec: WindowSpec = REFERENCE_WINDOWS): CutWindow<T>[] {
  assertSpec(spec);
  const windows: CutWindow<T>[] = [];
  for (let start = 0; start < items.length; start += spec.step) {
    const real = items.slice(start, start + spec.length);
    const last = real[real.length - 1] as T; // start < items.length, so `real` is never empty
    const padding = new Array<T>(spec.length - real.length).fill(last);
    windows.push({ start, count: real.length, items: [...real, ...padding] });
  }
  return windows;
}

/**
 * One probability row per video frame, from one prediction per window, as the reference's report:
 * - a window's prediction goes to every frame number from its first to its last real sampled frame
 *   (frames between sampled frames included);
 * - a frame inside several windows gets the mean of their predictions;
 * - frames after the last window's last frame, up to `totalFrames`, get the last window's prediction;
 * - frames before the first sampled frame get no row (`null`): the reference's CSV has no line for
 *   them. Frame 1 is always sampled, so this only happens when frame 1 had no face.
 *
 * The result is indexed by frame number − 1 (frame numbers are 1-based). Its length is `totalFrames`,
 * or more when windows reach past it (the reference trusts OpenCV's frame count for the tail but still
 * reports every frame a window covers). No windows: every row is null (the reference fails there).
 */
export function assignPredictions(
  windows: readonly Pick<CutWindow<unknown>, 'start' | 'count'>[],
  predictions: readonly (readonly number[])[],
  sampledFrameNumbers: readonly number[],
  totalFrames: number,
): (number[] | null)[] {
  if (windows.length !== predictions.length) {
    throw new RangeError(`${windows.length} windows but ${predictions.length} predictions`);
  }
  assertFrameNumbers(sampledFrameNumbers);
  const width = predictions[0]?.length ?? 0;
  const spans = windows.map((window) => frameSpan(window, sampledFrameNumbers));
  const lastFrame = Math.max(totalFrames, ...spans.map((span) => span.last));
  const sums: (number[] | null)[] = new Array<number[] | null>(lastFrame).fill(null);
  const counts = new Array<number>(lastFrame).fill(0);

  const add = (frame: number, prediction: readonly number[]): void => {
    if (prediction.length !== width) throw new RangeError(`predictions differ in length (${prediction.length} ≠ ${width})`);
    const sum = (sums[frame - 1] ??= new Array<number>(width).fill(0));
    for (let i = 0; i < width; i++) sum[i]! += prediction[i]!;
    counts[frame - 1]! += 1;
  };

  spans.forEach((span, w) => {
    for (let frame = span.first; frame <= span.last; frame++) add(frame, predictions[w]!);
  });
  const lastSpan = spans[spans.length - 1];
  const lastPrediction = predictions[predictions.length - 1];
  if (lastSpan && lastPrediction) {
    for (let frame = lastSpan.last + 1; frame <= lastFrame; frame++) add(frame, lastPrediction);
  }
  return sums.map((sum, i) => (sum ? sum.map((value) => value / counts[i]!) : null));
}

/**
 * The video's emotion as the reference prints it: the most frequent per-window argmax (SciPy's
 * `stats.mode`, which breaks ties towards the smallest label index).
 */
export function videoEmotion(predictions: readonly (readonly number[])[]): number {
  if (predictions.length === 0) throw new RangeError('no predictions');
  const votes = new Map<number, number>();
  for (const prediction of predictions) {
    const label = argmax(prediction);
    votes.set(label, (votes.get(label) ?? 0) + 1);
  }
  let best = -1;
  let bestVotes = 0;
  for (const [label, count] of votes) {
    if (count > bestVotes || (count === bestVotes && label < best)) {
      best = label;
      bestVotes = count;
    }
  }
  return best;
}

/** Index of the largest value; the first one on ties (NumPy's argmax). */
export function argmax(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('argmax of an empty vector');
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function frameSpan(window: Pick<CutWindow<unknown>, 'start' | 'count'>, frames: readonly number[]): { first: number; last: number } {
  const first = frames[window.start];
  const last = frames[window.start + window.count - 1];
  if (first === undefined || last === undefined || window.count < 1) {
    throw new RangeError(`window at ${window.start} (${window.count} items) lies outside the ${frames.length} sampled frames`);
  }
  return { first, last };
}

function assertSpec(spec: WindowSpec): void {
  if (!Number.isInteger(spec.length) || spec.length < 1)
    throw new RangeError(`window length must be a positive integer, got ${spec.length}`);
  if (!Number.isInteger(spec.step) || spec.step < 1) throw new RangeError(`window step must be a positive integer, got ${spec.step}`);
}

function assertFrameNumbers(frames: readonly number[]): void {
  frames.forEach((frame, i) => {
    if (!Number.isInteger(frame) || frame < 1) throw new RangeError(`frame numbers are 1-based integers, got ${frame}`);
    if (i > 0 && frame <= frames[i - 1]!) throw new RangeError(`frame numbers must increase (${frames[i - 1]} then ${frame})`);
  });
}
