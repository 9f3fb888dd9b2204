/**
 * `emo models quantize <pack>`: a new pack whose backbone is a static int8 copy of the given pack's
 * float32 backbone, everything else (detectors, temporal model, labels, preprocessing) copied as it
 * is, so `emo run --pack <new>` and the services load it like any pack.
 *
 * 1. Face crops from the calibration sources (the user's footage, or the shipped test media) through
 *    the pipeline's own detector and crop code ({@link collectCrops}).
 * 2. Every third crop is held out; the rest calibrate.
 * 3. onnxruntime's quantize_static (QDQ, per-channel weights) makes one model per scheme (u8s8,
 *    u8s8 with 7-bit weights, u8u8) and calibration (min/max, percentile); on AVX2 machines
 *    without VNNI, u8s8's 16-bit accumulation can saturate, and which scheme keeps the labels
 *    depends on the model, so the choice is measured: the candidate whose labels agree with
 *    float32 on the most calibration crops (ties: the smaller relative embedding error).
 *    `--scheme` / `--calibrate-method` force one. Only the convolutions are quantized: they are
 *    nearly all of the compute, and quantizing the dense head as well doubled the features' error
 *    on the default pack (0.28 against 0.16 of the face-to-face spread, 181 shipped crops).
 * 4. The chosen model's agreement with float32 on the held-out crops, which neither calibration nor
 *    the choice saw, goes into the manifest with the method, all candidates' figures and the
 *    held-out crops' sha256 ({@link measureHeldOutAgreement} re-measures it).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, parse } from 'node:path';
import {
  CALIBRATION_METHODS,
  INT8_SCHEMES,
  MANIFEST_FILE,
  PackManifestSchema,
  loadPack,
  openPackFaceDetector,
  readPack,
  type Agreement,
  type CalibrationMethod,
  type CheckedPack,
  type Int8Scheme,
  type PackManifest,
  type Quantization,
} from '@emostream/vision';
import { sha256 } from '../emo-affectnet/pack-writer.js';
import { assertAgreementHolds, measureAgreement, pct, runBackbone, type BackboneOutputs } from './agreement.js';
import { collectCrops, cropsSha256, selectCrops, type CropSet } from './crops.js';
import { cpuDescription } from './cpu.js';
import { QUANTIZE_REQUIREMENTS, ensureQuantizeVenv, runConvertScript } from './python-env.js';

export const HELD_OUT_RULE = 'every 3rd crop in source order (crops 3, 6, 9, …)';
const isHeldOut = (index: number) => index % 3 === 2;
/** Fewer crops than this cannot calibrate (and hold out) anything worth recording. */
export const MIN_CROPS = 12;
export const DEFAULT_MAX_CROPS = 300;
/** The op types quantized (see the header). */
export const QUANTIZED_OP_TYPES = ['Conv'] as const;

export interface QuantizeOptions {
  /** The float32 pack's folder. */
  readonly packDir: string;
  /** Where the new pack goes (must not hold a pack yet). */
  readonly outDir: string;
  /** The new pack's name (default: the pack's name + "-int8"). */
  readonly name?: string;
  /** Videos, images, folders, or "shipped". */
  readonly calibration: readonly string[];
  /** The pack whose detection mode finds the faces (the pack's own when it has detection.json). */
  readonly detectorPackDir: string;
  /** One scheme, or every scheme measured (default). */
  readonly scheme?: Int8Scheme | 'auto';
  /** One calibration method, or both measured (default). */
  readonly calibrationMethod?: CalibrationMethod | 'auto';
  readonly maxCrops?: number;
  readonly log?: (line: string) => void;
}

export interface QuantizeResult {
  readonly dir: string;
  readonly manifest: PackManifest;
  readonly quantization: Quantization;
}

export async function quantizePack(options: QuantizeOptions): Promise<QuantizeResult> {
  const log = options.log ?? (() => {});
  const source = await readPack(options.packDir);
  const backbone = source.manifest.models.backbone;
  if (backbone.quantization) throw new Error(`pack "${source.manifest.name}"'s backbone is already int8 (made from ${backbone.quantization.from.pack}); quantize the float32 pack`);
  if (backbone.input.dtype !== 'float32') throw new Error(`pack "${source.manifest.name}"'s backbone takes ${backbone.input.dtype}, not float32 crops`);
  if (existsSync(join(options.outDir, MANIFEST_FILE))) throw new Error(`${options.outDir} already holds a pack; remove it or choose another --out`);
  const python = ensureQuantizeVenv(log);

  log(`finding faces in ${options.calibration.join(', ')} with ${options.detectorPackDir}'s detectors …`);
  const crops = await cropsOf(options, source);
  const calibration = selectCrops(crops, (i) => !isHeldOut(i));
  const heldOut = selectCrops(crops, isHeldOut);
  log(`${crops.count} face crops: ${calibration.count} to calibrate and choose the scheme, ${heldOut.count} held out`);

  const fp32File = source.files.backbone!;
  const names = { input: backbone.input.name, probs: backbone.outputs.probs.name, features: backbone.outputs.features.name };
  const work = await mkdtemp(join(tmpdir(), 'emo-quantize-'));
  try {
    const calibrationFile = join(work, 'calibration.f32');
    await writeFile(calibrationFile, new Uint8Array(calibration.data.buffer, calibration.data.byteOffset, calibration.data.byteLength));
    const fp32Calibration = await runBackbone(fp32File, names, calibration);
    const schemes = !options.scheme || options.scheme === 'auto' ? INT8_SCHEMES : [options.scheme];
    const methods = !options.calibrationMethod || options.calibrationMethod === 'auto' ? CALIBRATION_METHODS : [options.calibrationMethod];
    const candidates: { scheme: Int8Scheme; calibrationMethod: CalibrationMethod; file: string; calibrationAgreement: Agreement }[] = [];
    for (const scheme of schemes) {
      for (const calibrationMethod of methods) {
        const file = join(work, `${scheme}-${calibrationMethod}.onnx`);
        log(
          runConvertScript(python, [
            ...['--model', fp32File, '--out', file, '--scheme', scheme, '--calibrate-method', calibrationMethod, '--op-types', QUANTIZED_OP_TYPES.join(',')],
            ...['--calibration', calibrationFile, '--input-name', names.input, '--input-shape', crops.shape.join(',')],
          ]),
        );
        const calibrationAgreement = measureAgreement(fp32Calibration, await runBackbone(file, names, calibration));
        log(`  ${scheme} ${calibrationMethod}: calibration crops top-1 ${pct(calibrationAgreement.top1)}, relative embedding error ${calibrationAgreement.relativeEmbeddingError.toFixed(4)}`);
        candidates.push({ scheme, calibrationMethod, file, calibrationAgreement });
      }
    }
    const chosen = [...candidates].sort(
      (a, b) => b.calibrationAgreement.top1Crops - a.calibrationAgreement.top1Crops || a.calibrationAgreement.relativeEmbeddingError - b.calibrationAgreement.relativeEmbeddingError,
    )[0]!;
    const heldOutAgreement = measureAgreement(await runBackbone(fp32File, names, heldOut), await runBackbone(chosen.file, names, heldOut));
    log(`chose ${chosen.scheme} ${chosen.calibrationMethod}; held-out crops: top-1 ${pct(heldOutAgreement.top1)} (${heldOutAgreement.top1Crops}/${heldOutAgreement.crops}), relative embedding error ${heldOutAgreement.relativeEmbeddingError.toFixed(4)}`);

    const quantization: Quantization = {
      method: `static int8, QDQ, per-channel weights: onnxruntime.quantization.quantize_static (onnxruntime ${onnxruntimeVersion()})`,
      scheme: chosen.scheme,
      calibrationMethod: chosen.calibrationMethod,
      opTypes: [...QUANTIZED_OP_TYPES],
      from: { pack: source.manifest.name, file: backbone.file, sha256: backbone.sha256 },
      calibration: { sources: [...options.calibration], crops: calibration.count, maxCrops: options.maxCrops ?? DEFAULT_MAX_CROPS },
      chosenBy:
        candidates.length > 1
          ? 'most calibration crops with the float32 top-1 label, then the smaller relative embedding error'
          : 'given (--scheme and --calibrate-method)',
      candidates: candidates.map(({ scheme, calibrationMethod, calibrationAgreement }) => ({ scheme, calibrationMethod, calibrationAgreement })),
      heldOut: { sources: [...options.calibration], rule: HELD_OUT_RULE, sha256: cropsSha256(heldOut), agreement: heldOutAgreement },
      measuredOn: cpuDescription(),
    };
    const manifest = await writeQuantizedPack(source, options, chosen.file, quantization);
    // The new pack must load as the stages load it: sha256s, and each model's real signature.
    const loaded = await loadPack(options.outDir, { session: { warmUp: false } });
    await Promise.all(Object.values(loaded.sessions).map((s) => s.release()));
    return { dir: options.outDir, manifest, quantization };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function cropsOf(options: Pick<QuantizeOptions, 'calibration' | 'detectorPackDir' | 'maxCrops'>, source: CheckedPack): Promise<CropSet> {
  const detector = await openPackFaceDetector(options.detectorPackDir);
  const crops = await collectCrops(options.calibration, detector, source.manifest.models.backbone, options.maxCrops ?? DEFAULT_MAX_CROPS);
  if (crops.count < MIN_CROPS)
    throw new Error(`found ${crops.count} face crops in ${options.calibration.join(', ')}, fewer than the ${MIN_CROPS} needed to calibrate and hold out; give more footage`);
  return crops;
}

/** Copies the pack's folder, puts the int8 backbone in and records how it was made. */
async function writeQuantizedPack(source: CheckedPack, options: QuantizeOptions, int8File: string, quantization: Quantization): Promise<PackManifest> {
  const backbone = source.manifest.models.backbone;
  const file = `${parse(backbone.file).name}.int8.onnx`;
  const bytes = await readFile(int8File);
  const name = options.name ?? `${source.manifest.name}-int8`;
  const manifest = PackManifestSchema.parse({
    ...source.manifest,
    name,
    description: `${source.manifest.description} Backbone quantized to int8 (${quantization.scheme}, ${quantization.calibrationMethod} calibration) from pack "${source.manifest.name}": top-1 agreement with float32 ${pct(quantization.heldOut.agreement.top1)} on ${quantization.heldOut.agreement.crops} held-out crops.`,
    models: { ...source.manifest.models, backbone: { ...backbone, file, sha256: sha256(bytes), quantization } },
  });
  // Everything else of the pack (detectors, detection.json, temporal model) as it is; the manifest last.
  // (Not the sha256 cache of the source folder's files: it names their inodes.)
  const skip = new Set([MANIFEST_FILE, backbone.file]);
  await cp(source.dir, options.outDir, { recursive: true, filter: (path) => path === source.dir || (!skip.has(parse(path).base) && !parse(path).base.startsWith('.')) });
  await writeFile(join(options.outDir, file), bytes);
  await writeFile(join(options.outDir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Re-measures a quantized pack's held-out agreement: the same sources and detector give the same
 * held-out crops (checked by sha256), the float32 pack's backbone (checked by sha256) and the int8
 * one run on them, and {@link assertAgreementHolds} fails when it is below what the manifest records.
 */
export async function measureHeldOutAgreement(options: { int8PackDir: string; fp32PackDir: string; detectorPackDir: string }): Promise<Agreement> {
  const int8 = await readPack(options.int8PackDir);
  const fp32 = await readPack(options.fp32PackDir);
  const recorded = int8.manifest.models.backbone.quantization;
  if (!recorded) throw new Error(`pack "${int8.manifest.name}" has no quantized backbone`);
  if (fp32.manifest.models.backbone.sha256 !== recorded.from.sha256)
    throw new Error(`pack "${fp32.manifest.name}"'s backbone is not the one "${int8.manifest.name}" was made from (sha256 ${fp32.manifest.models.backbone.sha256}, recorded ${recorded.from.sha256})`);
  const crops = await cropsOf({ calibration: recorded.heldOut.sources, detectorPackDir: options.detectorPackDir, maxCrops: recorded.calibration.maxCrops }, fp32);
  const heldOut = selectCrops(crops, isHeldOut);
  if (cropsSha256(heldOut) !== recorded.heldOut.sha256)
    throw new Error(`the held-out crops made now differ from those recorded (sha256 ${cropsSha256(heldOut)}, recorded ${recorded.heldOut.sha256}): other sources, detector or crop code`);
  const b = fp32.manifest.models.backbone;
  const names = { input: b.input.name, probs: b.outputs.probs.name, features: b.outputs.features.name };
  const reference: BackboneOutputs = await runBackbone(fp32.files.backbone!, names, heldOut);
  const measured = measureAgreement(reference, await runBackbone(int8.files.backbone!, names, heldOut));
  assertAgreementHolds(recorded.heldOut.agreement, measured);
  return measured;
}

function onnxruntimeVersion(): string {
  const line = /^onnxruntime==(\S+)/m.exec(readFileSync(QUANTIZE_REQUIREMENTS, 'utf8'));
  return line?.[1] ?? 'unknown';
}
