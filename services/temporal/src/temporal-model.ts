import { toReferenceProbabilities, type LoadedPack } from '@emostream/vision';
import type { TemporalModel } from './handler.js';

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
