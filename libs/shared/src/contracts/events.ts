import { EMOTION_LABELS, type EmotionLabel } from './labels.js';

/**
 * The public events on `${prefix}.events.v2`, as JSON. `schemas/emotion-event.v2.schema.json` is the
 * published contract for downstream consumers; a test keeps these types and that schema in step.
 * (v1, before: boxes in the possibly downscaled transport frame, no frame size, `dominantEmotion`;
 * docs/events-v2.md is the migration.)
 */
export type EmotionEvent = FaceEmotionEvent | TrackSummaryEvent;

export type Probabilities = Record<EmotionLabel, number>;

export interface EventBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Size of the source's own frame: the pixel space of every box. */
export interface FrameSize {
  width: number;
  height: number;
}

export const FACE_EVENT = 'emostream.event.face.v2';
export const TRACK_SUMMARY_EVENT = 'emostream.event.track_summary.v2';

/** One face in one sampled frame. */
export interface FaceEmotionEvent {
  schema: typeof FACE_EVENT;
  streamId: string;
  seq: number;
  ptsMs: number;
  capturedAtMs: number;
  emittedAtMs: number;
  trackId: number;
  /** In the source frame's pixels. */
  box: EventBox;
  frame: FrameSize;
  detectorScore: number;
  label: EmotionLabel;
  confidence: number;
  probabilities: Probabilities;
}

/** Emitted once when a track ends (not seen for the track TTL, or the stream ended). */
export interface TrackSummaryEvent {
  schema: typeof TRACK_SUMMARY_EVENT;
  streamId: string;
  trackId: number;
  firstSeq: number;
  lastSeq: number;
  startPtsMs: number;
  endPtsMs: number;
  durationMs: number;
  frames: number;
  /** argmax of meanProbabilities (not the reference's video emotion, a mode of per-window argmax). */
  meanEmotion: EmotionLabel;
  /** Per label, the mean over the track's face events. */
  meanProbabilities: Probabilities;
  emittedAtMs: number;
}

/** Turns a label-ordered probability vector into the named object the events carry. */
export function toProbabilities(values: ArrayLike<number>): Probabilities {
  if (values.length !== EMOTION_LABELS.length) {
    throw new Error(`expected ${EMOTION_LABELS.length} probabilities, got ${values.length}`);
  }
  return Object.fromEntries(EMOTION_LABELS.map((label, i) => [label, values[i]!])) as Probabilities;
}
