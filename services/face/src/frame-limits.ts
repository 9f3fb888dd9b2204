import { StageError } from '@emostream/shared';

/**
 * Decoding cost is set by the picture's size, which its sender chooses: a 16000×16000 JPEG of a few
 * megabytes decodes to 768 MB of pixels. Frames above the limit are refused from their header, before
 * anything is decoded (and dead-lettered: not retriable). Default: 4096×4096, above 4K UHD.
 */
export const DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096;

/** Width and height from a JPEG's SOF marker, reading only the header. Undefined when there is none. */
export function jpegDimensions(jpeg: Uint8Array): { width: number; height: number } | undefined {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return undefined;
  let offset = 2;
  while (offset + 9 < jpeg.length) {
    if (jpeg[offset] !== 0xff) return undefined;
    const marker = jpeg[offset + 1]!;
    // Fill bytes and markers without a length.
    if (marker === 0xff) {
      offset += 1;
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      offset += 2;
      continue;
    }
    const length = (jpeg[offset + 2]! << 8) | jpeg[offset + 3]!;
    if (length < 2) return undefined;
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (jpeg[offset + 5]! << 8) | jpeg[offset + 6]!, width: (jpeg[offset + 7]! << 8) | jpeg[offset + 8]! };
    }
    if (marker === 0xda) return undefined; // scan data before any frame header
    offset += 2 + length;
  }
  return undefined;
}

/** Throws a non-retriable FRAME_TOO_LARGE for a JPEG above `maxPixels` (header only; nothing is decoded). */
export function assertFrameWithinLimit(jpeg: Uint8Array, maxPixels: number): void {
  const size = jpegDimensions(jpeg);
  if (size && size.width * size.height > maxPixels) {
    throw new StageError(
      'FRAME_TOO_LARGE',
      `frame of ${size.width}×${size.height} pixels is above FACE_MAX_PIXELS (${maxPixels}); not decoded`,
    );
  }
}
