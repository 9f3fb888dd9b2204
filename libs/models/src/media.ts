// Decodes test media into RGB frames: stills and GIF frames through sharp, FLV clips through
// ffmpeg (sharp has no video decoder). Used by the recall script and the tests, not at run time.
import { execFileSync } from 'node:child_process';
import sharp from 'sharp';
import type { RgbImage } from '@emostream/vision';

/** Decodes a still (JPEG/PNG) or one page of an animated GIF. */
export async function decodeImage(file: string, page = 0): Promise<RgbImage> {
  const { data, info } = await sharp(file, { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`${file}: expected 3 channels, got ${info.channels}`);
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

export async function gifFrameCount(file: string): Promise<number> {
  return (await sharp(file).metadata()).pages ?? 1;
}

/** Every frame of a video as RGB, through `ffmpeg` on the PATH. */
export function decodeVideo(file: string, width: number, height: number): RgbImage[] {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-an', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    maxBuffer: 1 << 30,
  });
  const frameBytes = width * height * 3;
  if (raw.length % frameBytes !== 0) throw new Error(`${file}: ${raw.length} bytes is not a whole number of ${width}×${height} frames`);
  const frames: RgbImage[] = [];
  for (let i = 0; i < raw.length / frameBytes; i++) {
    frames.push({ width, height, data: new Uint8Array(raw.buffer, raw.byteOffset + i * frameBytes, frameBytes) });
  }
  return frames;
}
