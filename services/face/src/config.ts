import { z } from 'zod';
import { type EnvBinding, envBindingsOf, fromEnv, runtimeConfigSchema } from '@emostream/shared';
import { DEFAULT_MIN_FACE_SIZE, modelSettingsSchema } from '@emostream/vision';
import { DEFAULT_MAX_FRAME_PIXELS } from './frame-limits.js';
import { faceTrackerConfigSchema } from './tracker/index.js';

export const faceConfigSchema = z
  .object({
    runtime: runtimeConfigSchema,
    /** The backbone's pack: its input size, resize and box convention shape the crops. */
    model: modelSettingsSchema.default({}),
    face: z
      .object({
        detectorPack: fromEnv(
          'FACE_DETECTOR_PACK',
          z.string().min(1).default('default').describe('Pack whose detectors (detection.json) find faces.'),
        ),
        minFaceSize: fromEnv(
          'FACE_MIN_SIZE',
          z.coerce
            .number()
            .min(4)
            .default(DEFAULT_MIN_FACE_SIZE)
            .describe(
              'Smallest face to find, in source pixels: detection sees the frame at the scale that brings a face this wide to its detector\'s smallest (the default mode: the whole frame in one RetinaFace pass at that scale; a tiled mode: in overlapping tiles; smaller values cost more per frame, see the README\'s recall table; at least 4), and narrower faces are dropped (counted in emostream_face_dropped_total{reason="min_size"}).',
            ),
        ),
        detectorSessions: fromEnv(
          'FACE_DETECTOR_SESSIONS',
          z.coerce
            .number()
            .int()
            .min(1)
            .max(16)
            .default(2)
            .describe(
              'Sessions of each detector run on every frame, each with its share of the usable CPUs (the cores, or a container CPU limit where lower; EMOSTREAM_INTRA_OP_THREADS each unless 0): frames detected side by side (on 2 cores, two single-threaded RetinaFace sessions took 18 % less time and 13 % less CPU a frame than one on both).',
            ),
        ),
        cropEncoding: fromEnv(
          'FACE_CROP_ENCODING',
          z.enum(['jpeg', 'rgb8']).default('jpeg').describe('Crops on the wire: jpeg (a tenth of the size) or raw rgb8 (bit-exact).'),
        ),
        jpegQuality: fromEnv(
          'FACE_CROP_JPEG_QUALITY',
          z.coerce.number().int().min(1).max(100).default(90).describe('JPEG quality of crops.'),
        ),
        maxPixels: fromEnv(
          'FACE_MAX_PIXELS',
          z.coerce
            .number()
            .int()
            .positive()
            .default(DEFAULT_MAX_FRAME_PIXELS)
            .describe('Frames with more pixels (width × height, read from the JPEG header) are dead-lettered without decoding.'),
        ),
      })
      .strict()
      .default({}),
    /** The tracker's settings, each with its FACE_TRACK_* variable. */
    tracker: faceTrackerConfigSchema.default({}),
  })
  .strict();
export type FaceConfig = z.infer<typeof faceConfigSchema>;

/** Its environment variables, as its fields declare them (`fromEnv`). */
export const faceEnvBindings: EnvBinding[] = envBindingsOf(faceConfigSchema);
