import {
  toReferenceProbabilities,
  tensorSettingsOf,
  writeTensor,
  type LoadedPack,
  type RgbImage,
  type TensorSettings,
} from '@emostream/vision';

/** What the backbone stage needs from a model: face crops in, features and 7 probabilities (REFERENCE label order) out. */
export interface BackboneModel {
  readonly inputSize: { width: number; height: number };
  embed(crops: RgbImage[]): Promise<{ features: Float32Array; probs: Float32Array }[]>;
}

/**
 * Whether the backbone is loaded to take its crops as bytes (`loadPack`'s `backboneTakesBytes`): on a
 * GPU yes (nothing per value on the main thread, a quarter of the bytes to copy). On CPU no: there
 * writeTensor on the main thread overlaps the model's previous call, while inside the graph the same
 * work adds to a model that already fills the cores (~2 % fewer faces/s in bench:backbone).
 */
export function backboneTakesBytesOn(executionProvider: 'cpu' | 'cuda'): boolean {
  return executionProvider === 'cuda';
}

/** The pack's backbone session as a BackboneModel: one session.run per call, the whole batch at once. */
export function packBackbone(pack: LoadedPack): BackboneModel {
  const spec = pack.manifest.models.backbone;
  const session = pack.sessions.backbone;
  if (!session) throw new Error(`pack ${pack.manifest.name} was loaded without its backbone session`);
  const settings: TensorSettings = tensorSettingsOf(spec);
  const { width, height } = settings.inputSize;
  const perImage = width * height * 3;
  // Loaded with `backboneTakesBytes`, the model prepares the crops itself: they are only copied side by side.
  const takesBytes = session.inputs.find((i) => i.name === spec.input.name)?.dtype === 'uint8';
  return {
    inputSize: { width, height },
    async embed(crops) {
      if (crops.length === 0) return [];
      const input = takesBytes ? new Uint8Array(crops.length * perImage) : new Float32Array(crops.length * perImage);
      crops.forEach((crop, i) => {
        if (crop.width !== width || crop.height !== height) {
          throw new Error(`crop is ${crop.width}×${crop.height}, the backbone takes ${width}×${height}`);
        }
        if (input instanceof Uint8Array) input.set(crop.data, i * perImage);
        else writeTensor(crop, settings, input, i * perImage);
      });
      const dims = takesBytes || settings.layout === 'NHWC' ? [crops.length, height, width, 3] : [crops.length, 3, height, width];
      // The batch tensor is built for this call only: hand it to the inference thread rather than copy it.
      const out = await session.run({ [spec.input.name]: { data: input, dims } }, { transferInputs: true });
      const features = out[spec.outputs.features.name]!;
      const probs = out[spec.outputs.probs.name]!;
      const featureSize = features.data.length / crops.length;
      return crops.map((_, i) => ({
        features: features.data.slice(i * featureSize, (i + 1) * featureSize),
        probs: toReferenceProbabilities(
          probs.data.subarray(i * pack.toReferenceOrder.length, (i + 1) * pack.toReferenceOrder.length),
          pack.toReferenceOrder,
        ),
      }));
    },
  };
}

/**
 * Runs the model twice on `batch` blank crops. onnxruntime's memory arena grows to fit the largest
 * batch it has run and keeps that size (and a second run of that size grows it once more): warmed
 * at the stage's largest batch, a long-running backbone is at its memory plateau from the start
 * instead of stepping up by ~150 MiB at the first burst (after a broker outage, a rebalance), and
 * that first burst does not pay for the allocation.
 */
export async function warmUpAtBatch(model: BackboneModel, batch: number): Promise<void> {
  const { width, height } = model.inputSize;
  const blank: RgbImage = { width, height, data: new Uint8Array(width * height * 3) };
  const crops = Array.from({ length: batch }, () => blank);
  for (let run = 0; run < 2; run += 1) await model.embed(crops);
}
