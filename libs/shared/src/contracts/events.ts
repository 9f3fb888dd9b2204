import { EMOTION_LABELS, type EmotionLabel } from './labels.js';



/**
 * The public events on `${prefix}.events.v1`, as JSON. `schemas/emotion-event.v1.schema.json` is the
 * published contract for downstream consumers; a test keeps these types and that schema in step.
 */
export type EmotionEvent = FaceEmotionEvent | TrackSummaryEvent;

export type Probabilities = Record<EmotionLabel, number>;

export interface EventBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One face in one sampled frame. */
export interface FaceEmotionEvent {
  schema: 'emostream.event.face.v1';
  streamId: string;
  seq: number;
  ptsMs: number;
  capturedAtMs: number;
  emittedAtMs: number;
  trackId: number;
  box: EventBox;
  detectorScore: number;
  label: EmotionLabel;
  confidence: number;
  probabilities: Probabilities;
}

/** Emitted once when a track ends (not seen for the track TTL, or the stream ended). */
export interface TrackSummaryEvent {
  schema: 'emostream.event.track_summary.v1';
  streamId: string;
  trackId: number;
  firstSeq: number;
  lastSeq: number;
  startPtsMs: number;
  endPtsMs: number;
  durationMs: number;
  frames: number;
  dominantEmotion: EmotionLabel;
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
