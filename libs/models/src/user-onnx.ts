/**
 * Packs from a user's own ONNX files (e.g. their own conversion of the authors' TorchScript
 * models), accepted only when each file's signature fits its role:
 *
 * - backbone: one float32 image input [-1, H, W, 3] (NHWC) or [-1, 3, H, W] (NCHW) with a dynamic
 *   batch; two 2-D outputs [-1, F] (features) and [-1, 7] (probabilities);
 * - temporal: one float32 input [-1, T, F] with the backbone's F; one output [-1, 7].
 *
 * The signature is read from onnxruntime's own session metadata, so what is checked is what will run.
 * The manifest records EMO-AffectNet's preprocessing (BGR, VGGFace2 means, 224², NHWC or NCHW as
 * the file says): a user's conversion of the authors' models expects exactly that.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ModelSession, type PackManifest, type TensorInfo } from '@emostream/vision';
import { writePack } from './emo-affectnet/pack-writer.js';

export interface UserOnnxOptions {
  readonly name: string;
  readonly description?: string;
  /** Whether the weights are trained; the default (true) is what users' own files usually are. */
  readonly trained?: boolean;
  readonly licence: string;
  readonly backbone: string;
  readonly temporal?: string;
  readonly out: string;
  /** Output names, needed only when the outputs cannot be told apart by shape. */
  readonly featuresOutput?: string;
  readonly probsOutput?: string;
  readonly resize?: 'nearest' | 'area';
}

/** Checks the files' signatures and writes a pack; throws naming the file and the mismatch. */
export async function importUserOnnx(options: UserOnnxOptions): Promise<PackManifest> {
  const backboneBytes = new Uint8Array(await readFile(options.backbone));
  const backbone = await signature(backboneBytes, options.backbone);
  const fileName = basename(options.backbone);

  const [input, ...moreInputs] = backbone.inputs;
  if (!input || moreInputs.length > 0) throw new Error(`${fileName}: a backbone needs exactly one input, it has ${backbone.inputs.length}`);
  const layout = imageLayout(fileName, input);
  const probs = pickOutput(fileName, backbone.outputs, options.probsOutput, (o) => o.shape.length === 2 && o.shape[1] === 7, 'probabilities [-1, 7]');
  const features = pickOutput(
    fileName,
    backbone.outputs.filter((o) => o.name !== probs.name),
    options.featuresOutput,
    (o) => o.shape.length === 2 && o.shape[1]! > 0,
    'features [-1, F]',
  );
  requireDynamicBatch(fileName, [input, probs, features]);

  let temporal;
  if (options.temporal) {
    const temporalBytes = new Uint8Array(await readFile(options.temporal));
    const sig = await signature(temporalBytes, options.temporal);
    const tName = basename(options.temporal);
    const [window, ...rest] = sig.inputs;
    if (!window || rest.length > 0 || window.shape.length !== 3 || window.dtype !== 'float32') {
      throw new Error(`${tName}: a temporal model needs one float32 input [-1, T, F], it has ${describe(sig.inputs)}`);
    }
    if (window.shape[2] !== features.shape[1]) {
      throw new Error(`${tName}: reads ${window.shape[2]}-d features, but ${fileName} produces ${features.shape[1]}-d features`);
    }
    const tProbs = pickOutput(tName, sig.outputs, undefined, (o) => o.shape.length === 2 && o.shape[1] === 7, 'probabilities [-1, 7]');
    requireDynamicBatch(tName, [window, tProbs]);
    temporal = { bytes: temporalBytes, input: { name: window.name, shape: window.shape }, windowLength: window.shape[1]!, probsOutput: tProbs.name };
  }

  return writePack(options.out, {
    name: options.name,
    description: options.description ?? `User-supplied ONNX models: ${fileName}${options.temporal ? ` + ${basename(options.temporal)}` : ''}`,
    trained: options.trained ?? true,
    licence: options.licence,
    source: [options.backbone, options.temporal].filter(Boolean).map((p) => basename(p!)).join(', '),
    backbone: {
      bytes: backboneBytes,
      input: { name: input.name, shape: input.shape },
      layout,
      featuresOutput: { name: features.name, size: features.shape[1]! },
      probsOutput: probs.name,
      resize: options.resize ?? 'nearest',
    },
    ...(temporal ? { temporal } : {}),
  });
}

async function signature(bytes: Uint8Array, path: string): Promise<{ inputs: readonly TensorInfo[]; outputs: readonly TensorInfo[] }> {
  const session = await ModelSession.create(bytes, { warmUp: false }, { label: basename(path) });
  const sig = { inputs: session.inputs, outputs: session.outputs };
  await session.release();
  return sig;
}

function imageLayout(file: string, input: TensorInfo): 'NHWC' | 'NCHW' {
  const [, a, b, c] = input.shape;
  if (input.dtype === 'float32' && input.shape.length === 4) {
    if (c === 3 && a! > 0 && a === b) return 'NHWC';
    if (a === 3 && b! > 0 && b === c) return 'NCHW';
  }
  throw new Error(`${file}: backbone input "${input.name}" is ${input.dtype} [${input.shape.join(',')}]; expected float32 [-1,H,W,3] or [-1,3,H,W] with H = W`);
}

function pickOutput(file: string, outputs: readonly TensorInfo[], wanted: string | undefined, fits: (o: TensorInfo) => boolean, what: string): TensorInfo {
  if (wanted) {
    const found = outputs.find((o) => o.name === wanted);
    if (!found) throw new Error(`${file}: has no output "${wanted}" (outputs: ${describe(outputs)})`);
    if (!fits(found)) throw new Error(`${file}: output "${wanted}" is [${found.shape.join(',')}], expected ${what}`);
    return found;
  }
  const candidates = outputs.filter(fits);
  if (candidates.length !== 1) {
    throw new Error(`${file}: expected exactly one output of ${what}, found ${candidates.length} among ${describe(outputs)}; name it explicitly`);
  }
  return candidates[0]!;
}

function requireDynamicBatch(file: string, tensors: readonly TensorInfo[]): void {
  for (const t of tensors) {
    if (t.shape[0] !== -1) throw new Error(`${file}: "${t.name}" has a fixed batch of ${t.shape[0]}; the pipeline batches faces, so the first dimension must be dynamic`);
  }
}

function describe(tensors: readonly TensorInfo[]): string {
  return tensors.map((t) => `"${t.name}" [${t.shape.join(',')}]`).join(', ') || 'none';
}
