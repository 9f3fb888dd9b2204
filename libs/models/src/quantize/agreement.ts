// How far a quantized backbone agrees with its float32 original, both run by onnxruntime-node (the
// runtime the services use) on the same crops: top-1 agreement, and the features' error relative to
// how far apart different faces' features are (an error small against that spread cannot move a
// face to another face's place, whatever the features' scale).
import type { Agreement } from '@emostream/vision';
import { ModelSession } from '@emostream/vision';
import type { CropSet } from './crops.js';

/** What a backbone gave for each crop. */
export interface BackboneOutputs {
  readonly probs: Float32Array[];
  readonly features: Float32Array[];
}

const BATCH = 16;

/** Runs the backbone file on every crop (batches of 16, one thread pool of onnxruntime's default). */
export async function runBackbone(
  file: string,
  names: { input: string; probs: string; features: string },
  crops: CropSet,
): Promise<BackboneOutputs> {
  const session = await ModelSession.create(file, { warmUp: false }, { label: file });
  try {
    const size = crops.shape.reduce((a, b) => a * b, 1);
    const probs: Float32Array[] = [];
    const features: Float32Array[] = [];
    for (let start = 0; start < crops.count; start += BATCH) {
      const n = Math.min(BATCH, crops.count - start);
      const data = crops.data.slice(start * size, (start + n) * size);
      const out = await session.run({ [names.input]: { data, dims: [n, ...crops.shape] } });
      const p = out[names.probs]!.data;
      const f = out[names.features]!.data;
      const pSize = p.length / n;
      const fSize = f.length / n;
      for (let i = 0; i < n; i++) {
        probs.push(p.slice(i * pSize, (i + 1) * pSize));
        features.push(f.slice(i * fSize, (i + 1) * fSize));
      }
    }
    return { probs, features };
  } finally {
    await session.release();
  }
}

/** Agreement of `derived` with `reference` (the float32 backbone's outputs on the same crops). */
export function measureAgreement(reference: BackboneOutputs, derived: BackboneOutputs): Agreement {
  const n = reference.probs.length;
  if (n < 2 || derived.probs.length !== n) throw new Error(`agreement needs the same ≥ 2 crops from both models (got ${n} and ${derived.probs.length})`);
  let same = 0;
  let errorSum = 0;
  let maxProbabilityError = 0;
  for (let i = 0; i < n; i++) {
    if (argmax(reference.probs[i]!) === argmax(derived.probs[i]!)) same++;
    errorSum += distance(reference.features[i]!, derived.features[i]!);
    for (let k = 0; k < reference.probs[i]!.length; k++) maxProbabilityError = Math.max(maxProbabilityError, Math.abs(reference.probs[i]![k]! - derived.probs[i]![k]!));
  }
  let spreadSum = 0;
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      spreadSum += distance(reference.features[i]!, reference.features[j]!);
      pairs++;
    }
  }
  const embeddingError = errorSum / n;
  const faceSpread = spreadSum / pairs;
  if (!(faceSpread > 0)) throw new Error('every crop gave the float32 backbone the same features: these crops cannot measure agreement');
  return {
    crops: n,
    top1: same / n,
    top1Crops: same,
    embeddingError,
    faceSpread,
    relativeEmbeddingError: embeddingError / faceSpread,
    maxProbabilityError,
  };
}

/**
 * Fails, naming each figure, when `measured` is worse than `recorded`: fewer crops with the float32
 * label, or a relative embedding error above the recorded one by more than 1 % of it (onnxruntime's
 * threads may sum in another order from run to run; a label flip is never excused).
 */
export function assertAgreementHolds(recorded: Agreement, measured: Agreement): void {
  const problems: string[] = [];
  if (measured.crops !== recorded.crops) problems.push(`${measured.crops} crops measured, ${recorded.crops} recorded`);
  if (measured.top1Crops < recorded.top1Crops)
    problems.push(`top-1 agreement ${pct(measured.top1)} (${measured.top1Crops}/${measured.crops}) < recorded ${pct(recorded.top1)} (${recorded.top1Crops}/${recorded.crops})`);
  if (measured.relativeEmbeddingError > recorded.relativeEmbeddingError * 1.01)
    problems.push(`relative embedding error ${measured.relativeEmbeddingError.toFixed(4)} > recorded ${recorded.relativeEmbeddingError.toFixed(4)}`);
  if (problems.length > 0) throw new Error(`the quantized backbone agrees with float32 less than its manifest records: ${problems.join('; ')}`);
}

export const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum);
}
