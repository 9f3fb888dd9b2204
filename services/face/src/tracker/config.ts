import { envBoolean } from '@emostream/shared';
import { z } from 'zod';

/** The face tracker's settings (per model pack: detectors differ in how they score faces). */
export const faceTrackerConfigSchema = z
  .object({
    highThreshold: z.coerce
      .number()
      .min(0)
      .max(1)
      .default(0.7)
      .describe(
        "Detections scoring above this are 'high': matched first, and the only ones that can start a track. 0.7 is EMO-AffectNet's RetinaFace threshold. Env FACE_TRACK_HIGH_THRESHOLD.",
      ),
    lowThreshold: z.coerce
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe(
        "Detections scoring above this but not above highThreshold are 'low': they only extend tracks seen in the previous frame (a face blurred or half hidden); lower ones are ignored. Env FACE_TRACK_LOW_THRESHOLD.",
      ),
    matchIou: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(0.2)
      .describe('Least IoU between a track (at its predicted position) and a high detection for them to match. Env FACE_TRACK_MATCH_IOU.'),
    lowMatchIou: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe('Least IoU for a low detection to extend a track: stricter, as low scores are less certain. Env FACE_TRACK_LOW_MATCH_IOU.'),
    minHits: z.coerce
      .number()
      .int()
      .min(1)
      .default(2)
      .describe(
        'Consecutive frames with a match before a new track is confirmed and gets an id; until then its face is not passed on. 1 passes every detection on at once, as the reference does. Env FACE_TRACK_MIN_HITS.',
      ),
    maxMisses: z.coerce
      .number()
      .int()
      .min(0)
      .default(5)
      .describe(
        "Consecutive processed frames a confirmed track may go unmatched and keep its id; one more and it ends. 5 is about 1 s at 5 sampled frames per second. Keep the temporal stage's trackTtlMs above this × the sampling interval. Env FACE_TRACK_MAX_MISSES.",
      ),
    predictMotion: envBoolean
      .default(true)
      .describe("Match tracks at their position extrapolated at constant velocity from their last two observations, not at their last box: keeps ids of faces that cross or move fast. Env FACE_TRACK_PREDICT_MOTION."),
  })
  .strict()
  .refine((config) => config.lowThreshold <= config.highThreshold, {
    message: 'lowThreshold must not be above highThreshold',
    path: ['lowThreshold'],
  });
export type FaceTrackerConfig = z.infer<typeof faceTrackerConfigSchema>;
