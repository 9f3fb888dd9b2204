// Helpers for the emo run tests on real media: making clips with ffmpeg, decoding frames, and finding
// what the annotated outputs drew (the box stroke is #00e676, a green no test clip here contains).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RgbImage } from '@emostream/vision';
import { videoInfo } from '@emostream/shared/testing';

export const emoBin = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

/** `emo run <args>` to its end, logs off; fails the test on a hang. */
export function runEmo(args: string[], timeoutMs = 240_000) {
  return spawnSync(process.execPath, [emoBin, 'run', ...args], {
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}

/** The given 1-based frames of a video, decoded to RGB at its own size. */
export function decodeFrames(video: string, frameNumbers: number[]): Map<number, RgbImage> {
  const { width, height } = videoInfo(video);
  const wanted = [...new Set(frameNumbers)].sort((a, b) => a - b);
  const select = wanted.map((n) => `eq(n\\,${n - 1})`).join('+');
  const out = spawnSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-i',
      video,
      '-vf',
      `select='${select}'`,
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { maxBuffer: 1 << 30 },
  );
  assert.equal(out.status, 0, String(out.stderr));
  const bytes = width * height * 3;
  assert.equal(out.stdout.length, bytes * wanted.length, `expected ${wanted.length} frames of ${video}`);
  return new Map(
    wanted.map((n, i) => [n, { width, height, data: new Uint8Array(out.stdout.buffer, out.stdout.byteOffset + i * bytes, bytes) }]),
  );
}

/** Every frame of a (small) video, 1-based. */
export function decodeAllFrames(video: string): RgbImage[] {
  const { width, height } = videoInfo(video);
  const out = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-i', video, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    { maxBuffer: 1 << 30 },
  );
  assert.equal(out.status, 0, String(out.stderr));
  const bytes = width * height * 3;
  return Array.from({ length: out.stdout.length / bytes }, (_, i) => ({
    width,
    height,
    data: new Uint8Array(out.stdout.buffer, out.stdout.byteOffset + i * bytes, bytes),
  }));
}

export async function decodeImage(file: string): Promise<RgbImage> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** A pixel of the drawn box stroke (#00e676), after JPEG / H.264 softened it. */
function isStroke(image: RgbImage, x: number, y: number): boolean {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return false;
  const i = (Math.round(y) * image.width + Math.round(x)) * 3;
  const [r, g, b] = [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
  return g >= 120 && g - r >= 60 && g - b >= 25;
}

/** Stroke pixels anywhere in the picture. */
export function strokePixels(image: RgbImage): number {
  let count = 0;
  for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) if (isStroke(image, x, y)) count++;
  return count;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Whether a box is drawn with its edges within `tolerance` (a fraction of the picture's width for
 * vertical edges, of its height for horizontal ones) of `box`: along the middle half of each edge, at
 * least 80 % of the lines across it meet the stroke inside the tolerance band. The right edge's band
 * stops 3 px outside the box: the probability bars (whose leading bar is the same green) start there.
 */
export function drawnNear(image: RgbImage, box: Box, tolerance = 0.02): boolean {
  const edges = drawnEdges(image, box, tolerance);
  return Math.min(edges.left, edges.right, edges.top, edges.bottom) >= 0.8;
}

/** For each edge of `box`, the fraction of lines across it that meet the stroke within the tolerance band. */
export function drawnEdges(image: RgbImage, box: Box, tolerance = 0.02): { left: number; right: number; top: number; bottom: number } {
  const tx = Math.max(2, tolerance * image.width);
  const ty = Math.max(2, tolerance * image.height);
  const along = (from: number, to: number) => Array.from({ length: Math.max(1, Math.round(to - from)) }, (_, i) => from + i);
  const fraction = (lines: number[], hit: (line: number) => boolean) => lines.filter(hit).length / lines.length;
  const across = (from: number, to: number, test: (v: number) => boolean) => {
    for (let v = Math.floor(from); v <= Math.ceil(to); v++) if (test(v)) return true;
    return false;
  };
  const rows = along(box.y + box.height * 0.25, box.y + box.height * 0.75);
  const columns = along(box.x + box.width * 0.4, box.x + box.width * 0.75);
  const left = fraction(rows, (y) => across(box.x - tx, box.x + tx, (x) => isStroke(image, x, y)));
  const right = fraction(rows, (y) => across(box.x + box.width - tx, box.x + box.width + 3, (x) => isStroke(image, x, y)));
  const top = fraction(columns, (x) => across(box.y - ty, box.y + ty, (y) => isStroke(image, x, y)));
  const bottom = fraction(columns, (x) => across(box.y + box.height - ty, box.y + box.height + ty, (y) => isStroke(image, x, y)));
  return { left, right, top, bottom };
}

/** Largest intersection over union of `box` with any of `candidates`, and that candidate. */
export function bestMatch(box: Box, candidates: Box[]): { iou: number; match: Box | undefined } {
  let best: { iou: number; match: Box | undefined } = { iou: 0, match: undefined };
  for (const c of candidates) {
    const ix = Math.max(0, Math.min(box.x + box.width, c.x + c.width) - Math.max(box.x, c.x));
    const iy = Math.max(0, Math.min(box.y + box.height, c.y + c.height) - Math.max(box.y, c.y));
    const inter = ix * iy;
    const iou = inter / (box.width * box.height + c.width * c.height - inter);
    if (iou > best.iou) best = { iou, match: c };
  }
  return best;
}

/** Fails unless every coordinate of `actual` is within 2 % of the frame's width (x, width) or height (y, height) of `truth`. */
export function assertWithin2Percent(actual: Box, truth: Box, frame: { width: number; height: number }, where: string): void {
  const off = {
    x: Math.abs(actual.x - truth.x) / frame.width,
    y: Math.abs(actual.y - truth.y) / frame.height,
    width: Math.abs(actual.width - truth.width) / frame.width,
    height: Math.abs(actual.height - truth.height) / frame.height,
  };
  const worst = Math.max(...Object.values(off));
  assert.ok(
    worst <= 0.02,
    `${where}: box ${JSON.stringify(actual)} is off the true ${JSON.stringify(truth)} by ${(worst * 100).toFixed(1)} % of the frame`,
  );
}

export function readJsonLines<T = Record<string, unknown>>(text: string): T[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}
