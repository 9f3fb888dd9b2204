/**
 * `models` command line: list, verify, build and import model packs, mounted by the `emo` CLI as
 * `emo models …` ({@link runModelsCli}).
 *
 *   list                                   packs under the models folder
 *   verify <pack-dir|name>                 load a pack and its detectors, check every sha256, run each model once, print a table
 *   build synthetic [--out <dir>]          the seeded-weights pack (tests, benchmarks)
 *   import emo-affectnet --backbone <h5|pt> [--temporal <h5|pt>]… [--out <dir>] [--resize nearest|area]
 *   import onnx --name <n> --licence <text> --backbone <onnx> [--temporal <onnx>] [--out <dir>]
 *   quantize <pack-dir|name> [--calibration <video|image|folder|shipped>]… [--scheme auto|u8s8|u8s8-reduce-range|u8u8]
 *            [--calibrate-method auto|minmax|percentile] [--out <dir>] [--name <n>] [--detector-pack <pack>] [--max-crops <n>]
 *                                          a new pack with a static int8 copy of the backbone (src/quantize/)
 *
 * The models folder is `--models-dir`, else $EMOSTREAM_MODELS_DIR, else `models/` at the
 * repository root (git-ignored), whatever the working directory.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { CALIBRATION_METHODS, DETECTION_FILE, forgetModelHashes, INT8_SCHEMES, MANIFEST_FILE, MODEL_ROLES, ModelSession, loadPack, readDetectionConfig, readPack, resolvePackDir, modelSettingsSchema, type CalibrationMethod, type Int8Scheme } from '@emostream/vision';
import { envBindingsOf, loadConfig } from '@emostream/shared';
import { importEmoAffectNet } from './emo-affectnet/import.js';
import { SYNTHETIC_PACK_NAME, buildSyntheticPack } from './synthetic.js';
import { importUserOnnx } from './user-onnx.js';
import { SHIPPED } from './quantize/crops.js';
import { DEFAULT_MAX_CROPS, quantizePack } from './quantize/quantize-pack.js';
import { pct } from './quantize/agreement.js';

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}
const consoleIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

const USAGE = `usage: models <command>
  list                                   list packs in the models folder
  verify <pack-dir|name>                 load a pack and its detectors, check every sha256, run each model once
  help                                   this text
  build synthetic [--out <dir>]          build the seeded-weights pack (tests and benchmarks only)
  import emo-affectnet --backbone <h5|pt> [--temporal <h5|pt>]... [--out <dir>] [--resize nearest|area]
                                         (the authors' Keras .h5 or PyTorch .pt/.pth files)
  import onnx --name <name> --licence <text> --backbone <onnx> [--temporal <onnx>] [--out <dir>]
  quantize <pack-dir|name> [--calibration <video|image|folder|shipped>]... [--scheme auto|u8s8|u8s8-reduce-range|u8u8]
           [--calibrate-method auto|minmax|percentile] [--out <dir>] [--name <name>] [--detector-pack <pack>] [--max-crops <n>]
                                         a new pack (default <name>-int8) whose backbone is static int8, calibrated on face
                                         crops of your footage (default: the shipped test media), the scheme chosen by
                                         measured agreement with float32 (needs Python 3 with venv: onnxruntime's quantizer)
options: --models-dir <dir> (default $EMOSTREAM_MODELS_DIR, else models/ at the repository root), --provider cpu|cuda, --threads <n>`;

/** Runs one command; returns the process exit code (0 ok, 1 failure, 2 usage error). */
export async function runModelsCli(argv: readonly string[], io: CliIo = consoleIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'models-dir': { type: 'string' },
        out: { type: 'string' },
        backbone: { type: 'string' },
        temporal: { type: 'string', multiple: true },
        resize: { type: 'string' },
        name: { type: 'string' },
        licence: { type: 'string' },
        provider: { type: 'string' },
        threads: { type: 'string' },
        calibration: { type: 'string', multiple: true },
        scheme: { type: 'string' },
        'calibrate-method': { type: 'string' },
        'detector-pack': { type: 'string' },
        'max-crops': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  // --models-dir wins over EMOSTREAM_MODELS_DIR, whose declaration (and default) is the stages' own.
  const modelsDirSetting = modelSettingsSchema.pick({ modelsDir: true });
  const overrides = values['models-dir'] === undefined ? {} : { modelsDir: values['models-dir'] };
  const modelsDir = resolve(loadConfig(modelsDirSetting, envBindingsOf(modelsDirSetting), { file: '', overrides }).modelsDir);
  const [command, sub, ...rest] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'help':
        io.out(USAGE);
        return 0;
      case 'list':
        return await list(modelsDir, io);
      case 'verify': {
        if (!sub || rest.length > 0) return usage(io, 'verify takes one pack folder or name');
        const provider = values.provider ?? 'cpu';
        if (provider !== 'cpu' && provider !== 'cuda') return usage(io, `--provider must be cpu or cuda, not ${provider}`);
        const threads = values.threads === undefined ? 0 : Number(values.threads);
        if (!Number.isInteger(threads) || threads < 0) return usage(io, `--threads must be a whole number, not ${values.threads}`);
        return await verify(resolvePackDir(sub, modelsDir), provider, threads, io);
      }
      case 'build': {
        if (sub !== SYNTHETIC_PACK_NAME) return usage(io, 'only "build synthetic" exists here');
        const out = resolve(values.out ?? join(modelsDir, SYNTHETIC_PACK_NAME));
        const manifest = await buildSyntheticPack(out);
        io.out(`built pack "${manifest.name}" in ${out} (random weights: trained=false)`);
        return 0;
      }
      case 'import': {
        if (sub === 'emo-affectnet') {
          if (!values.backbone) return usage(io, 'import emo-affectnet needs --backbone <h5|pt>');
          if (values.resize && values.resize !== 'nearest' && values.resize !== 'area') return usage(io, '--resize must be nearest or area');
          const packs = await importEmoAffectNet({
            backbone: values.backbone,
            temporal: values.temporal ?? [],
            out: resolve(values.out ?? modelsDir),
            ...(values.resize ? { resize: values.resize as 'nearest' | 'area' } : {}),
          });
          for (const p of packs) io.out(`imported pack "${p.manifest.name}" in ${p.dir}`);
          return 0;
        }
        if (sub === 'onnx') {
          if (!values.name || !values.backbone || !values.licence) return usage(io, 'import onnx needs --name, --licence and --backbone');
          const out = resolve(values.out ?? join(modelsDir, values.name));
          const temporal = values.temporal ?? [];
          if (temporal.length > 1) return usage(io, 'import onnx takes at most one --temporal');
          const manifest = await importUserOnnx({
            name: values.name,
            licence: values.licence,
            backbone: values.backbone,
            out,
            ...(temporal[0] ? { temporal: temporal[0] } : {}),
          });
          io.out(`imported pack "${manifest.name}" in ${out}`);
          return 0;
        }
        return usage(io, 'import what? emo-affectnet or onnx');
      }
      case 'quantize': {
        if (!sub || rest.length > 0) return usage(io, 'quantize takes one pack folder or name');
        const scheme = values.scheme ?? 'auto';
        if (!(['auto', ...INT8_SCHEMES] as string[]).includes(scheme)) return usage(io, `--scheme must be auto, ${INT8_SCHEMES.join(', ')}, not ${scheme}`);
        const calibrationMethod = values['calibrate-method'] ?? 'auto';
        if (!(['auto', ...CALIBRATION_METHODS] as string[]).includes(calibrationMethod))
          return usage(io, `--calibrate-method must be auto, ${CALIBRATION_METHODS.join(', ')}, not ${calibrationMethod}`);
        const maxCrops = values['max-crops'] === undefined ? DEFAULT_MAX_CROPS : Number(values['max-crops']);
        if (!Number.isInteger(maxCrops) || maxCrops < 1) return usage(io, `--max-crops must be a positive whole number, not ${values['max-crops']}`);
        const packDir = resolvePackDir(sub, modelsDir);
        // A pack with its own detection.json finds faces with it, as the face stage would; others use the default pack's.
        const detectorPackDir = resolvePackDir(values['detector-pack'] ?? (existsSync(join(packDir, DETECTION_FILE)) ? packDir : 'default'), modelsDir);
        const { manifest: source } = await readPack(packDir);
        const name = values.name ?? `${source.name}-int8`;
        const result = await quantizePack({
          packDir,
          outDir: resolve(values.out ?? join(modelsDir, name)),
          name,
          calibration: values.calibration ?? [SHIPPED],
          detectorPackDir,
          scheme: scheme as Int8Scheme | 'auto',
          calibrationMethod: calibrationMethod as CalibrationMethod | 'auto',
          maxCrops,
          log: (line) => io.err(line),
        });
        const { heldOut, scheme: chosen, calibrationMethod: method } = result.quantization;
        io.out(
          `quantized pack "${result.manifest.name}" in ${result.dir}: ${chosen} ${method}, top-1 agreement with float32 ${pct(heldOut.agreement.top1)} ` +
            `(${heldOut.agreement.top1Crops}/${heldOut.agreement.crops} held-out crops), embedding error ${heldOut.agreement.relativeEmbeddingError.toFixed(4)} of the face-to-face spread`,
        );
        return 0;
      }
      default:
        return usage(io, `unknown command "${command}"`);
    }
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 1;
  }
}

function usage(io: CliIo, problem: string): number {
  io.err(`${problem}\n${USAGE}`);
  return 2;
}

async function list(modelsDir: string, io: CliIo): Promise<number> {
  let entries: string[];
  try {
    entries = (await readdir(modelsDir)).sort();
  } catch {
    io.out(`no models folder at ${modelsDir} (build one: models build synthetic)`);
    return 0;
  }
  const rows: string[][] = [['name', 'trained', 'roles', 'folder', 'status']];
  let bad = 0;
  for (const entry of entries) {
    const dir = join(modelsDir, entry);
    if (!(await isFile(join(dir, MANIFEST_FILE)))) continue;
    try {
      const { manifest } = await readPack(dir);
      const roles = MODEL_ROLES.filter((r) => manifest.models[r]).join(',');
      rows.push([manifest.name, manifest.trained ? 'yes' : 'no (random)', roles, dir, 'ok']);
    } catch (error) {
      bad++;
      rows.push([entry, '?', '?', dir, (error as Error).message]);
    }
  }
  if (rows.length === 1) io.out(`no packs in ${modelsDir}`);
  else table(rows, io);
  return bad > 0 ? 1 : 0;
}

async function verify(dir: string, provider: 'cpu' | 'cuda', threads: number, io: CliIo): Promise<number> {
  await forgetModelHashes(dir); // verify reads every byte, whatever a start-up remembered
  const started = performance.now();
  const pack = await loadPack(dir, { session: { executionProvider: provider, intraOpThreads: threads } });
  const loadMs = performance.now() - started;
  const { manifest } = pack;
  io.out(`pack "${manifest.name}": ${manifest.description}`);
  io.out(`trained: ${manifest.trained ? 'yes' : 'NO — random weights, for tests and benchmarks only'}; licence: ${manifest.licence}`);
  io.out(`labels: ${manifest.labels.join(', ')}; sha256 checked; loaded and warmed up in ${loadMs.toFixed(0)} ms`);
  const q = manifest.models.backbone.quantization;
  if (q) {
    const a = q.heldOut.agreement;
    io.out(
      `backbone: int8 (${q.scheme}, ${q.calibrationMethod} calibration) from pack "${q.from.pack}"; top-1 agreement with float32 ${pct(a.top1)} ` +
        `(${a.top1Crops}/${a.crops} held-out crops), embedding error ${a.relativeEmbeddingError.toFixed(4)} of the face-to-face spread, measured on ${q.measuredOn}`,
    );
  }
  const rows: string[][] = [['role', 'file', 'input', 'outputs', 'provider', 'run ms (batch 1)']];
  try {
    for (const role of MODEL_ROLES) {
      const session = pack.sessions[role];
      const spec = manifest.models[role];
      if (!session || !spec) continue;
      rows.push(await rowOf(role, spec.file, session));
    }
    // Every detector of detection.json too, not only the manifest's: each is checked (sha256) and run once.
    if (existsSync(join(dir, DETECTION_FILE))) {
      const detection = await readDetectionConfig(dir, manifest.name);
      for (const [name, detector] of Object.entries(detection.detectors)) {
        const session = await ModelSession.create(join(dir, detector.file), { executionProvider: provider, intraOpThreads: threads }, { label: `${manifest.name}/${name}` });
        try {
          rows.push(await rowOf(`detector ${name}`, detector.file, session));
        } finally {
          await session.release();
        }
      }
    }
  } finally {
    await Promise.all(Object.values(pack.sessions).map((s) => s.release()));
  }
  table(rows, io);
  io.out('verify: ok');
  return 0;
}

async function rowOf(role: string, file: string, session: ModelSession): Promise<string[]> {
  const ms = await timeOneRun(session);
  const input = session.inputs[0]!;
  return [role, file, `${input.name} [${input.shape.join(',')}]`, session.outputs.map((o) => `${o.name} [${o.shape.join(',')}]`).join(' '), session.executionProvider, ms.toFixed(1)];
}

/** One more run on zeros at batch 1 (the session already ran its warm-up). */
async function timeOneRun(session: ModelSession): Promise<number> {
  const start = performance.now();
  await session.runOnZeros();
  return performance.now() - start;
}

function table(rows: string[][], io: CliIo): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, row] of rows.entries()) {
    io.out(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    if (i === 0) io.out(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
