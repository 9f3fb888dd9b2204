/**
 * An onnxruntime session in a worker thread of its own.
 *
 * onnxruntime-node's `session.run` computes on the calling thread: while a model runs, the event loop
 * stands still — no decoding, no batching, no Kafka traffic, and in `emo run` the detector and the
 * backbone take turns instead of sharing the cores. Here the session lives in a worker thread and the
 * main thread only posts tensors and awaits results, so model work overlaps everything else.
 *
 * The worker's code is inline (no worker file to resolve) and loads the same onnxruntime-node the main
 * thread resolves, so it works the same under tsx, compiled JS and bundles.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type ort from 'onnxruntime-node';

/** What {@link ModelSession} needs of a session, in this thread or another. */
export interface OrtSessionLike {
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  run(feeds: Record<string, PlainTensor>, transfer?: boolean): Promise<Record<string, PlainTensor>>;
  release(): Promise<void>;
}

/** A tensor as it crosses threads: element type, flat data, dimensions. */
export interface PlainTensor {
  readonly type: string;
  readonly data: ort.Tensor.DataType;
  readonly dims: readonly number[];
}

// Written to run both as a CommonJS script and as an ES module (eval'd code follows the process's
// --input-type), hence dynamic imports inside an async function.
const WORKER_SOURCE = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  const { createRequire } = await import('node:module');
  const ort = createRequire(workerData.ortPath)(workerData.ortPath);
  let session;
  const plain = (t) => ({ type: t.type, data: t.data, dims: t.dims });
  parentPort.on('message', async ({ id, op, model, options, feeds }) => {
    try {
      if (op === 'create') {
        session = await ort.InferenceSession.create(model, options);
        parentPort.postMessage({ id, value: { inputMetadata: session.inputMetadata, outputMetadata: session.outputMetadata } });
      } else if (op === 'run') {
        const tensors = {};
        for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
        const results = await session.run(tensors);
        const value = {};
        const transfer = [];
        for (const [name, t] of Object.entries(results)) {
          value[name] = plain(t);
          if (t.data.buffer instanceof ArrayBuffer) transfer.push(t.data.buffer);
        }
        try {
          parentPort.postMessage({ id, value }, transfer);
        } catch {
          parentPort.postMessage({ id, value }); // a buffer that cannot be moved is copied instead
        }
      }
    } catch (error) {
      parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
    }
  });
})();
`;

/** The same interface over a session on this thread (for `inferenceThread: false`). */
export function sessionOnThisThread(session: ort.InferenceSession, tensor: typeof ort.Tensor): OrtSessionLike {
  return {
    inputMetadata: session.inputMetadata,
    outputMetadata: session.outputMetadata,
    async run(feeds) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) tensors[name] = new tensor(t.type as ort.Tensor.Type, t.data, [...t.dims]);
      const results = await session.run(tensors);
      return Object.fromEntries(Object.entries(results).map(([name, t]) => [name, { type: t.type, data: t.data, dims: t.dims }]));
    },
    release: () => session.release(),
  };
}

/** Opens `model` in a new worker thread; rejects (and ends the thread) when onnxruntime cannot load it. */
export async function createSessionInThread(
  model: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
): Promise<OrtSessionLike> {
  const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath } });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let exited: Error | undefined;
  // The thread keeps the process alive only while a call is waiting on it, so a session that is never
  // released does not hold a finished process open, and an awaited run is never cut short.
  worker.unref();
  worker.on('message', (message: { id: number; value?: unknown; error?: string }) => {
    const call = pending.get(message.id);
    if (!call) return;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if (message.error !== undefined) call.reject(new Error(message.error));
    else call.resolve(message.value);
  });
  const failAll = (error: Error) => {
    exited = error;
    for (const call of pending.values()) call.reject(error);
    pending.clear();
  };
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new Error(`the inference thread exited (code ${code})`)));

  const call = <T>(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      worker.ref();
      worker.postMessage({ id, ...message }, transfer);
    });
  };

  let metadata: Pick<OrtSessionLike, 'inputMetadata' | 'outputMetadata'>;
  try {
    metadata = await call({ op: 'create', model, options });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return {
    ...metadata,
    run: (feeds, transfer = false) =>
      // With `transfer`, the inputs' buffers move to the thread (no copy) and are unusable here afterwards.
      call(
        { op: 'run', feeds },
        transfer
          ? [
              ...new Set(
                Object.values(feeds).flatMap((t) =>
                  ArrayBuffer.isView(t.data) && t.data.buffer instanceof ArrayBuffer ? [t.data.buffer] : [],
                ),
              ),
            ]
          : [],
      ),
    // Ending the thread frees the session with it; runs still queued there are rejected rather than
    // waited for, so a stage that stops (Ctrl-C, SIGTERM) is not held up by a backlog of model calls.
    release: async () => {
      if (exited) return;
      await worker.terminate();
    },
  };
}
