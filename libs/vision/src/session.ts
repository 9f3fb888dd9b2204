/**
 * The one onnxruntime-node session wrapper every stage uses.
 *
 * - execution provider from config: `cpu` (default) or `cuda`; CUDA that cannot be loaded
 *   (no GPU, or onnxruntime-node installed without its CUDA binaries) falls back to CPU with a
 *   logged warning instead of failing the stage;
 * - intra-op threads from config;
 * - a warm-up run at creation (first runs allocate memory arenas and pick kernels: tens to
 *   hundreds of ms that must not land on the first real frame);
 * - dynamic batch: symbolic dimensions (e.g. `N`) are reported as -1 and any batch size is accepted;
 * - typed feeds and results: `ModelSession<'input', 'features' | 'probs'>`.
 *
 * ```ts
 * const s = await ModelSession.create<'input', 'features' | 'probs'>('backbone.onnx', { executionProvider: 'cpu' });
 * const { features } = await s.run({ input: { data, dims: [n, 224, 224, 3] } });
 * ```
 */
import { cpus as machineCpus } from 'node:os';
import ort from 'onnxruntime-node';
import { z } from 'zod';
import { StageError, usableCpus } from '@emostream/shared';
import { moduleLogger } from '@emostream/shared';
import { createSessionInThread, sessionOnThisThread, type OrtSessionLike } from './inference-thread.js';

/** Session settings, part of each model-using stage's config. */
export const SessionConfigSchema = z
  .object({
    executionProvider: z
      .enum(['cpu', 'cuda'])
      .default('cpu')
      .describe(
        'Where models run: cpu, or cuda (falls back to cpu with a warning when CUDA cannot be loaded); stages map it from EMOSTREAM_EXECUTION_PROVIDER',
      ),
    intraOpThreads: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        "Threads one operator may use; 0 lets onnxruntime choose (one per physical core), or takes the CPUs this process may use where fewer (a container's CPU limit, a CPU set); stages map it from EMOSTREAM_INTRA_OP_THREADS",
      ),
    spinWait: z
      .boolean()
      .default(false)
      .describe(
        "Let onnxruntime's threads spin-wait for the next run instead of sleeping: a little lower latency on cores of their own, but on shared cores (emo run, several models in one stage) the spinning took a quarter of the CPU the other stages needed; stages map it from EMOSTREAM_ORT_SPIN_WAIT",
      ),
    warmUp: z.boolean().default(true).describe('Run the model once on zeros at start so the first real batch is not slow'),
    inferenceThread: z
      .boolean()
      .default(true)
      .describe(
        'Run the model in a worker thread of its own, so decoding, batching and the bus go on while it computes; stages map it from EMOSTREAM_INFERENCE_THREAD',
      ),
  })
  .strict();
export type SessionConfig = z.infer<typeof SessionConfigSchema>;

/** onnxruntime's session config entries (`extra`) that let its threads spin between runs, or sleep. */
export function spinningEntries(spin: boolean) {
  const allow_spinning = spin ? '1' : '0';
  return { session: { intra_op: { allow_spinning }, inter_op: { allow_spinning } } };
}

/** Element types the wrapper feeds and returns. */
export type ElementType = 'float32' | 'int64' | 'int32' | 'uint8';
type TypedArrayOf<T extends ElementType> = T extends 'float32'
  ? Float32Array
  : T extends 'int64'
    ? BigInt64Array
    : T extends 'int32'
      ? Int32Array
      : Uint8Array;

/** One tensor fed to or returned by a session: flat row-major data plus its dimensions. */
export interface TensorValue<T extends ElementType = 'float32'> {
  readonly data: TypedArrayOf<T>;
  readonly dims: readonly number[];
}

/** What a model declares about one input or output; dynamic dimensions are -1. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** The subset of a pino logger the wrapper uses (default: the shared `moduleLogger('model-session')`). */
export interface ModelLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of one {@link ModelSession.run}. */
export interface RunOptions {
  /**
   * Hand the inputs' buffers to the inference thread instead of copying them (a batch of 32 ResNet50
   * crops is 19 MB). The caller must not touch the input arrays afterwards: they are detached.
   */
  readonly transferInputs?: boolean;
}

/** Options of {@link ModelSession.create} that are not config. */
export interface CreateSessionOptions {
  /** Name used in logs and errors, e.g. `synthetic/backbone`. */
  readonly label?: string;
  readonly logger?: ModelLogger;
  /** Sizes for dynamic dims other than the batch during warm-up (default 1 for every dynamic dim). */
  readonly warmUpDims?: Readonly<Record<string, readonly number[]>>;
}

/**
 * Thrown when onnxruntime cannot load a model, an input is missing or mis-shaped, or a run fails;
 * the message names the model. Not retriable: the same input fails the same way again.
 */
export class ModelSessionError extends StageError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('MODEL_SESSION_FAILED', message, options);
    this.name = 'ModelSessionError';
  }
}

/** A loaded ONNX model with typed inputs `I` and outputs `O`. */
export class ModelSession<I extends string = string, O extends string = string> {
  private constructor(
    private readonly session: OrtSessionLike,
    readonly label: string,
    /** The provider actually in use (after any fallback). */
    readonly executionProvider: 'cpu' | 'cuda',
    readonly inputs: readonly TensorInfo[],
    readonly outputs: readonly TensorInfo[],
  ) {}

  /** Loads a model from a file path or bytes, applies the config and warms it up. */
  static async create<I extends string = string, O extends string = string>(
    model: string | Uint8Array,
    config: Partial<SessionConfig> = {},
    options: CreateSessionOptions = {},
  ): Promise<ModelSession<I, O>> {
    const cfg = SessionConfigSchema.parse(config);
    const label = options.label ?? (typeof model === 'string' ? model : 'model');
    const logger = options.logger ?? defaultLogger();
    const intraOpThreads = intraOpThreadsOf(cfg.intraOpThreads);
    const base: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      ...(intraOpThreads ? { intraOpNumThreads: intraOpThreads } : {}),
      extra: spinningEntries(cfg.spinWait),
    };

    let provider: 'cpu' | 'cuda' = cfg.executionProvider;
    const open = (options: ort.InferenceSession.SessionOptions) =>
      cfg.inferenceThread ? createSessionInThread(model, options) : createOrt(model, options);
    let session: OrtSessionLike | undefined;
    if (provider === 'cuda') {
      try {
        // Only 'cuda' in the list: with ['cuda','cpu'] onnxruntime would fall back silently.
        session = await open({ ...base, executionProviders: ['cuda'] });
      } catch (error) {
        logger.warn({ model: label, err: String(error) }, 'CUDA execution provider unavailable; falling back to CPU');
        provider = 'cpu';
      }
    }
    try {
      session ??= await open({ ...base, executionProviders: ['cpu'] });
    } catch (error) {
      throw new ModelSessionError(`model ${label}: onnxruntime cannot load it: ${String(error)}`, { cause: error });
    }

    const wrapped = new ModelSession<I, O>(
      session,
      label,
      provider,
      session.inputMetadata.map(toTensorInfo),
      session.outputMetadata.map(toTensorInfo),
    );
    if (cfg.warmUp) await wrapped.runOnZeros(options.warmUpDims);
    return wrapped;
  }

  /**
   * Runs the model. Every declared input must be fed; every declared output is returned (as
   * float32 — the EMO-AffectNet and default-pack models only output floats).
   */
  async run(feeds: Readonly<Record<I, TensorValue<ElementType>>>, options: RunOptions = {}): Promise<Record<O, TensorValue<'float32'>>> {
    const plainFeeds: Record<string, { type: string; data: ort.Tensor.DataType; dims: readonly number[] }> = {};
    for (const input of this.inputs) {
      const value = (feeds as Record<string, TensorValue<ElementType> | undefined>)[input.name];
      if (!value) throw new ModelSessionError(`model ${this.label}: input "${input.name}" was not fed`);
      checkDims(this.label, input, value.dims);
      plainFeeds[input.name] = { type: input.dtype, data: value.data, dims: value.dims };
    }
    let results: Record<string, { data: ort.Tensor.DataType; dims: readonly number[] }>;
    try {
      results = await this.session.run(plainFeeds, options.transferInputs ?? false);
    } catch (error) {
      throw new ModelSessionError(`model ${this.label}: run failed: ${String(error)}`, { cause: error });
    }
    const out: Record<string, TensorValue<'float32'>> = {};
    for (const output of this.outputs) {
      const tensor = results[output.name]!;
      out[output.name] = { data: tensor.data as Float32Array, dims: tensor.dims };
    }
    return out;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }

  /**
   * Runs the model once on zeros of each input's own type, at `dims` where given, else with every
   * dynamic dimension 1: the warm-up, and `emo models verify`'s timed run.
   */
  async runOnZeros(dims: Readonly<Record<string, readonly number[]>> = {}): Promise<void> {
    const feeds: Record<string, TensorValue<ElementType>> = {};
    for (const input of this.inputs) {
      const shape = dims[input.name] ?? input.shape.map((d) => (d < 0 ? 1 : d));
      feeds[input.name] = {
        data: zeros(
          input.dtype,
          shape.reduce((a, b) => a * b, 1),
        ),
        dims: shape,
      };
    }
    await this.run(feeds as Record<I, TensorValue<ElementType>>);
  }
}

async function createOrt(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<OrtSessionLike> {
  // Two calls because `create` is overloaded separately for paths and bytes.
  const session =
    typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  return sessionOnThisThread(session, ort.Tensor);
}

function toTensorInfo(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, dtype: 'non-tensor', shape: [] };
  return { name: meta.name, dtype: meta.type, shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
}

function checkDims(label: string, info: TensorInfo, dims: readonly number[]): void {
  const ok = dims.length === info.shape.length && info.shape.every((d, i) => d < 0 || d === dims[i]);
  if (!ok) {
    throw new ModelSessionError(
      `model ${label}: input "${info.name}" has shape [${dims.join(',')}], the model expects [${info.shape.join(',')}] (-1 = any)`,
    );
  }
}

function zeros(dtype: string, length: number): TypedArrayOf<ElementType> {
  switch (dtype) {
    case 'int64':
      return new BigInt64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'uint8':
      return new Uint8Array(length);
    default:
      return new Float32Array(length);
  }
}

let sharedLogger: ModelLogger | undefined;
function defaultLogger(): ModelLogger {
  sharedLogger ??= moduleLogger('model-session');
  return sharedLogger;
}

/**
 * Threads per operator: the configured count; for 0, onnxruntime's own choice (one per physical
 * core of the machine), unless this process may use fewer CPUs than the machine has (a container's
 * CPU quota, or a CPU set: taskset, Kubernetes' static CPU manager): then those.
 */
function intraOpThreadsOf(configured: number): number | undefined {
  if (configured > 0) return configured;
  const cpus = usableCpus();
  return cpus < machineCpus().length ? cpus : undefined;
}
