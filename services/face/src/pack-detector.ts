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
 * The frame size (longer side) the face stage detects at for the pack in `dir`: its largest detector
 * input, times the tile grid where a pass tiles (tiles need the extra pixels). A frame is scaled to it,
 * so the detector sees the same picture whether a camera sends 1280 or 4096 pixels.
 */
export async function packDetectionSide(dir: string): Promise<number> {
  const config = await readDetectionConfig(dir);
  return Math.max(
    ...config.mode.passes.map((pass) => {
      const grid = pass.tiling ? Math.max(pass.tiling.columns, pass.tiling.rows) : 1;
      return config.detectors[pass.detector]!.inputSize * grid;
    }),
  );
}
