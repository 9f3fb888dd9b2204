/**
 * Writes an EMO-AffectNet-style model pack: the ONNX files plus a `manifest.json` that
 * `loadPack` (in @emostream/shared) validates. The preprocessing recorded here is REFERENCE.md's:
 * BGR, VGGFace2 means subtracted, no scaling, 224×224, NHWC for the Keras-derived graphs.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EMOTION_LABELS } from '@emostream/shared';
import { MANIFEST_FILE, PACK_SCHEMA_VERSION, PackManifestSchema, type PackManifest, type PackManifestInput } from '@emostream/vision';

/** VGGFace2 channel means, in BGR order (REFERENCE.md). */
export const VGGFACE2_MEAN_BGR: readonly [number, number, number] = [91.4953, 103.8827, 131.0912];

/** A model to put in a pack, with the tensor names and shapes it was built with. */
export interface PackModel {
  readonly bytes: Uint8Array;
  readonly input: { readonly name: string; readonly shape: readonly number[] };
}
export interface BackbonePackModel extends PackModel {
  readonly layout: 'NHWC' | 'NCHW';
  readonly featuresOutput: { readonly name: string; readonly size: number };
  readonly probsOutput: string;
  /** Resize the reference uses for this model: nearest (real-time script) or area (offline). */
  readonly resize?: 'nearest' | 'area';
}
export interface TemporalPackModel extends PackModel {
  readonly windowLength: number;
  readonly probsOutput: string;
}

export interface PackContents {
  readonly name: string;
  readonly description: string;
  readonly trained: boolean;
  readonly licence: string;
  readonly source: string;
  readonly backbone: BackbonePackModel;
  readonly temporal?: TemporalPackModel;
}

export const BACKBONE_FILE = 'backbone.onnx';
export const TEMPORAL_FILE = 'temporal.onnx';

/** Writes the pack into `dir` (created if needed) and returns its manifest. */
export async function writePack(dir: string, contents: PackContents): Promise<PackManifest> {
  const { backbone, temporal } = contents;
  const [height, width] = backbone.layout === 'NHWC' ? backbone.input.shape.slice(1, 3) : backbone.input.shape.slice(2, 4);
  const manifestInput: PackManifestInput = {
    schemaVersion: PACK_SCHEMA_VERSION,
    name: contents.name,
    description: contents.description,
    trained: contents.trained,
    licence: contents.licence,
    source: contents.source,
    labels: [...EMOTION_LABELS],
    models: {
      backbone: {
        file: BACKBONE_FILE,
        sha256: sha256(backbone.bytes),
        input: { name: backbone.input.name, shape: [...backbone.input.shape], dtype: 'float32', layout: backbone.layout },
        preprocessing: {
          colorOrder: 'BGR',
          mean: [...VGGFACE2_MEAN_BGR],
          scale: 1,
          resize: backbone.resize ?? 'nearest',
          inputSize: { width: width!, height: height! },
          fit: 'stretch',
        },
        // The reference crops the detector's box as is (clamped to the frame) and stretches it.
        crop: { expand: 1, square: false },
        outputs: {
          features: { name: backbone.featuresOutput.name, shape: [-1, backbone.featuresOutput.size], dtype: 'float32' },
          probs: { name: backbone.probsOutput, shape: [-1, EMOTION_LABELS.length], dtype: 'float32' },
        },
      },
      ...(temporal
        ? {
            temporal: {
              file: TEMPORAL_FILE,
              sha256: sha256(temporal.bytes),
              input: { name: temporal.input.name, shape: [...temporal.input.shape], dtype: 'float32', layout: 'NTC' as const },
              windowLength: temporal.windowLength,
              outputs: { probs: { name: temporal.probsOutput, shape: [-1, EMOTION_LABELS.length], dtype: 'float32' } },
            },
          }
        : {}),
    },
  };
  // Validate before writing anything, so a bad pack is never left on disk.
  const manifest = PackManifestSchema.parse(manifestInput);
  await mkdir(dir, { recursive: true });
  await writeAtomically(join(dir, BACKBONE_FILE), backbone.bytes);
  if (temporal) await writeAtomically(join(dir, TEMPORAL_FILE), temporal.bytes);
  await writeAtomically(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Write then rename, so an interrupted build never leaves a truncated model under the real name. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
