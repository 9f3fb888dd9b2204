import { readDetectionConfig, readPack } from '@emostream/shared';
import type { CropSpec } from './handler.js';

/** The crops the backbone of the pack in `dir` expects. */
export async function packCropSpec(dir: string, encoding: CropSpec['encoding'], jpegQuality: number): Promise<CropSpec> {
  const { manifest } = await readPack(dir);
  const backbone = manifest.models.backbone;
  const resize = backbone.preprocessing.resize;
  if (resize !== 'nearest' && resize !== 'area') throw new Error(`pack ${manifest.name}: face crops are resized with nearest or area, not ${resize}`);
  return { inputSize: backbone.preprocessing.inputSize, resize, box: backbone.crop, encoding, jpegQuality };
}

/**
 * How far above its input size a detector still sees a frame well through its own resize (which samples
 * without smoothing): measured on ../shared/data, the default pack's SSD scores the marginal faces of
 * the 2048-px selfie higher on frames up to 4 × its 512 input than on frames smoothed down to it.
 */
export const DETECTION_SIDE_PER_INPUT = 4;

/**
 * The largest frame (longer side) the face stage detects on for the pack in `dir`: its largest detector
 * input × DETECTION_SIDE_PER_INPUT, times the tile grid where a pass tiles (tiles need the extra pixels).
 * 2048 px for the default pack: a larger frame (a 4K camera sent whole) is scaled down to it (Lanczos)
 * first, so the detector sees about the same picture whatever the camera's size.
 */
export async function packDetectionSide(dir: string): Promise<number> {
  const config = await readDetectionConfig(dir);
  return Math.max(
    ...config.mode.passes.map((pass) => {
      const grid = pass.tiling ? Math.max(pass.tiling.columns, pass.tiling.rows) : 1;
      return config.detectors[pass.detector]!.inputSize * DETECTION_SIDE_PER_INPUT * grid;
    }),
  );
}
