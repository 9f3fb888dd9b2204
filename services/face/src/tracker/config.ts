import { envBoolean, fromEnv } from '@emostream/shared';
import { DEFAULT_SCENE_CUT_FRACTION } from '@emostream/vision';
import { z } from 'zod';

/** The face tracker's settings (per model pack: detectors differ in how they score faces). */
export const faceTrackerConfigSchema = z
  .object({
    highThreshold: fromEnv(
      'FACE_TRACK_HIGH_THRESHOLD',
      z.coerce
        .number()
        .min(0)
        .max(1)
        .default(0.7)
        .describe(
          "Detections scoring above this are 'high': matched first, and the only ones that can start a track. 0.7 is EMO-AffectNet's RetinaFace threshold.",
        ),
    ),
    lowThreshold: fromEnv(
      'FACE_TRACK_LOW_THRESHOLD',
      z.coerce
        .number()
        .min(0)
        .max(1)
        .default(0.1)
        .describe(
          "Detections scoring above this but not above highThreshold are 'low': they only extend tracks seen in the previous frame (a face blurred or half hidden); lower ones are ignored.",
        ),
    ),
    matchIou: fromEnv(
      'FACE_TRACK_MATCH_IOU',
      z.coerce
        .number()
        .gt(0)
        .max(1)
        .default(0.2)
        .describe('Least IoU between a track (at its predicted position) and a high detection for them to match.'),
    ),
    lowMatchIou: fromEnv(
      'FACE_TRACK_LOW_MATCH_IOU',
      z.coerce
        .number()
        .gt(0)
        .max(1)
        .default(0.5)
        .describe('Least IoU for a low detection to extend a track: stricter, as low scores are less certain.'),
    ),
    minHits: fromEnv(
      'FACE_TRACK_MIN_HITS',
      z.coerce
        .number()
        .int()
        .min(1)
        .default(1)
        .describe(
          'Consecutive frames with a match before a new track is confirmed and gets an id; until then its face is not passed on. 1 (the default) passes every detection on at once, as the reference does (no frame of a face is lost); 2–3 suppress one-frame false positives in busy scenes.',
        ),
    ),
    maxMisses: fromEnv(
      'FACE_TRACK_MAX_MISSES',
      z.coerce
        .number()
        .int()
        .min(0)
        .default(9)
        .describe(
          "Consecutive processed frames a confirmed track may go unmatched and keep its id; one more and it ends. 9 is about 1.8 s at 5 sampled frames per second: a walker hidden by a pillar or a passer-by, or missed by the detector (the default mode misses a stopped walker for up to 13 sampled frames in the crowd scenes), keeps the id. Not more: keep the temporal stage's trackTtlMs (2 s) above this × the sampling interval.",
        ),
    ),
    predictMotion: fromEnv(
      'FACE_TRACK_PREDICT_MOTION',
      envBoolean
        .default(true)
        .describe(
          'Match tracks at their position extrapolated at constant velocity from their last two observations, not at their last box: keeps ids of faces that cross or move fast.',
        ),
    ),
    appearanceWeight: z.coerce
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "Share of appearance (the face's descriptor, see appearance.ts) against overlap in the cost of matching a track to a face; 0 matches on overlap alone (the ByteTrack-style tracker of before) and turns off matching beyond overlap.",
      ),
    appearanceGate: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.8)
      .describe(
        'Least appearance similarity (cosine) for a track to match a face it does not overlap: a face that moved far between sampled frames, or came back after a miss.',
      ),
    appearanceVeto: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.2)
      .describe(
        "A track never matches a face this unlike it (cosine below), however much they overlap. Low, because the same face's descriptor changes with its box's shape (the default mode's SSD box, then RetinaFace's box reshaped to it, on one face: down to 0.27 alike in the crowd scenes) and the swap veto (swapMargin) is what keeps two crossing faces apart.",
      ),
    swapMargin: z.coerce
      .number()
      .min(0)
      .max(2)
      .default(0.1)
      .describe(
        'A track never takes a face that looks more like another live track than like itself by more than this (cosine): appearance vetoes an id moving from one person to another when their boxes cross or one of them is hidden. Only tracks within reidMaxJump face widths of the face (their last box or prediction) count: a look-alike across the picture is no rival.',
      ),
    reidGate: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.6)
      .describe(
        'Least appearance similarity (cosine) for a track that missed the last frame(s) to take back a face it neither overlaps nor resembles by appearanceGate, when it is the live track that face looks most like and the face is within maxJump face widths per missed frame of where it was last seen: a person hidden for a few frames keeps the id.',
      ),
    identityGate: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.95)
      .describe(
        "appearanceGate for a face and track that both have an identity descriptor (the pack's identity model, face-api's face recognition net). Its cosine scale is its own: on the bench's crowd scenes (faces of 58–72 px) one person across frames is 0.91–0.99 alike (1st percentile 0.91–0.95), two people near each other 0.87–0.97 (median 0.90).",
      ),
    identityVeto: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.85)
      .describe(
        'appearanceVeto on the identity descriptor: a track never takes a face this unlike it (cosine below; below what one person scores across frames).',
      ),
    identitySwapMargin: z.coerce
      .number()
      .min(0)
      .max(2)
      .default(0.02)
      .describe(
        'swapMargin on the identity descriptor: a face clearly more like another live track near it than like this one (by more than this) is that other person.',
      ),
    identityReidGate: z.coerce
      .number()
      .min(-1)
      .max(1)
      .default(0.94)
      .describe('reidGate on the identity descriptor: least cosine for a missing track to take back a face on identity.'),
    reidMaxJump: z.coerce
      .number()
      .gt(0)
      .default(1.5)
      .describe(
        'Farthest, in face widths per processed frame since the track was last seen, a face may be from the track (its last box or its prediction) to be re-identified on appearance: a hidden person walks on, at walking speed. Also how near (face widths, not growing with misses) a track must be to a face to count as its look-alike for swapMargin and re-identification.',
      ),
    duplicateOverlap: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(0.6)
      .describe(
        'A detection lying this much (share of the smaller box) over a face already matched to a track in the same frame starts no track: a second box on one face (another detector, part of a close-up) is no second person. And two live tracks on one person are made one: an unmatched track whose last box lies this much over a face another track took, and that looks at least reidGate like it, is the same person; the older id keeps the face and the younger track ends.',
      ),
    maxJump: z.coerce
      .number()
      .gt(0)
      .default(4)
      .describe('Farthest a face may move from its predicted position per processed frame, in face widths, to match on appearance.'),
    maxScaleChange: z.coerce
      .number()
      .min(1)
      .default(2)
      .describe('Largest ratio of a face width to its track’s last width for a match on appearance.'),
    recoverFromLastObservation: envBoolean
      .default(true)
      .describe(
        "OC-SORT's observation-centric recovery: tracks left unmatched are tried once more at their last observed box (a face that stopped while its prediction ran on).",
      ),
    sceneCutFraction: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(DEFAULT_SCENE_CUT_FRACTION)
      .describe(
        'A frame is a hard cut, and every track ends, when at least this share of its 3×3 cells changed colour since the previous processed frame outside the faces (see scene-cut.ts in @emostream/vision).',
      ),
    endTracksAtSceneCuts: envBoolean.default(true).describe('End every track at a hard cut, so no id is carried onto another shot.'),
  })
  .strict()
  .refine((config) => config.lowThreshold <= config.highThreshold, {
    message: 'lowThreshold must not be above highThreshold',
    path: ['lowThreshold'],
  });
export type FaceTrackerConfig = z.infer<typeof faceTrackerConfigSchema>;
