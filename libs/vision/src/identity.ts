/**
 * A pack's identity model (manifest `models.identity`): face crops in, one unit-length descriptor
 * per face out, whose cosine says whether two faces are one person. The face tracker uses it where
 * its cheap descriptor cannot tell two people apart (two faces near each other, a person coming back).
 *
 * One call is one batch: every face asked for in a frame goes through one run of the model, on the
 * session's inference thread (the event loop goes on meanwhile).
 */
import { cropImage, squareResize } from './detect/image.js';
import { checkSignature, readPack, PackError } from './pack.js';
import { adjustBox, type BoxLike, type RgbImage } from './preprocess.js';
import { ModelSession, type SessionConfig } from './session.js';

export interface FaceIdentityModel {
  /** Unit-length descriptors of the faces in `boxes` (frame pixels), in their order; [] for none. */
  describe(frame: RgbImage, boxes: readonly BoxLike[]): Promise<Float32Array[]>;
  /** Faces described and the time it took (crop, model run), for the benchmarks. */
  readonly stats: { faces: number; runs: number; ms: number };
  release(): Promise<void>;
}

/**
 * The identity model of the pack in `dir`, opened and checked against its manifest entry, or
 * undefined when the pack has none (the tracker then uses its cheap descriptor alone).
 */
export async function openPackIdentity(dir: string, session: Partial<SessionConfig> = {}): Promise<FaceIdentityModel | undefined> {
  const pack = await readPack(dir);
  const spec = pack.manifest.models.identity;
  const file = pack.files.identity;
  if (!spec || !file) return undefined;
  const { width, height } = spec.preprocessing.inputSize;
  // The crops are prepared here as face-api prepares them (pad to a square, centred; tf bilinear);
  // a pack asking for another preparation is refused rather than fed crops it was not made for.
  const p = spec.preprocessing;
  if (
    width !== height ||
    p.fit !== 'pad-center' ||
    p.resize !== 'bilinear-tf-legacy' ||
    p.colorOrder !== 'RGB' ||
    p.mean.some((m) => m !== 0) ||
    p.scale !== 1 ||
    spec.input.layout !== 'NHWC'
  ) {
    throw new PackError(
      pack.manifest.name,
      'identity model: only square NHWC RGB 0–255 input, pad-center fit and bilinear-tf-legacy resize are supported',
    );
  }
  let model: ModelSession;
  try {
    model = await ModelSession.create(file, session, { label: `${pack.manifest.name}/identity` });
  } catch (error) {
    throw new PackError(pack.manifest.name, `identity model ${spec.file} cannot be loaded: ${String(error)}`, { cause: error });
  }
  try {
    checkSignature(pack.manifest.name, 'identity', [spec.input], model.inputs, 'input');
    checkSignature(pack.manifest.name, 'identity', Object.values(spec.outputs), model.outputs, 'output');
  } catch (error) {
    await model.release();
    throw error;
  }
  const size = width;
  const stats = { faces: 0, runs: 0, ms: 0 };
  return {
    stats,
    async describe(frame, boxes) {
      if (boxes.length === 0) return [];
      const started = performance.now();
      const per = size * size * 3;
      const batch = new Float32Array(boxes.length * per);
      boxes.forEach((box, i) => {
        const b = adjustBox(box, spec.crop);
        batch.set(squareResize(cropImage(frame, b.x, b.y, b.width, b.height), size, 'centre').data, i * per);
      });
      const out = await model.run({ [spec.input.name]: { data: batch, dims: [boxes.length, size, size, 3] } }, { transferInputs: true });
      const { data, dims } = out[spec.outputs.descriptor.name]!;
      const length = dims[1]!;
      const descriptors = boxes.map((_, i) => unit(data.slice(i * length, (i + 1) * length)));
      stats.faces += boxes.length;
      stats.runs += 1;
      stats.ms += performance.now() - started;
      return descriptors;
    },
    release: () => model.release(),
  };
}

function unit(values: Float32Array): Float32Array {
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.sqrt(norm);
  if (norm > 0) for (let i = 0; i < values.length; i++) values[i] = values[i]! / norm;
  return values;
}
