import { spawn } from 'node:child_process';
import { once } from 'node:events';
import sharp from 'sharp';
import { EMOTION_LABELS, type FaceEmotionEvent } from '@emostream/shared';
import { SceneCutDetector } from './scene-cut.js';

/** What the annotated video draws: the faces of each sampled frame, and which frames were sampled. */
export interface Annotations {
  faces: FaceEmotionEvent[];
  /** Every frame the pipeline processed (with a face or not), ascending: a face is drawn until the next one. */
  sampledSeqs: number[];
}

/**
 * Writes `<name>.annotated.mp4`: every frame of the input (`inputArgs`: ffmpeg's input options, e.g.
 * `['-i', file]`) with each face's box, "Label: NN.NN%" above it (as the reference draws), its track
 * id, and a small bar chart of the seven probabilities. A face is drawn on the frames its observation
 * covers: from its sampled frame until the next sampled frame (with faces or not), and never past a
 * hard cut. Boxes are in the source frame's pixels (`event.frame`), scaled to the video's size. An odd
 * width or height is padded by one pixel at the right or bottom (H.264 in 4:2:0 needs even sizes).
 */
export async function writeAnnotatedVideo(
  inputArgs: string[],
  output: string,
  video: { width: number; height: number; fps: number },
  annotations: Annotations,
): Promise<number> {
  const { width, height, fps } = video;
  const frameBytes = width * height * 3;
  const bySeq = new Map<number, FaceEmotionEvent[]>();
  for (const face of annotations.faces) bySeq.set(face.seq, [...(bySeq.get(face.seq) ?? []), face]);
  const sampledSeqs = [...new Set([...annotations.sampledSeqs, ...bySeq.keys()])].sort((a, b) => a - b);
  const cuts = new SceneCutDetector();

  // passthrough: every decoded frame once (no frames duplicated or dropped to keep a constant rate).
  const decoder = spawn('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    ...inputArgs,
    '-an',
    '-fps_mode',
    'passthrough',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-vf',
    `scale=${width}:${height}`,
    'pipe:1',
  ]);
  const encoder = spawn('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${width}x${height}`,
    '-r',
    String(fps),
    '-i',
    'pipe:0',
    '-vf',
    'pad=ceil(iw/2)*2:ceil(ih/2)*2',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    output,
  ]);
  const encoderError = collect(encoder.stderr);
  const encoderDone = once(encoder, 'exit');
  // A failed encoder closes its input: stop feeding it and report its own message below.
  encoder.stdin.on('error', () => decoder.kill('SIGKILL'));
  let pending: Buffer = Buffer.alloc(0);
  let frameNumber = 0;
  let current: FaceEmotionEvent[] = [];
  let next = 0;
  for await (const chunk of decoder.stdout as AsyncIterable<Buffer>) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= frameBytes) {
      const frame = pending.subarray(0, frameBytes);
      pending = pending.subarray(frameBytes);
      frameNumber += 1;
      // A new shot ends what was drawn; a sampled frame replaces it with its own faces (maybe none).
      if (cuts.next(frame, width, height)) current = [];
      while (next < sampledSeqs.length && sampledSeqs[next]! <= frameNumber) current = bySeq.get(sampledSeqs[next++]!) ?? [];
      const drawn: Uint8Array = current.length === 0 ? frame : await overlay(frame, width, height, current);
      if (encoder.stdin.destroyed) break;
      if (!encoder.stdin.write(drawn)) await Promise.race([once(encoder.stdin, 'drain'), encoderDone]);
    }
  }
  encoder.stdin.end();
  const [code] = await encoderDone;
  if (code !== 0)
    throw new Error(
      `ffmpeg could not write ${output} (exit code ${code}): ${(await encoderError).trim().split('\n').slice(-2).join(' | ')}`,
    );
  return frameNumber;
}

/**
 * Writes an annotated copy of an image (JPEG): its faces drawn as on the annotated video. The image is
 * read as ffmpeg read it for the pipeline (no EXIF rotation), so the boxes fall where they were found.
 */
export async function writeAnnotatedImage(image: string, output: string, faces: FaceEmotionEvent[]): Promise<string> {
  const { data, info } = await sharp(image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const drawn = faces.length === 0 ? data : await overlay(data, info.width, info.height, faces);
  await sharp(drawn, { raw: { width: info.width, height: info.height, channels: 3 } })
    .jpeg({ quality: 92 })
    .toFile(output);
  return output;
}

function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.on('data', (chunk) => (text += String(chunk)));
  return once(stream, 'end').then(
    () => text,
    () => text,
  );
}

async function overlay(frame: Buffer, width: number, height: number, faces: FaceEmotionEvent[]): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${faces.map((f) => faceSvg(f, width, height)).join('')}</svg>`;
  return sharp(frame, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg) }])
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** The face's box (source frame pixels) in a picture of the given size. */
export function boxInPicture(
  face: Pick<FaceEmotionEvent, 'box' | 'frame'>,
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number } {
  const sx = width / face.frame.width;
  const sy = height / face.frame.height;
  return { x: face.box.x * sx, y: face.box.y * sy, width: face.box.width * sx, height: face.box.height * sy };
}

const BAR_LABELS = EMOTION_LABELS.map((l) => l.slice(0, 3));

function faceSvg(face: FaceEmotionEvent, frameWidth: number, frameHeight: number): string {
  const { x, y, width, height } = boxInPicture(face, frameWidth, frameHeight);
  const font = Math.max(11, Math.round(width / 7));
  const text = `${face.label}: ${(face.confidence * 100).toFixed(2)}%`;
  // The bar chart sits right of the box, or left of it when the box touches the right edge.
  const chartWidth = 90;
  const chartX = x + width + 6 + chartWidth < frameWidth ? x + width + 6 : Math.max(0, x - chartWidth - 6);
  const bars = EMOTION_LABELS.map((label, i) => {
    const p = face.probabilities[label];
    const rowY = y + i * 13;
    return (
      `<text x="${chartX}" y="${rowY + 10}" font-family="DejaVu Sans, sans-serif" font-size="10" fill="white">${BAR_LABELS[i]}</text>` +
      `<rect x="${chartX + 26}" y="${rowY + 2}" width="${(p * (chartWidth - 28)).toFixed(1)}" height="9" fill="${label === face.label ? '#00e676' : '#90caf9'}"/>`
    );
  }).join('');
  return (
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="none" stroke="#00e676" stroke-width="2"/>` +
    `<rect x="${x}" y="${Math.max(0, y - font - 8)}" width="${Math.round(text.length * font * 0.62)}" height="${font + 6}" fill="black" fill-opacity="0.6"/>` +
    `<text x="${x + 2}" y="${Math.max(font, y - 6)}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="white">${text}</text>` +
    `<text x="${x + 3}" y="${y + height - 4}" font-family="DejaVu Sans, sans-serif" font-size="${Math.max(10, font - 2)}" fill="yellow">#${face.trackId}</text>` +
    `<rect x="${chartX - 2}" y="${y - 2}" width="${chartWidth}" height="${7 * 13 + 4}" fill="black" fill-opacity="0.55"/>` +
    bars
  );
}
