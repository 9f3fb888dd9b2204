/**
 * `npm run bench:backbone-variants` (run by scripts/gpu-check.sh on a GPU node) — the backbone as
 * float32, float16 and int8 on one device, and the JPEG-decode ceiling of the CPU that feeds it.
 *
 * - **variants**: the pack's float32 backbone (default: the synthetic EMO-AffectNet ResNet50, the real
 *   compute cost), its float16 copy (onnxconverter-common, float32 inputs and outputs kept) and its
 *   int8 pack from `emo models quantize` (QDQ; on CUDA onnxruntime runs the Q/DQ pairs around float
 *   kernels unless TensorRT is used, so it measures whether int8 runs there and what it costs, not
 *   int8 arithmetic), each a bare `session.run` loop on batches of BENCH_BATCH; on CUDA a session that
 *   fell back to the CPU fails the run. Each variant's largest |p − p_float32| on the first batch
 *   says it computes the same model; the int8 pack's own held-out agreement is read from its manifest.
 * - **JPEG-decode ceiling**: 224×224 face-sized JPEGs (quality 90, the face stage's default) decoded by
 *   the stage's own decoder (`decodeToRgb`, sharp), one at a time and all cores at once: the faces/s
 *   the backbone stage can decode JPEG crops at on this machine, whatever the GPU.
 *
 *   BENCH_DEVICE=cuda|cpu (default cuda)  BENCH_FACES (default 4096 on CUDA, 64 on CPU)  BENCH_BATCH (32)
 *   BENCH_VARIANTS_PACK (a float32 pack folder; default the synthetic pack in .cache/bench/synthetic)
 *   BENCH_CALIBRATION (calibration source of the int8 pack; default "shipped")  BENCH_MAX_CROPS (300)
 *   BENCH_INT8_SCHEME / BENCH_INT8_CALIBRATE_METHOD (default auto)  BENCH_JPEG_CROPS (default 2048)
 *   BENCH_RESULTS (default bench/results/backbone-variants-<device>.json)
 *   BENCH_VARIANTS_DIR (where the fp16 and int8 models are kept; default .cache/bench/variants/<pack>-<sha256>)
 *
 * The fp16 and int8 models are made once under .cache/bench/variants (Python: onnxruntime's quantizer
 * and onnxconverter-common in .cache/quantize-venv, from PyPI). Not part of `npm run bench`.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildSyntheticPack, ensureQuantizeVenv, quantizePack, runConvertScript, writeDefaultPack } from '@emostream/models';
import { decodeToRgb, ModelSession, readPack, type Int8Scheme, type CalibrationMethod } from '@emostream/vision';
import { machine, resultsPath } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const device = (process.env.BENCH_DEVICE ?? 'cuda') as 'cpu' | 'cuda';
if (device !== 'cpu' && device !== 'cuda') throw new Error(`BENCH_DEVICE must be cpu or cuda, not ${String(device)}`);
const FACES = Number(process.env.BENCH_FACES ?? (device === 'cuda' ? 4096 : 64));
const BATCH = Number(process.env.BENCH_BATCH ?? 32);
const JPEG_CROPS = Number(process.env.BENCH_JPEG_CROPS ?? 2048);
const packDir = path.resolve(process.env.BENCH_VARIANTS_PACK ?? path.join(root, '.cache', 'bench', 'synthetic'));
const defaultPackDir = path.join(root, 'models', 'default');
const log = (line: string) => console.log(line);

if (!existsSync(path.join(packDir, 'manifest.json'))) {
  if (process.env.BENCH_VARIANTS_PACK) throw new Error(`BENCH_VARIANTS_PACK ${packDir} holds no pack`);
  await buildSyntheticPack(packDir);
}
if (!existsSync(path.join(defaultPackDir, 'manifest.json'))) await writeDefaultPack(defaultPackDir); // its detectors find the calibration faces
const pack = await readPack(packDir);
const backbone = pack.manifest.models.backbone;
const fp32File = pack.files.backbone!;
const variantsDir = path.resolve(
  process.env.BENCH_VARIANTS_DIR ?? path.join(root, '.cache', 'bench', 'variants', `${pack.manifest.name}-${backbone.sha256.slice(0, 12)}`),
);
mkdirSync(variantsDir, { recursive: true });

const fp16File = path.join(variantsDir, 'backbone.fp16.onnx');
if (!existsSync(fp16File)) log(runConvertScript(ensureQuantizeVenv(log), ['--model', fp32File, '--out', fp16File, '--scheme', 'fp16']));
const int8Dir = path.join(variantsDir, 'int8');
if (!existsSync(path.join(int8Dir, 'manifest.json'))) {
  await quantizePack({
    packDir,
    outDir: int8Dir,
    calibration: [process.env.BENCH_CALIBRATION ?? 'shipped'],
    detectorPackDir: defaultPackDir,
    scheme: (process.env.BENCH_INT8_SCHEME ?? 'auto') as Int8Scheme | 'auto',
    calibrationMethod: (process.env.BENCH_INT8_CALIBRATE_METHOD ?? 'auto') as CalibrationMethod | 'auto',
    maxCrops: Number(process.env.BENCH_MAX_CROPS ?? 300),
    log,
  });
}
const int8 = await readPack(int8Dir);
const quantization = int8.manifest.models.backbone.quantization!;

const shape = backbone.input.shape.slice(1);
const perFace = shape.reduce((a, b) => a * b, 1);
/** A deterministic batch in the backbone's input range (mean-subtracted pixel values); faces differ. */
const batch = Float32Array.from({ length: BATCH * perFace }, (_, i) => ((i * 31 + Math.floor(i / perFace) * 97) % 251) - 120);

async function measure(name: string, file: string): Promise<{ variant: string; facesPerSecond: number; probs: Float32Array }> {
  const session = await ModelSession.create(file, { executionProvider: device, warmUp: false }, { label: `${name} backbone` });
  try {
    if (session.executionProvider !== device)
      throw new Error(
        `the ${name} backbone runs on ${session.executionProvider}, not ${device}: the CUDA provider did not load; refusing to measure the fallback`,
      );
    const feeds = () => ({ [backbone.input.name]: { data: batch.slice(), dims: [BATCH, ...shape] } });
    let first = await session.run(feeds());
    for (let i = 0; i < 2; i++) first = await session.run(feeds()); // warm-up: allocations, cuDNN autotuning
    const calls = Math.max(1, Math.ceil(FACES / BATCH));
    const started = performance.now();
    for (let i = 0; i < calls; i++) await session.run(feeds());
    const seconds = (performance.now() - started) / 1000;
    return { variant: name, facesPerSecond: (calls * BATCH) / seconds, probs: first[backbone.outputs.probs.name]!.data };
  } finally {
    await session.release();
  }
}

console.log(`backbone variants of pack "${pack.manifest.name}" on ${device}, ${FACES} faces in batches of ${BATCH}; ${machine()}`);
const measured = [
  await measure('float32', fp32File),
  await measure('float16', fp16File),
  await measure(`int8 (${quantization.scheme}, ${quantization.calibrationMethod})`, int8.files.backbone!),
];
const variants = measured.map(({ variant, facesPerSecond, probs }) => ({
  variant,
  facesPerSecond,
  xFloat32: facesPerSecond / measured[0]!.facesPerSecond,
  maxProbabilityErrorVsFloat32: Math.max(...probs.map((p, i) => Math.abs(p - measured[0]!.probs[i]!))),
}));
for (const v of variants)
  console.log(
    `${v.variant.padEnd(28)} ${v.facesPerSecond.toFixed(0).padStart(7)} faces/s  ×${v.xFloat32.toFixed(2)} float32  max |Δp| ${v.maxProbabilityErrorVsFloat32.toExponential(1)}`,
  );

/** 224×224 JPEG crops of varied content: a gradient pattern per crop, encoded as the face stage does. */
const jpegs = await Promise.all(
  Array.from({ length: 64 }, (_, k) =>
    sharp(Buffer.from(Uint8Array.from({ length: 224 * 224 * 3 }, (_, i) => (i * (k + 3) + ((i / 672) | 0) * 7) % 256)), {
      raw: { width: 224, height: 224, channels: 3 },
    })
      .jpeg({ quality: 90 })
      .toBuffer(),
  ),
);
async function decodeFacesPerSecond(parallel: number): Promise<number> {
  const started = performance.now();
  for (let done = 0; done < JPEG_CROPS; done += parallel) {
    await Promise.all(
      Array.from({ length: Math.min(parallel, JPEG_CROPS - done) }, (_, i) => decodeToRgb(jpegs[(done + i) % jpegs.length]!, 4096 * 4096)),
    );
  }
  return JPEG_CROPS / ((performance.now() - started) / 1000);
}
await decodeFacesPerSecond(16); // warm-up
const jpegCeiling = {
  oneAtATime: await decodeFacesPerSecond(1),
  allCores: await decodeFacesPerSecond(Math.max(4, cpus().length * 2)),
  crops: JPEG_CROPS,
  quality: 90,
};
console.log(
  `JPEG-decode ceiling (sharp, 224×224 q90): ${jpegCeiling.oneAtATime.toFixed(0)} faces/s one at a time, ${jpegCeiling.allCores.toFixed(0)} faces/s on all ${cpus().length} cores`,
);

const out = process.env.BENCH_RESULTS ?? resultsPath(`backbone-variants-${device}.json`);
writeFileSync(
  out,
  `${JSON.stringify({ benchmark: 'backbone-variants', date: new Date().toISOString(), machine: machine(), device, pack: pack.manifest.name, faces: FACES, batch: BATCH, variants, int8: { scheme: quantization.scheme, calibrationMethod: quantization.calibrationMethod, heldOut: quantization.heldOut.agreement, measuredOn: quantization.measuredOn }, jpegCeiling }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
