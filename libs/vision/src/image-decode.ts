// Frames and crops travel as JPEG: one way to turn them into the RGB the models take.
import sharp from 'sharp';
import type { RgbImage } from './preprocess.js';

/**
 * Decodes an image (JPEG on the pipeline's topics) to 8-bit sRGB RGB. An image whose header says it
 * has more than `maxPixels` is refused from the header, undecoded, as is anything sharp cannot read:
 * both throw sharp's own error, for the caller to name as its input's fault.
 */
export async function decodeToRgb(bytes: Uint8Array, maxPixels: number): Promise<RgbImage> {
  const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
