import { z } from 'zod';
import { modelEnvBindings, modelSettingsSchema, nestBindings, runtimeConfigSchema, runtimeEnvBindings } from '@emostream/shared';
import { faceTrackerConfigSchema } from './tracker/index.js';

export const faceConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    /** The backbone's pack: its input size, resize and box convention shape the crops. */
    model: modelSettingsSchema.default({}),
    face: z
      .object({
        detectorPack: z.string().min(1).default('default').describe('Pack whose detectors (detection.json) find faces. Env FACE_DETECTOR_PACK.'),
        minFaceSize: z.coerce.number().min(0).default(12).describe('Faces narrower than this many pixels are ignored. Env FACE_MIN_SIZE.'),
        cropEncoding: z.enum(['jpeg', 'rgb8']).default('jpeg').describe('Crops on the wire: jpeg (a tenth of the size) or raw rgb8 (bit-exact). Env FACE_CROP_ENCODING.'),
        jpegQuality: z.coerce.number().int().min(1).max(100).default(90).describe('JPEG quality of crops. Env FACE_CROP_JPEG_QUALITY.'),
        trackMinHits: z.coerce
          .number()
          .int()
          .min(1)
          .default(1)
          .describe('Detections before a track gets an id. 1 = every detection counts, as in the reference (no frame of a face is lost); 2–3 suppress one-frame false positives in busy scenes. Env FACE_TRACK_MIN_HITS.'),
        maxPixels: z.coerce
          .number()
          .int()
          .positive()
          .default(4096 * 4096)
          .describe('Frames with more pixels (width × height, read from the JPEG header) are dead-lettered without decoding. Env FACE_MAX_PIXELS.'),
        trackMaxMisses: z.coerce.number().int().min(0).optional().describe('Missed frames before a track ends. Env FACE_TRACK_MAX_MISSES.'),
      })
      .strict()
      .default({}),
  })
  .strict();
export type FaceConfig = z.infer<typeof faceConfigSchema>;

export const faceEnvBindings = [
  ...nestBindings('runtime', runtimeEnvBindings),
  ...modelEnvBindings('model'),
  { env: 'FACE_DETECTOR_PACK', path: 'face.detectorPack' },
  { env: 'FACE_MIN_SIZE', path: 'face.minFaceSize' },
  { env: 'FACE_CROP_ENCODING', path: 'face.cropEncoding' },
  { env: 'FACE_CROP_JPEG_QUALITY', path: 'face.jpegQuality' },
  { env: 'FACE_TRACK_MIN_HITS', path: 'face.trackMinHits' },
  { env: 'FACE_TRACK_MAX_MISSES', path: 'face.trackMaxMisses' },
  { env: 'FACE_MAX_PIXELS', path: 'face.maxPixels' },
];

/** The tracker settings, with the operator's overrides. */
export function trackerConfig(config: FaceConfig) {
  return faceTrackerConfigSchema.parse({
    minHits: config.face.trackMinHits,
    ...(config.face.trackMaxMisses !== undefined ? { maxMisses: config.face.trackMaxMisses } : {}),
  });
}
