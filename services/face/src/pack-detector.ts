import { readPack } from '@emostream/vision';
import type { CropSpec } from './handler.js';

/** The crops the backbone of the pack in `dir` expects. */
export async function packCropSpec(dir: string, encoding: CropSpec['encoding'], jpegQuality: number): Promise<CropSpec> {
  const { manifest } = await readPack(dir);
  const backbone = manifest.models.backbone;
  const resize = backbone.preprocessing.resize;
  if (resize !== 'nearest' && resize !== 'area')
    throw new Error(`pack ${manifest.name}: face crops are resized with nearest or area, not ${resize}`);
  return { inputSize: backbone.preprocessing.inputSize, resize, box: backbone.crop, encoding, jpegQuality };
}
