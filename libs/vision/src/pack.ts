/**
 * Model packs: a folder with `manifest.json` and the ONNX files it names.
 *
 * The manifest says, per role (`detector`, `backbone`, `temporal`, `identity`), which file to load, its
 * sha256, the exact input and outputs the model must declare, and how to prepare its input.
 * `readPack` validates the manifest and the files; `loadPack` also opens onnxruntime sessions
 * and checks each model's real input/output names and shapes against the manifest, so a pack
 * that loads is a pack the stages can run. Every failure is a {@link PackError} whose message
 * names the pack and the problem.
 *
 * A pack need not have every role: the EMO-AffectNet and synthetic packs have no detector (the
 * face stage then takes the detector of the default pack), the default pack has no temporal
 * model, and only the default pack has an identity model (the face tracker's descriptor).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { z } from 'zod';
import { EMOTION_LABELS } from '@emostream/shared';
import { StageError } from '@emostream/shared';
import { withByteImageInput } from './byte-input.js';
import { tensorSettingsOf } from './preprocess.js';
import { ModelSession, type CreateSessionOptions, type SessionConfig, type TensorInfo } from './session.js';

export const MANIFEST_FILE = 'manifest.json';
export const PACK_SCHEMA_VERSION = 1;

const TensorSpecSchema = z
  .object({
    name: z.string().min(1).describe('Name of the tensor in the ONNX graph'),
    shape: z.array(z.number().int().min(-1)).min(1).describe('Dimensions; -1 marks a dynamic one (the batch)'),
    dtype: z.enum(['float32', 'int64', 'int32', 'uint8']).default('float32'),
  })
  .strict();

const ImageInputSchema = TensorSpecSchema.extend({
  layout: z.enum(['NCHW', 'NHWC']).describe('Order of the image dimensions'),
}).strict();

const SequenceInputSchema = TensorSpecSchema.extend({
  layout: z.literal('NTC').describe('Batch, time step, feature'),
}).strict();

const ImagePreprocessingSchema = z
  .object({
    colorOrder: z.enum(['RGB', 'BGR']).describe('Channel order the model expects'),
    mean: z.tuple([z.number(), z.number(), z.number()]).describe('Subtracted per channel, in colorOrder, from 0–255 values'),
    scale: z.number().positive().default(1).describe('Multiplied after the mean subtraction (1 = none)'),
    resize: z
      .enum(['nearest', 'area', 'bilinear', 'bilinear-tf-legacy'])
      .describe(
        'nearest = PIL NEAREST, area = OpenCV INTER_AREA, bilinear = half-pixel centres, bilinear-tf-legacy = tf.image.resizeBilinear without half-pixel centres or aligned corners (face-api, human)',
      ),
    inputSize: z.object({ width: z.number().int().positive(), height: z.number().int().positive() }).strict(),
    fit: z
      .enum(['stretch', 'pad-bottom-right', 'pad-center'])
      .default('stretch')
      .describe('How a non-matching aspect ratio is handled: stretch, or pad with zeros'),
  })
  .strict();

const ModelFileSchema = z.object({
  file: z.string().min(1).describe('Path of the ONNX file, relative to the pack folder'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
});

/**
 * Packs built before the detectors' thresholds moved to detection.json (each detector's minScore)
 * carry a `scoreThreshold` here that nothing reads: it is dropped before the strict parse, so those
 * packs still load, and no pack is written with it any more.
 */
function withoutLegacyScoreThreshold(detector: unknown): unknown {
  if (typeof detector !== 'object' || detector === null || !('scoreThreshold' in detector)) return detector;
  const { scoreThreshold: _unread, ...rest } = detector as Record<string, unknown>;
  return rest;
}

const DetectorSchema = z.preprocess(
  withoutLegacyScoreThreshold,
  ModelFileSchema.extend({
    input: ImageInputSchema,
    preprocessing: ImagePreprocessingSchema,
    outputs: z.record(z.string(), TensorSpecSchema).describe('Raw outputs by purpose; the decoder knows their meaning'),
    decoder: z.string().min(1).describe('Name of the box decoder for these outputs (e.g. ssd-mobilenetv1, blazeface)'),
  }).strict(),
);

/** How far a derived backbone's outputs agree with the float32 one's on the same crops. */
export const AgreementSchema = z
  .object({
    crops: z.number().int().positive().describe('Face crops compared'),
    top1: z.number().min(0).max(1).describe("Share of crops whose most probable label is the float32 model's"),
    top1Crops: z.number().int().min(0).describe('How many crops that is'),
    embeddingError: z.number().min(0).describe("Mean L2 distance between a crop's features and the float32 features of the same crop"),
    faceSpread: z.number().positive().describe('Mean L2 distance between the float32 features of two different crops'),
    relativeEmbeddingError: z.number().min(0).describe('embeddingError / faceSpread'),
    maxProbabilityError: z.number().min(0).max(1).describe('Largest |p − p_float32| over crops and labels'),
  })
  .strict();
export type Agreement = z.infer<typeof AgreementSchema>;

export const INT8_SCHEMES = ['u8s8', 'u8s8-reduce-range', 'u8u8'] as const;
export type Int8Scheme = (typeof INT8_SCHEMES)[number];
export const CALIBRATION_METHODS = ['minmax', 'percentile'] as const;
export type CalibrationMethod = (typeof CALIBRATION_METHODS)[number];

/** What `emo models quantize` records about a backbone it made from a float32 one. */
export const QuantizationSchema = z
  .object({
    method: z.string().min(1).describe('The quantization method and the tool that did it'),
    scheme: z.enum(INT8_SCHEMES).describe('Activation / weight types: u8s8, u8s8 with 7-bit weights (reduce range), u8u8'),
    calibrationMethod: z.enum(CALIBRATION_METHODS).describe('How activation ranges were set: min/max, or the 99.999th percentile of |x|'),
    opTypes: z.array(z.string()).min(1).describe('The ONNX op types quantized; the rest stay float32'),
    from: z.object({ pack: z.string().min(1), file: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    calibration: z
      .object({
        sources: z.array(z.string()).min(1).describe('Videos, images, folders, or "shipped" (the repository\'s test media)'),
        crops: z.number().int().positive().describe('Crops that calibrated (and chose the scheme)'),
        maxCrops: z.number().int().positive().describe('Crops taken from the sources at most, held-out ones included'),
      })
      .strict(),
    chosenBy: z.string().min(1).describe('How the scheme was chosen'),
    candidates: z
      .array(
        z
          .object({ scheme: z.enum(INT8_SCHEMES), calibrationMethod: z.enum(CALIBRATION_METHODS), calibrationAgreement: AgreementSchema })
          .strict(),
      )
      .min(1)
      .describe('Each scheme and calibration tried, with its agreement on the calibration crops'),
    heldOut: z
      .object({
        sources: z.array(z.string()).min(1),
        rule: z.string().min(1).describe('Which crops were held out of calibration and of the choice'),
        sha256: z
          .string()
          .regex(/^[0-9a-f]{64}$/)
          .describe("Of the held-out crops' float32 tensor, so a re-measurement can tell it has the same crops"),
        agreement: AgreementSchema,
      })
      .strict()
      .describe('Agreement with the float32 backbone on crops neither calibration nor the choice saw'),
    measuredOn: z
      .string()
      .min(1)
      .describe('The CPU and its vector extensions: int8 kernels (and so agreement) differ between AVX2-only and VNNI machines'),
  })
  .strict();
export type Quantization = z.infer<typeof QuantizationSchema>;

/** How a detector box becomes a model's crop (the backbone's, the identity model's). */
const CropSchema = z
  .object({
    expand: z.number().positive().default(1).describe('Box width and height are multiplied by this around its centre (1 = as detected)'),
    square: z.boolean().default(false).describe('Grow the shorter side to make the crop square before resizing'),
  })
  .strict();

const BackboneSchema = ModelFileSchema.extend({
  input: ImageInputSchema,
  preprocessing: ImagePreprocessingSchema,
  crop: CropSchema.describe('How a detector box becomes the crop this backbone sees'),
  outputs: z
    .object({
      features: TensorSpecSchema.describe('Embedding fed to the temporal model, [N, F]'),
      probs: TensorSpecSchema.describe('Static class probabilities in the pack label order, [N, 7]'),
    })
    .strict(),
  quantization: QuantizationSchema.optional().describe('Present when this backbone is an int8 copy of a float32 one (emo models quantize)'),
}).strict();

/**
 * An identity model: a face crop in, a descriptor out whose cosine tells whether two faces are one
 * person. Optional: the face tracker tells people apart by it where two faces could be confused
 * (crossing, one coming back), and without it by its cheap colour-and-layout descriptor.
 */
const IdentitySchema = ModelFileSchema.extend({
  input: ImageInputSchema,
  preprocessing: ImagePreprocessingSchema,
  crop: CropSchema.describe('How a detector box becomes the crop this model sees'),
  outputs: z.object({ descriptor: TensorSpecSchema.describe('The face descriptor, [N, D]; compared by cosine') }).strict(),
  licence: z.string().min(1).describe("Licence of this model's weights and code"),
}).strict();

const TemporalSchema = ModelFileSchema.extend({
  input: SequenceInputSchema,
  windowLength: z.number().int().positive().describe('Feature vectors per window (EMO-AffectNet: 10)'),
  outputs: z.object({ probs: TensorSpecSchema }).strict(),
}).strict();

/** The `manifest.json` of a model pack. */
export const PackManifestSchema = z
  .object({
    schemaVersion: z.literal(PACK_SCHEMA_VERSION),
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" and "-"'),
    description: z.string(),
    trained: z.boolean().describe('false for packs of random weights (synthetic): never offered as a trained model'),
    licence: z.string().min(1).describe('Licence text or summary of the weights and code'),
    source: z.string().optional().describe('Where the weights came from'),
    labels: z.array(z.string()).describe(`The label of each probability output index; a permutation of ${EMOTION_LABELS.join(', ')}`),
    models: z
      .object({
        detector: DetectorSchema.optional(),
        backbone: BackboneSchema,
        temporal: TemporalSchema.optional(),
        identity: IdentitySchema.optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((manifest, ctx) => {
    const unknown = manifest.labels.filter((l) => !(EMOTION_LABELS as readonly string[]).includes(l));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['labels'],
        message: `unknown label ${unknown.map((l) => `"${l}"`).join(', ')}; allowed: ${EMOTION_LABELS.join(', ')}`,
      });
      return;
    }
    const missing = EMOTION_LABELS.filter((l) => !manifest.labels.includes(l));
    if (missing.length > 0 || manifest.labels.length !== EMOTION_LABELS.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['labels'],
        message: `must name each of the 7 labels exactly once; missing ${missing.join(', ') || 'none'}, got ${manifest.labels.length}`,
      });
    }
  });
export type PackManifest = z.infer<typeof PackManifestSchema>;
export type PackManifestInput = z.input<typeof PackManifestSchema>;
export type ModelRole = 'detector' | 'backbone' | 'temporal' | 'identity';
export const MODEL_ROLES: readonly ModelRole[] = ['detector', 'backbone', 'temporal', 'identity'];

/**
 * Thrown by `readPack`/`loadPack` when a pack cannot be used (missing or changed file, invalid
 * manifest, model signature unlike the manifest); `message` names the pack and what is wrong.
 * Not retriable: a broken pack stays broken until it is fixed or rebuilt.
 */
export class PackError extends StageError {
  constructor(
    readonly pack: string,
    problem: string,
    options: { cause?: unknown } = {},
  ) {
    super('MODEL_PACK_INVALID', `model pack "${pack}": ${problem}`, options);
    this.name = 'PackError';
  }
}

/** A pack whose manifest and files have been checked. */
export interface CheckedPack {
  readonly dir: string;
  readonly manifest: PackManifest;
  /** Absolute path of each present role's ONNX file. */
  readonly files: Partial<Record<ModelRole, string>>;
  /** `toReferenceOrder[i]` = index in {@link EMOTION_LABELS} of the model's output i. */
  readonly toReferenceOrder: readonly number[];
}

/** A pack with open sessions for the requested roles. */
export interface LoadedPack extends CheckedPack {
  readonly sessions: Partial<Record<ModelRole, ModelSession>>;
}

/** Reads and validates `dir/manifest.json`, checks every named file exists and matches its sha256. */
export async function readPack(dir: string): Promise<CheckedPack> {
  const manifestPath = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new PackError(dir, `${MANIFEST_FILE} not found in ${dir}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PackError(dir, `${MANIFEST_FILE} is not valid JSON: ${String(error)}`, { cause: error });
  }
  const packName =
    typeof json === 'object' && json !== null && typeof (json as { name?: unknown }).name === 'string'
      ? (json as { name: string }).name
      : dir;
  const parsed = PackManifestSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PackError(packName, `${MANIFEST_FILE} is invalid: ${problems}`);
  }
  const manifest = parsed.data;

  const files: Partial<Record<ModelRole, string>> = {};
  for (const role of MODEL_ROLES) {
    const spec = manifest.models[role];
    if (!spec) continue;
    const path = resolveInside(manifest.name, dir, spec.file);
    try {
      if (!(await stat(path)).isFile()) throw new Error('not a regular file');
    } catch (error) {
      throw new PackError(manifest.name, `${role} model file ${spec.file} is missing (${path})`, { cause: error });
    }
    const actual = await modelFileSha256(path);
    if (actual !== spec.sha256) {
      throw new PackError(
        manifest.name,
        `${role} model file ${spec.file} has sha256 ${actual}, the manifest says ${spec.sha256} (file changed or corrupt; rebuild the pack)`,
      );
    }
    files[role] = path;
  }
  const toReferenceOrder = manifest.labels.map((l) => (EMOTION_LABELS as readonly string[]).indexOf(l));
  return { dir, manifest, files, toReferenceOrder };
}

/**
 * One model output row (probabilities in the pack's label order) rearranged into
 * {@link EMOTION_LABELS} order, using {@link CheckedPack.toReferenceOrder}.
 */
export function toReferenceProbabilities(row: ArrayLike<number>, toReferenceOrder: readonly number[]): Float32Array {
  if (row.length !== toReferenceOrder.length) throw new Error(`expected ${toReferenceOrder.length} probabilities, got ${row.length}`);
  const out = new Float32Array(EMOTION_LABELS.length);
  for (let i = 0; i < toReferenceOrder.length; i++) out[toReferenceOrder[i]!] = row[i]!;
  return out;
}

/** Options of {@link loadPack}. */
export interface LoadPackOptions {
  /** Roles to open sessions for (default: all present). */
  readonly roles?: readonly ModelRole[];
  readonly session?: Partial<SessionConfig>;
  readonly logger?: CreateSessionOptions['logger'];
  /**
   * The backbone's session takes its crops as bytes (uint8 RGB, [N, H, W, 3]) and prepares them
   * inside the graph ({@link withByteImageInput}): what the backbone stage runs. Off, it takes the
   * float tensor the manifest declares (parity checks, tools).
   */
  readonly backboneTakesBytes?: boolean;
}

/**
 * {@link readPack}, then opens (and warms up) a session per role and checks that the model's real
 * inputs and outputs are the ones the manifest declares.
 */
export async function loadPack(dir: string, options: LoadPackOptions = {}): Promise<LoadedPack> {
  const checked = await readPack(dir);
  const { manifest } = checked;
  const sessions: Partial<Record<ModelRole, ModelSession>> = {};
  try {
    for (const role of options.roles ?? MODEL_ROLES) {
      const spec = manifest.models[role];
      const file = checked.files[role];
      if (!spec || !file) {
        if (options.roles) throw new PackError(manifest.name, `has no ${role} model`);
        continue;
      }
      let model: string | Uint8Array = file;
      let input: z.infer<typeof TensorSpecSchema> = spec.input;
      if (role === 'backbone' && options.backboneTakesBytes === true) {
        try {
          model = withByteImageInput(await readFile(file), spec.input.name, tensorSettingsOf(spec as BackboneSpec));
          input = byteImageInputSpec(spec as BackboneSpec);
        } catch (error) {
          // A graph the steps cannot be put in front of still runs as it is, on crops prepared by writeTensor.
          options.logger?.warn(
            { model: `${manifest.name}/${role}`, err: String(error) },
            'the backbone takes floats: its crops are prepared on the main thread',
          );
        }
      }
      let session: ModelSession;
      try {
        session = await ModelSession.create(model, options.session ?? {}, {
          label: `${manifest.name}/${role}`,
          ...(options.logger ? { logger: options.logger } : {}),
        });
      } catch (error) {
        throw new PackError(manifest.name, `${role} model ${spec.file} cannot be loaded: ${String(error)}`, { cause: error });
      }
      sessions[role] = session;
      checkSignature(manifest.name, role, [input], session.inputs, 'input');
      checkSignature(manifest.name, role, Object.values(spec.outputs), session.outputs, 'output');
    }
  } catch (error) {
    await Promise.all(Object.values(sessions).map((s) => s.release()));
    throw error;
  }
  return { ...checked, sessions };
}

type BackboneSpec = NonNullable<PackManifest['models']['backbone']>;

/** The input a backbone takes as bytes: the same name, uint8 RGB [N, H, W, 3]. */
function byteImageInputSpec(spec: BackboneSpec): z.infer<typeof TensorSpecSchema> {
  const { width, height } = spec.preprocessing.inputSize;
  return { name: spec.input.name, dtype: 'uint8', shape: [spec.input.shape[0]!, height, width, 3] };
}

/** Compares declared tensors with a model's metadata; throws a PackError naming the first mismatch. */
export function checkSignature(
  pack: string,
  role: ModelRole,
  declared: readonly z.infer<typeof TensorSpecSchema>[],
  actual: readonly TensorInfo[],
  kind: 'input' | 'output',
): void {
  if (kind === 'input' && declared.length !== actual.length) {
    throw new PackError(
      pack,
      `${role} model has inputs ${actual.map((a) => a.name).join(', ')}, the manifest declares ${declared.map((d) => d.name).join(', ')}`,
    );
  }
  for (const spec of declared) {
    const found = actual.find((a) => a.name === spec.name);
    if (!found) {
      throw new PackError(pack, `${role} model has no ${kind} "${spec.name}" (it has ${actual.map((a) => `"${a.name}"`).join(', ')})`);
    }
    if (found.dtype !== spec.dtype) {
      throw new PackError(pack, `${role} ${kind} "${spec.name}" is ${found.dtype}, the manifest says ${spec.dtype}`);
    }
    const same = found.shape.length === spec.shape.length && found.shape.every((d, i) => d === spec.shape[i]);
    if (!same) {
      throw new PackError(
        pack,
        `${role} ${kind} "${spec.name}" has shape [${found.shape.join(',')}], the manifest says [${spec.shape.join(',')}]`,
      );
    }
  }
}

/** sha256 of a file, streamed (backbones are ~100 MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Beside the model files: the sha256 of each, with the size, mtime and inode it was computed for. */
export const HASH_CACHE_FILE = '.sha256-cache.json';

interface CachedHash {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

/**
 * sha256 of a model file, hashed once per version of the file: the result is kept in
 * {@link HASH_CACHE_FILE} beside it with the file's size, mtime and inode, and reused while all three
 * are unchanged (a rebuilt, copied or edited file differs in one of them and is hashed again).
 * Hashing the ~100 MB ResNet50 on every start (several times: each process reads its pack) cost
 * 0.3–2 s of every `emo run`. A folder that cannot be written (a read-only image) hashes every time.
 * `emo models verify` drops the cache first ({@link forgetModelHashes}), so it reads every byte.
 */
export async function modelFileSha256(path: string): Promise<string> {
  const { size, mtimeMs, ino } = await stat(path);
  const cacheFile = join(dirname(path), HASH_CACHE_FILE);
  const cache = await readFile(cacheFile, 'utf8')
    .then((text) => JSON.parse(text) as Record<string, CachedHash>)
    .catch((): Record<string, CachedHash> => ({}));
  const known = cache[basename(path)];
  if (known && known.size === size && known.mtimeMs === mtimeMs && known.ino === ino) return known.sha256;
  const sha256 = await sha256File(path);
  cache[basename(path)] = { size, mtimeMs, ino, sha256 };
  // Written whole and renamed into place, so a process reading it never sees half a file.
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(cache, null, 1))
    .then(() => rename(temporary, cacheFile))
    .catch(() => rm(temporary, { force: true }));
  return sha256;
}

/** Drops the remembered hashes of a pack folder: the next check reads every file again. */
export async function forgetModelHashes(dir: string): Promise<void> {
  await rm(join(dir, HASH_CACHE_FILE), { force: true });
}

function resolveInside(pack: string, dir: string, file: string): string {
  const rel = normalize(file);
  if (isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new PackError(pack, `model file ${file} must be a path inside the pack folder`);
  }
  return join(dir, rel);
}
