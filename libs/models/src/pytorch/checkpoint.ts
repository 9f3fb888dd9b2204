/**
 * Reads PyTorch checkpoints (`torch.save`, `torch.jit.save`) in TypeScript, without Python.
 *
 * Three container formats exist and the files this project imports use all of them:
 * - **zip** (torch ≥ 1.6's default; the authors' `FER_static_ResNet50_AffectNet.pt` and
 *   `FER_dinamic_LSTM_<corpus>.pt`): `<archive>/data.pkl` is the pickled object, each tensor
 *   storage a file `<archive>/data/<key>`, `<archive>/byteorder` says `little` (or is absent);
 * - **TorchScript** (`torch.jit.save`; `torchscript_model_0_66_49_wo_gl.pth`): the same zip
 *   layout, with `code/` and `constants.pkl` beside it; `data.pkl` holds the module tree, whose
 *   attributes are the parameters and buffers, so flattening it gives the state dict's names;
 * - **legacy** (`_use_new_zipfile_serialization=False`, torch < 1.6; RetinaFace's
 *   `mobilenet0.25_Final.pth`): pickles one after another — magic number, protocol version,
 *   system info, the object, the list of storage keys — then each storage as an 8-byte element
 *   count followed by its raw bytes.
 *
 * The result is every tensor by its dotted name (`layer1.0.conv1.weight`), with dtype and shape.
 * A `module.` prefix on every name (a model saved inside `nn.DataParallel`) and a wrapping
 * `{"state_dict": …}` are removed. Nothing in the file is executed (see pickle.ts).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import AdmZip from 'adm-zip';
import { PickleError, PyObject, unpickle } from './pickle.js';

export type TorchDtype = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type TorchFormat = 'zip' | 'torchscript' | 'legacy';

/** Storage class names in pickles (`torch.FloatStorage`) → dtype and element size. */
const STORAGE_TYPES: Record<string, { dtype: TorchDtype; bytes: number }> = {
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  FloatStorage: { dtype: 'float32', bytes: 4 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

/** The magic number a legacy `torch.save` file starts with (after its pickle header). */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** A tensor of a checkpoint: a strided view of a storage. */
export class TorchTensor {
  constructor(
    /** Dotted name, e.g. `layer1.0.conv1.weight`. */
    readonly name: string,
    readonly dtype: TorchDtype,
    readonly shape: readonly number[],
    private readonly stride: readonly number[],
    private readonly offset: number,
    private readonly storage: Storage,
    private readonly file: string,
  ) {}

  /** The same view under another name (names are known only once the object tree is walked). */
  named(name: string, file: string): TorchTensor {
    return new TorchTensor(name, this.dtype, this.shape, this.stride, this.offset, this.storage, file);
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The values as float32, row-major (C order) whatever the stored strides. */
  toFloat32(): Float32Array {
    const read = elementReader(this.dtype, this.storage.bytes(this.file, this.name));
    const out = new Float32Array(this.size);
    const rank = this.shape.length;
    const lastElement = this.offset + this.shape.reduce((sum, d, i) => sum + (d > 0 ? (d - 1) * this.stride[i]! : 0), 0);
    if (this.size > 0 && lastElement >= this.storage.elements) {
      throw new Error(`${this.file}: tensor "${this.name}" reads element ${lastElement} of a storage of ${this.storage.elements}; the file is corrupt`);
    }
    const index = new Array<number>(rank).fill(0);
    for (let i = 0; i < out.length; i++) {
      let at = this.offset;
      for (let d = 0; d < rank; d++) at += index[d]! * this.stride[d]!;
      out[i] = read(at);
      for (let d = rank - 1; d >= 0; d--) {
        if (++index[d]! < this.shape[d]!) break;
        index[d] = 0;
      }
    }
    return out;
  }
}

/** A typed storage; its bytes arrive from the zip entry or the legacy file's tail. */
class Storage {
  private data: Uint8Array | undefined;
  constructor(
    readonly key: string,
    readonly dtype: TorchDtype,
    readonly elementBytes: number,
    readonly elements: number,
  ) {}
  fill(data: Uint8Array): void {
    this.data = data;
  }
  bytes(file: string, tensor: string): Uint8Array {
    if (!this.data) throw new Error(`${file}: tensor "${tensor}" refers to storage "${this.key}", which the file does not contain`);
    return this.data;
  }
}

export interface TorchCheckpoint {
  /** File name, for messages. */
  readonly file: string;
  readonly format: TorchFormat;
  /** Every tensor by dotted name, in the file's order. */
  readonly tensors: ReadonlyMap<string, TorchTensor>;
}

/** Reads a checkpoint file; fails with one line naming the file and the problem. */
export async function readTorchCheckpoint(path: string): Promise<TorchCheckpoint> {
  const file = basename(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? String(error)}: ${path})`, { cause: error });
  }
  return parseTorchCheckpoint(bytes, file);
}

/** Parses checkpoint bytes (`file` names it in messages). */
export function parseTorchCheckpoint(bytes: Uint8Array, file: string): TorchCheckpoint {
  try {
    if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return readZip(bytes, file);
    if (bytes[0] === 0x80) return readLegacy(bytes, file);
  } catch (error) {
    if (error instanceof PickleError) throw new Error(`${file}: not a readable PyTorch checkpoint (${error.message})`, { cause: error });
    throw error;
  }
  throw new Error(`${file}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save pickle)`);
}

function readZip(bytes: Uint8Array, file: string): TorchCheckpoint {
  let zip: AdmZip;
  try {
    zip = new AdmZip(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new Error(`${file}: a damaged zip archive (${String((error as Error).message ?? error)})`, { cause: error });
  }
  const names = zip.getEntries().map((e) => e.entryName);
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) throw new Error(`${file}: a zip archive without <archive>/data.pkl; not a PyTorch checkpoint`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const entry = (name: string): Buffer => {
    try {
      const data = zip.readFile(name);
      if (!data) throw new Error('missing');
      return data;
    } catch (error) {
      throw new Error(`${file}: archive entry "${name}" cannot be read (${(error as Error).message}); the file is damaged`, { cause: error });
    }
  };
  if (names.includes(`${prefix}byteorder`) && entry(`${prefix}byteorder`).toString('ascii') !== 'little') {
    throw new Error(`${file}: saved on a big-endian machine; only little-endian checkpoints are supported`);
  }
  const format: TorchFormat = names.includes(`${prefix}constants.pkl`) || names.some((n) => n.startsWith(`${prefix}code/`)) ? 'torchscript' : 'zip';
  const storages = new Map<string, Storage>();
  const value = unpickle(entry(pkl), {
    resolveGlobal,
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel)
      const [kind, type, key, , numel] = pid as unknown[];
      const storageType = type as StorageType | undefined;
      if (kind !== 'storage' || !(storageType instanceof StorageType) || typeof key !== 'string') {
        throw new PickleError(`unexpected persistent id ${JSON.stringify(pid)}`);
      }
      let storage = storages.get(key);
      if (!storage) {
        storage = new Storage(key, storageType.dtype, storageType.bytes, Number(numel));
        const name = `${prefix}data/${key}`;
        if (!names.includes(name)) throw new Error(`${file}: storage "${key}" (${name}) is missing from the archive`);
        const data = entry(name);
        if (data.length < storage.elements * storage.elementBytes) {
          throw new Error(`${file}: storage "${key}" has ${data.length} bytes, expected ${storage.elements * storage.elementBytes}; the file is truncated`);
        }
        storage.fill(data);
        storages.set(key, storage);
      }
      return storage;
    },
  }).value;
  return { file, format, tensors: flatten(value, file) };
}

function readLegacy(bytes: Uint8Array, file: string): TorchCheckpoint {
  const header = unpickle(bytes);
  if (header.value !== LEGACY_MAGIC) throw new Error(`${file}: a pickle, but not a torch.save file (no PyTorch magic number)`);
  const protocol = unpickle(bytes, {}, header.end);
  if (protocol.value !== 1001) throw new Error(`${file}: legacy torch.save protocol ${String(protocol.value)}, only 1001 is supported`);
  const sysInfo = unpickle(bytes, {}, protocol.end);
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
    throw new Error(`${file}: saved on a big-endian machine; only little-endian checkpoints are supported`);
  }
  const storages = new Map<string, Storage>();
  const views: { storage: Storage; root: string; offsetBytes: number }[] = [];
  const main = unpickle(
    bytes,
    {
      resolveGlobal,
      persistentLoad(pid) {
        // ('storage', storage_type, root_key, location, numel, view_metadata)
        const [kind, type, key, , numel, view] = pid as unknown[];
        if (kind !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string') {
          throw new PickleError(`unexpected persistent id ${JSON.stringify(pid)}`);
        }
        let root = storages.get(key);
        if (!root) storages.set(key, (root = new Storage(key, type.dtype, type.bytes, Number(numel))));
        if (Array.isArray(view)) {
          // An old-style storage view: (view_key, offset in elements, size in elements).
          const [viewKey, offset, size] = view as [string, number, number];
          const slice = new Storage(`${key}[${viewKey}]`, type.dtype, type.bytes, size);
          views.push({ storage: slice, root: key, offsetBytes: offset * type.bytes });
          return slice;
        }
        return root;
      },
    },
    sysInfo.end,
  );
  const keys = unpickle(bytes, {}, main.end);
  if (!Array.isArray(keys.value)) throw new Error(`${file}: the legacy storage key list is missing; the file is truncated or damaged`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const storage = storages.get(key);
    if (!storage) throw new Error(`${file}: storage "${key}" is listed but no tensor uses it`);
    if (pos + 8 > bytes.length) throw new Error(`${file}: ends before storage "${key}"; the file is truncated`);
    const count = Number(view.getBigInt64(pos, true));
    pos += 8;
    const length = count * storage.elementBytes;
    if (count !== storage.elements) throw new Error(`${file}: storage "${key}" has ${count} elements, its tensors expect ${storage.elements}; the file is damaged`);
    if (pos + length > bytes.length) throw new Error(`${file}: storage "${key}" needs ${length} bytes, ${bytes.length - pos} are left; the file is truncated`);
    storage.fill(bytes.subarray(pos, pos + length));
    pos += length;
  }
  for (const v of views) {
    const root = storages.get(v.root)!;
    const data = root.bytes(file, v.storage.key);
    v.storage.fill(data.subarray(v.offsetBytes, v.offsetBytes + v.storage.elements * v.storage.elementBytes));
  }
  return { file, format: 'legacy', tensors: flatten(main.value, file) };
}

/** The pickled `torch.FloatStorage` & co. */
class StorageType {
  constructor(
    readonly dtype: TorchDtype,
    readonly bytes: number,
  ) {}
}

/** What the reader gives REDUCE for torch's rebuild functions; everything else stays inert. */
function resolveGlobal(module: string, name: string): unknown {
  if (module === 'torch' && STORAGE_TYPES[name]) return new StorageType(STORAGE_TYPES[name].dtype, STORAGE_TYPES[name].bytes);
  if (module === 'collections' && name === 'OrderedDict') return () => new Map();
  if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor')) return rebuildTensor;
  if (module === 'torch._utils' && (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state')) return (data: unknown) => data;
  if (module === 'torch._tensor' && name === '_rebuild_from_type_v2') {
    return (fn: unknown, _type: unknown, args: unknown[]) => (typeof fn === 'function' ? (fn as (...callArgs: unknown[]) => unknown)(...args) : new PyObject(fn as never, args));
  }
  if (module === '_codecs' && name === 'encode') return (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
  return undefined;
}

function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown): TorchTensor {
  if (!(storage instanceof Storage)) throw new PickleError('a tensor without a storage');
  return new TorchTensor('', storage.dtype, Array.from(size as number[], Number), Array.from(stride as number[], Number), Number(offset), storage, '');
}

/** Containers a whole-training checkpoint wraps its weights in; their name is dropped. */
const WRAPPERS = ['state_dict', 'model_state_dict', 'model', 'net'];

/** Every tensor reachable from the unpickled object, by dotted path. */
function flatten(root: unknown, file: string): Map<string, TorchTensor> {
  if (root instanceof Map) {
    const dict = root;
    const wrapped = WRAPPERS.find((w) => dict.get(w) instanceof Map || dict.get(w) instanceof PyObject);
    if (wrapped) root = dict.get(wrapped);
  }
  const found = new Map<string, TorchTensor>();
  const seen = new Set<unknown>();
  const walk = (value: unknown, path: string) => {
    if (value instanceof TorchTensor) {
      if (!found.has(path)) found.set(path, value.named(path, file));
      return;
    }
    if (typeof value !== 'object' || value === null || seen.has(value)) return;
    seen.add(value);
    const join = (key: unknown) => (path ? `${path}.${String(key)}` : String(key));
    if (value instanceof Map) for (const [k, v] of value) walk(v, join(k));
    else if (value instanceof PyObject) walk(value.state, path); // a TorchScript module: its attributes
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, join(i)));
  };
  walk(root, '');
  if (found.size === 0) throw new Error(`${file}: contains no tensors`);
  const names = [...found.keys()];
  if (names.every((n) => n.startsWith('module.'))) {
    return new Map(names.map((n) => [n.slice('module.'.length), found.get(n)!.named(n.slice('module.'.length), file)]));
  }
  return found;
}


/** Reads element `i` of a storage as a number. */
function elementReader(dtype: TorchDtype, bytes: Uint8Array): (i: number) => number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'float32':
      return (i) => view.getFloat32(i * 4, true);
    case 'float64':
      return (i) => view.getFloat64(i * 8, true);
    case 'float16':
      return (i) => halfToFloat(view.getUint16(i * 2, true));
    case 'bfloat16':
      return (i) => {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16, true);
        return scratch.getFloat32(0, true);
      };
    case 'int64':
      return (i) => Number(view.getBigInt64(i * 8, true));
    case 'int32':
      return (i) => view.getInt32(i * 4, true);
    case 'int16':
      return (i) => view.getInt16(i * 2, true);
    case 'int8':
      return (i) => view.getInt8(i);
    case 'uint8':
    case 'bool':
      return (i) => view.getUint8(i);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
