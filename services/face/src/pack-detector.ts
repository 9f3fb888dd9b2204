import sharp from 'sharp';
import {
  detectFrame,
  detectTiled,
  mergeDetections,
  modePasses,
  openDetectors,
  readDetectionConfig,
  readPack,
  type Detection,
  type RgbImage,
  type SessionConfig,
} from '@emostream/vision';
import type { CropSpec, FaceDetector } from './handler.js';

/** The crops the backbone of the pack in `dir` expects. */
export async function packCropSpec(dir: string, encoding: CropSpec['encoding'], jpegQuality: number): Promise<CropSpec> {
  const { manifest } = await readPack(dir);
  const backbone = manifest.models.backbone;
  const resize = backbone.preprocessing.resize;
  if (resize !== 'nearest' && resize !== 'area')
    throw new Error(`pack ${manifest.name}: face crops are resized with nearest or area, not ${resize}`);
  return { inputSize: backbone.preprocessing.inputSize, resize, box: backbone.crop, encoding, jpegQuality };
}

/**
 * Most frame pixels per model-input pixel a detector is given. A detector's own input resize samples
 * without smoothing (face-api's bilinear, for parity), so a frame much larger than its input aliases and
 * small faces vanish: the 13-px faces of ../shared/data's corridor clip, enlarged, were lost to
 * BlazeFace's 256-px input. Larger frames are first smoothed down (Lanczos) to this many times the input.
 * At 2 the default pack's SSD sees up to 1024 px, which keeps the selfie's smallest face scoring as it
 * does on the original.
 */
export const MAX_PIXELS_PER_INPUT = 2;

/**
 * The pack's detection mode (detection.json) as the face stage runs it: like openPackFaceDetector, but
 * each detector pass gets the frame scaled down (Lanczos) to at most MAX_PIXELS_PER_INPUT × its input
 * size (× the tile grid when it tiles), and its boxes mapped back to the frame. Detection thereby sees
 * about the same picture whatever size a camera sends.
 */
export async function openStageDetector(dir: string, session: Partial<SessionConfig> = {}): Promise<FaceDetector> {
  const config = await readDetectionConfig(dir);
  const passes = modePasses(config, await openDetectors(dir, config, session));
  return {
    async detect(frame) {
      const scaled = new Map<number, Promise<Fitted>>();
      let kept: Detection[] = [];
      for (const { model, tiling } of passes) {
        const grid = tiling ? Math.max(tiling.columns, tiling.rows) : 1;
        const side = model.inputSize * MAX_PIXELS_PER_INPUT * grid;
        if (!scaled.has(side)) scaled.set(side, fitWithin(frame, side));
        const { image, fx, fy } = await scaled.get(side)!;
        const found = tiling ? await detectTiled(model, image, tiling) : await detectFrame(model, image);
        kept = mergeDetections(
          kept,
          found.map((d) => ({ x1: d.x1 / fx, y1: d.y1 / fy, x2: d.x2 / fx, y2: d.y2 / fy, score: d.score })),
        );
      }
      return kept;
    },
  };
}

/** A frame scaled for a detector, and the scale applied per axis. */
interface Fitted {
  image: RgbImage;
  fx: number;
  fy: number;
}

/** The frame scaled down (Lanczos) so its longer side is at most `side`. */
async function fitWithin(frame: RgbImage, side: number): Promise<Fitted> {
  const factor = Math.min(1, side / Math.max(frame.width, frame.height));
  if (factor === 1) return { image: frame, fx: 1, fy: 1 };
  const width = Math.max(1, Math.round(frame.width * factor));
  const height = Math.max(1, Math.round(frame.height * factor));
  const data = await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  // Boxes map back with the exact per-axis ratios (rounding the size changes them slightly).
  return {
    image: { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) },
    fx: width / frame.width,
    fy: height / frame.height,
  };
}
