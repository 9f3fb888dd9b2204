/**
 * Reads Keras 2 (tf.keras) `.h5` weight files with h5wasm, by layer name.
 *
 * Two layouts exist and the authors' files use both: `model.save_weights()` puts one group per
 * layer at the root (the backbone `weights_0_66_49_wo_gl.h5`); `model.save()` puts them under
 * `model_weights/` next to a `model_config` attribute (the LSTMs, `RAVDESS_with_config.h5`).
 * Either way the root (or `model_weights`) has a `layer_names` attribute in model order, and each
 * layer group a `weight_names` attribute such as `conv1_7x7_s2/kernel:0`, the dataset's path
 * inside the group. We key each layer's weights by the last path segment without `:0`
 * (`kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`, `recurrent_kernel`).
 * A nested model (a Model used as a layer) is one group holding its layers' weights; those are
 * split back by the first segment of their names, so `conv1_7x7_s2` is found either way.
 */
import { access } from 'node:fs/promises';
import type { Dataset, File as H5File, Group } from 'h5wasm';

/** One stored weight: float32 data, row-major, with its Keras shape. */
export interface StoredWeight {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** The weights of a Keras `.h5` file, by layer. */
export interface KerasWeightsFile {
  /** File name, for error messages. */
  readonly name: string;
  /** Layer names in model order (including layers without weights). */
  readonly layerNames: readonly string[];
  /** The `model_config` JSON when the file is a whole saved model. */
  readonly modelConfig: unknown;
  /** Layers that have weights, in model order. */
  readonly weightedLayers: readonly string[];
  /** A layer's weights by short name (`kernel`, `bias`, …); throws if the layer is absent. */
  layer(name: string): ReadonlyMap<string, StoredWeight>;
}

type H5Module = typeof import('h5wasm/node');
let h5: Promise<H5Module> | undefined;

/**
 * h5wasm's node build reads the host filesystem directly (NODERAWFS). The runtime image leaves it out
 * (deploy/docker/prune-runtime.sh: importing the authors' Keras files is a development job), so its
 * absence is said plainly.
 */
async function h5wasm(): Promise<H5Module> {
  h5 ??= import('h5wasm/node').then(
    async (m) => {
      await m.ready;
      return m;
    },
    (error: unknown) => {
      if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
      throw new Error(
        'reading Keras .h5 files needs h5wasm, which this installation leaves out (the runtime image does): ' +
          'import the pack where the project is installed with `npm ci` (or use the PyTorch .pt files), then copy the pack folder over',
        { cause: error },
      );
    },
  );
  return h5;
}

/** Reads every weight of a Keras `.h5` file into memory (the file is closed before returning). */
export async function readKerasWeights(path: string): Promise<KerasWeightsFile> {
  const name = path.split(/[\\/]/).pop() ?? path;
  try {
    await access(path);
  } catch {
    throw new Error(`${name}: file not found (${path})`);
  }
  const { File } = await h5wasm();
  let file: H5File;
  try {
    file = new File(path, 'r');
  } catch (error) {
    throw new Error(`${name}: not a readable HDF5 file (${String(error)})`, { cause: error });
  }
  try {
    const root = file.keys().includes('model_weights') ? (file.get('model_weights') as Group) : file;
    const layerNames = stringList(root, 'layer_names');
    if (!layerNames) throw new Error(`${name}: no "layer_names" attribute; this is not a Keras 2 weights file`);
    const layers = new Map<string, Map<string, StoredWeight>>();
    for (const layerName of layerNames) {
      const group = root.get(layerName) as Group | null;
      if (!group) throw new Error(`${name}: layer "${layerName}" is listed but has no group`);
      const weightNames = stringList(group, 'weight_names') ?? [];
      // A model used as a layer of another model is saved as ONE group holding all its layers'
      // weights, named `<inner layer>/kernel:0`, …: split it back into its layers.
      const owners = new Set(weightNames.map(firstSegment));
      const nested = owners.size > 1;
      for (const weightName of weightNames) {
        const dataset = group.get(weightName) as Dataset | null;
        if (!dataset) throw new Error(`${name}: layer "${layerName}" lists weight "${weightName}" but has no such dataset`);
        const owner = nested ? firstSegment(weightName) : layerName;
        if (!layers.has(owner)) layers.set(owner, new Map());
        layers.get(owner)!.set(shortName(weightName), toStored(name, weightName, dataset));
      }
    }
    const config = stringAttr(file, 'model_config');
    return {
      name,
      layerNames,
      modelConfig: config ? JSON.parse(config) : undefined,
      weightedLayers: [...layers.keys()],
      layer(layerName: string) {
        const found = layers.get(layerName);
        if (!found) throw new Error(`${name}: has no weights for layer "${layerName}" (layers with weights: ${[...layers.keys()].slice(0, 8).join(', ')}…)`);
        return found;
      },
    };
  } finally {
    file.close();
  }
}

function firstSegment(weightName: string): string {
  return weightName.split('/')[0] ?? weightName;
}

/** `conv1_7x7_s2/kernel:0` → `kernel`; `lstm/lstm_cell/recurrent_kernel:0` → `recurrent_kernel`. */
function shortName(weightName: string): string {
  return (weightName.split('/').pop() ?? weightName).replace(/:\d+$/, '');
}

function toStored(file: string, weightName: string, dataset: Dataset): StoredWeight {
  const value = dataset.value;
  const shape = dataset.shape ?? [];
  if (value instanceof Float32Array) return { data: value, shape };
  if (value instanceof Float64Array) return { data: Float32Array.from(value), shape };
  throw new Error(`${file}: weight "${weightName}" is ${JSON.stringify(dataset.dtype)}, expected float32`);
}

/**
 * A list-of-strings attribute. Keras splits one that exceeds HDF5's 64 kB object-header limit into
 * `name0`, `name1`, …; older h5py stores fixed-length byte strings. Both read the same here.
 */
function stringList(node: Group, attribute: string): string[] | undefined {
  const attrs = node.attrs;
  if (attrs[attribute]) return attributeStrings(attrs[attribute].json_value);
  if (!attrs[`${attribute}0`]) return undefined;
  const all: string[] = [];
  for (let chunk = 0; attrs[`${attribute}${chunk}`]; chunk++) all.push(...attributeStrings(attrs[`${attribute}${chunk}`]!.json_value));
  return all;
}

function attributeStrings(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return [value];
  return []; // an empty weight_names list is stored as an empty numeric array
}

function stringAttr(node: Group, attribute: string): string | undefined {
  const value = node.attrs[attribute]?.json_value;
  return typeof value === 'string' ? value : undefined;
}
