import { toReferenceProbabilities, type LoadedPack } from '@emostream/vision';

/** The pack's temporal model (the EMO-AffectNet LSTM): windows of features in, 7 probabilities per window out. */
export interface TemporalModel {
  readonly windowLength: number;
  /** `windows` holds `count` windows of `windowLength` × featureSize floats, oldest first; returns count × 7 probabilities. */
  predict(windows: Float32Array, count: number, featureSize: number): Promise<Float32Array>;
}

/**
 * The model over whole windows in one call — the one place windows are packed for it (the temporal
 * stage's sliding windows and emo run's offline report alike): window i's item t at
 * (i × windowLength + t) × featureSize, every window exactly `windowLength` items of one feature size.
 * Returns one row of 7 probabilities per window (views into the model's output).
 */
export async function predictWindows(model: TemporalModel, windows: readonly (readonly Float32Array[])[]): Promise<Float32Array[]> {
  if (windows.length === 0) return [];
  const featureSize = windows[0]![0]!.length;
  const batch = new Float32Array(windows.length * model.windowLength * featureSize);
  windows.forEach((rows, i) => {
    if (rows.length !== model.windowLength)
      throw new RangeError(`window ${i} holds ${rows.length} items, the model takes ${model.windowLength}`);
    rows.forEach((row, t) => batch.set(row, (i * model.windowLength + t) * featureSize));
  });
  const out = await model.predict(batch, windows.length, featureSize);
  return windows.map((_, i) => out.subarray(i * 7, i * 7 + 7));
}

/** The pack's LSTM as a TemporalModel, or null when the pack has none (the static-mean fallback then applies). */
export function packTemporal(pack: LoadedPack): TemporalModel | null {
  const spec = pack.manifest.models.temporal;
  const session = pack.sessions.temporal;
  if (!spec || !session) return null;
  return {
    windowLength: spec.windowLength,
    async predict(windows, count, featureSize) {
      const out = await session.run({ [spec.input.name]: { data: windows, dims: [count, spec.windowLength, featureSize] } });
      const probs = out[spec.outputs.probs.name]!.data;
      const width = pack.toReferenceOrder.length;
      const reordered = new Float32Array(count * 7);
      for (let i = 0; i < count; i += 1)
        reordered.set(toReferenceProbabilities(probs.subarray(i * width, (i + 1) * width), pack.toReferenceOrder), i * 7);
      return reordered;
    },
  };
}
