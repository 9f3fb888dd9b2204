// Face crops for calibrating and checking a quantized backbone, made by the pipeline's own pieces:
// the detector pack's detection mode (what the face stage runs), the face stage's minimum face size,
// and `preprocessFace` with the backbone pack's crop and preprocessing, so each crop is exactly the
// tensor the backbone is fed in `emo run` and the services. Sources: a video (sampled as the
// reference samples files: frames 1, 1+k, … with k = round(5·fps/25)), an image or animated GIF,
// a folder of them (sorted, not recursive, like `emo run`), or "shipped": the repository's own
// test media (six CREMA-D clips, ODbL, and four Intel GIFs, CC BY 4.0: test/media/MANIFEST.md).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { packageDir, processSettings } from '@emostream/shared';
import { DEFAULT_MIN_FACE_SIZE, preprocessFace, tensorSettingsOf, type CropSettings, type PackFaceDetector, type RgbImage, type TensorSettings } from '@emostream/vision';
import { decodeImage, gifFrameCount } from '../media.js';

/** Where the shipped calibration set lives (the repository's test media). */
export const SHIPPED_MEDIA_DIR = resolve(packageDir(import.meta.url), '../../test/media');
export const SHIPPED = 'shipped';
/** The face stage's default FACE_MIN_SIZE: smaller faces never reach the backbone. */
export const MIN_FACE_SIZE = DEFAULT_MIN_FACE_SIZE;
/** GIF pages of the shipped scenes taken: every 4th (consecutive pages are nearly the same picture). */
const SHIPPED_GIF_STEP = 4;

const VIDEO_EXTENSIONS = new Set(['.mp4', '.mkv', '.mov', '.avi', '.flv', '.webm', '.m4v', '.ts', '.mpg', '.mpeg']);
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff']);

/** The backbone entry fields crops are made from. */
export interface BackboneInputSpec {
  readonly input: { readonly layout: string; readonly shape: readonly number[] };
  readonly preprocessing: Omit<TensorSettings, 'layout'>;
  readonly crop: CropSettings;
}

/** Crops as one float32 tensor [count, …shape], with where each came from. */
export interface CropSet {
  readonly data: Float32Array;
  readonly count: number;
  /** One crop's shape without the batch (e.g. 112, 112, 3). */
  readonly shape: readonly number[];
  /** `file#frame` of each crop. */
  readonly origins: readonly string[];
}

interface Frame {
  readonly origin: string;
  readonly image: RgbImage;
}

/** Collects up to `maxCrops` face crops from the sources, in order; fails when a source is unusable. */
export async function collectCrops(
  sources: readonly string[],
  detector: PackFaceDetector,
  backbone: BackboneInputSpec,
  maxCrops: number,
): Promise<CropSet> {
  const settings = tensorSettingsOf({ input: backbone.input, preprocessing: backbone.preprocessing });
  const shape = backbone.input.shape.slice(1);
  const size = shape.reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  const origins: string[] = [];
  for (const source of sources) {
    for await (const frame of framesOf(source)) {
      const faces = (await detector.detect(frame.image)).filter((d) => d.x2 - d.x1 >= MIN_FACE_SIZE && d.y2 - d.y1 >= MIN_FACE_SIZE);
      for (const [i, face] of faces.entries()) {
        const row = new Float32Array(size);
        preprocessFace(frame.image, { x: face.x1, y: face.y1, width: face.x2 - face.x1, height: face.y2 - face.y1 }, backbone.crop, settings, row);
        rows.push(row);
        origins.push(faces.length > 1 ? `${frame.origin} face ${i + 1}` : frame.origin);
        if (rows.length >= maxCrops) return pack(rows, shape, origins);
      }
    }
  }
  return pack(rows, shape, origins);
}

function pack(rows: Float32Array[], shape: readonly number[], origins: string[]): CropSet {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * size);
  rows.forEach((row, i) => data.set(row, i * size));
  return { data, count: rows.length, shape, origins };
}

/** The crops whose index passes `keep`, as a new set. */
export function selectCrops(set: CropSet, keep: (index: number) => boolean): CropSet {
  const size = set.shape.reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  const origins: string[] = [];
  for (let i = 0; i < set.count; i++) {
    if (!keep(i)) continue;
    rows.push(set.data.subarray(i * size, (i + 1) * size));
    origins.push(set.origins[i]!);
  }
  return pack(rows, set.shape, origins);
}

export function cropsSha256(set: CropSet): string {
  return createHash('sha256').update(new Uint8Array(set.data.buffer, set.data.byteOffset, set.data.byteLength)).digest('hex');
}

/** The files a source stands for: "shipped", a folder's media (sorted), or one file. */
export function sourceFiles(source: string): string[] {
  if (source === SHIPPED) {
    const labelled = join(SHIPPED_MEDIA_DIR, 'labelled');
    const scenes = join(SHIPPED_MEDIA_DIR, 'scenes');
    try {
      return [...mediaIn(labelled), ...mediaIn(scenes)];
    } catch (error) {
      throw new Error(`the shipped calibration set is read from ${SHIPPED_MEDIA_DIR} (the repository's test media), which is not here; give --calibration <video|image|folder> of your own footage instead`, { cause: error });
    }
  }
  let isDir: boolean;
  try {
    isDir = statSync(source).isDirectory();
  } catch (error) {
    throw new Error(`calibration source ${source} does not exist`, { cause: error });
  }
  if (!isDir) {
    if (!isMedia(source)) throw new Error(`calibration source ${source} is not a video or image this tool reads (${[...VIDEO_EXTENSIONS, ...IMAGE_EXTENSIONS, '.gif'].join(' ')})`);
    return [source];
  }
  const files = mediaIn(source);
  if (files.length === 0) throw new Error(`calibration folder ${source} has no video or image in it`);
  return files;
}

function mediaIn(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => join(dir, name))
    .filter((path) => isMedia(path) && statSync(path).isFile());
}

function isMedia(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.gif' || VIDEO_EXTENSIONS.has(ext) || IMAGE_EXTENSIONS.has(ext);
}

async function* framesOf(source: string): AsyncGenerator<Frame> {
  const gifStep = source === SHIPPED ? SHIPPED_GIF_STEP : 1;
  for (const file of sourceFiles(source)) {
    const ext = extname(file).toLowerCase();
    const name = source === SHIPPED ? `${basename(join(file, '..'))}/${basename(file)}` : file;
    if (ext === '.gif') {
      const pages = await gifFrameCount(file);
      for (let page = 0; page < pages; page += gifStep) yield { origin: `${name}#${page + 1}`, image: await decodeImage(file, page) };
    } else if (IMAGE_EXTENSIONS.has(ext)) {
      yield { origin: name, image: await decodeImage(file) };
    } else {
      yield* sampledVideoFrames(file, name);
    }
  }
}

/** A video's sampled frames, decoded by ffmpeg one at a time (a long video is never held whole). */
async function* sampledVideoFrames(file: string, name: string): AsyncGenerator<Frame> {
  const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate', '-of', 'json', file], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(`ffprobe cannot read ${file} (${probe.error?.message ?? probe.stderr.trim()}); quantizing from video needs ffmpeg (scripts/install-system-deps.sh)`);
  const stream = (JSON.parse(probe.stdout) as { streams?: { width: number; height: number; avg_frame_rate: string }[] }).streams?.[0];
  if (!stream) throw new Error(`${file} has no video stream`);
  const [num, den] = stream.avg_frame_rate.split('/').map(Number);
  const fps = num && den ? num / den : 25;
  const step = Math.max(1, Math.round((5 * fps) / 25));
  const { width, height } = stream;
  const frameBytes = width * height * 3;
  // FFMPEG_PATH, as ingest and `emo run` read sources with.
  const ffmpeg = spawn(processSettings().ffmpegPath, ['-v', 'error', '-i', file, '-an', '-vf', `select=not(mod(n\\,${step}))`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  ffmpeg.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A missing ffmpeg emits 'error' (then 'close'): unheard, it would end the process.
  ffmpeg.on('error', (error) => (stderr += `cannot start ffmpeg: ${error.message}`));
  const exited = new Promise<number | null>((done) => ffmpeg.on('close', done));
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  try {
    for await (const chunk of ffmpeg.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= frameBytes) {
        const data = new Uint8Array(pending.subarray(0, frameBytes));
        pending = pending.subarray(frameBytes);
        yield { origin: `${name}#${index * step + 1}`, image: { width, height, data } };
        index++;
      }
    }
  } finally {
    // A consumer that stopped early (enough crops) ends ffmpeg; nothing else should be left running.
    if (ffmpeg.exitCode === null) ffmpeg.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0 && code !== null) throw new Error(`ffmpeg failed on ${file} (exit code ${code}): ${stderr.trim()}`);
}
