import {
  EMOTION_LABELS,
  FACE_EVENT,
  toProbabilities,
  type EmotionLabel,
  type EventBox,
  type FaceEmotionEvent,
  type FrameSize,
} from '@emostream/shared';
import { InvalidEmotionsError } from './errors.js';

/** The frame header fields the events use (the wire `FrameRef` has this shape). */
export interface FrameRefLike {
  readonly streamId: string;
  readonly seq: number;
  readonly ptsMs: number;
  readonly capturedAtMs: number;
  readonly endOfStream?: boolean;
  /** The transported frame's size, and the source's (0: the same): boxes are in the source's pixels. */
  readonly width?: number;
  readonly height?: number;
  readonly sourceWidth?: number;
  readonly sourceHeight?: number;
}

/** The source frame's size: the pixel space the face stage gives every box in. */
export function sourceFrameSize(ref: FrameRefLike): FrameSize {
  return { width: ref.sourceWidth || ref.width || 0, height: ref.sourceHeight || ref.height || 0 };
}

/** The face fields the events use (the wire `FaceEmotion` has this shape). */
export interface FaceEmotionLike {
  readonly trackId: number;
  readonly box?: EventBox | undefined;
  readonly score: number;
  readonly probs: readonly number[];
}

/** An `Emotions` message as the sink reads it. */
export interface EmotionsLike {
  readonly ref?: FrameRefLike | undefined;
  readonly faces: readonly FaceEmotionLike[];
  readonly endedTrackIds: readonly number[];
}

/**
 * The public event for one face in one frame. The label is recomputed as the argmax of the
 * probabilities (the first label on ties, as NumPy's argmax), so label, confidence and probabilities
 * never disagree. Probabilities, score and box travel as float32 on the internal topics; they are
 * written as the shortest decimals that read back as the same float32 (0.9, not 0.8999999761581421).
 */
export function faceEmotionEvent(ref: FrameRefLike, face: FaceEmotionLike, emittedAtMs: number): FaceEmotionEvent {
  assertValidFace(ref, face);
  const frame = sourceFrameSize(ref);
  if (!(frame.width > 0 && frame.height > 0)) {
    throw new InvalidEmotionsError(`stream ${ref.streamId} frame ${ref.seq}: the frame has no size, so its boxes cannot be placed`);
  }
  const probs = face.probs.map(shortestFloat32);
  const best = argmax(probs);
  return {
    schema: FACE_EVENT,
    streamId: ref.streamId,
    seq: ref.seq,
    ptsMs: ref.ptsMs,
    capturedAtMs: ref.capturedAtMs,
    emittedAtMs,
    trackId: face.trackId,
    box: {
      x: shortestFloat32(face.box.x),
      y: shortestFloat32(face.box.y),
      width: shortestFloat32(face.box.width),
      height: shortestFloat32(face.box.height),
    },
    frame,
    detectorScore: shortestFloat32(face.score),
    label: EMOTION_LABELS[best]!,
    confidence: probs[best]!,
    probabilities: toProbabilities(probs),
  };
}

/**
 * Throws an InvalidEmotionsError unless the face can become a public event: it has a box, a detector
 * score in [0, 1] and seven probabilities in [0, 1].
 */
export function assertValidFace(ref: FrameRefLike, face: FaceEmotionLike): asserts face is FaceEmotionLike & { readonly box: EventBox } {
  const where = `stream ${ref.streamId} frame ${ref.seq} track ${face.trackId}`;
  if (!face.box) throw new InvalidEmotionsError(`${where}: face has no box`);
  checkedProbabilities(face.probs, where);
  if (!(face.score >= 0 && face.score <= 1)) throw new InvalidEmotionsError(`${where}: detector score ${face.score} is not in [0, 1]`);
}

/** The face events of one `Emotions` message, in message order; none for a frame without faces. */
export function faceEmotionEvents(emotions: EmotionsLike, emittedAtMs: number): FaceEmotionEvent[] {
  const ref = emotions.ref;
  if (!ref || ref.streamId === '') throw new InvalidEmotionsError('Emotions message has no frame header');
  return emotions.faces.map((face) => faceEmotionEvent(ref, face, emittedAtMs));
}

/** The label of the largest probability; the first such label on ties. */
export function dominantLabel(probs: readonly number[]): EmotionLabel {
  return EMOTION_LABELS[argmax(checkedProbabilities(probs, 'probabilities'))]!;
}

/**
 * The shortest decimal that reads back as the same float32 as `value`: what the value was before it
 * was stored as float32, as far as float32 can tell. Values that are not float32 come back rounded to
 * the nearest float32 first.
 */
export function shortestFloat32(value: number): number {
  const single = Math.fround(value);
  if (!Number.isFinite(single) || single === 0) return single;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(single.toPrecision(digits));
    if (Math.fround(candidate) === single) return candidate;
  }
  return Number(single.toPrecision(9)); // nine significant digits always round-trip a float32
}

function checkedProbabilities(probs: readonly number[], where: string): readonly number[] {
  if (probs.length !== EMOTION_LABELS.length) {
    throw new InvalidEmotionsError(`${where}: expected ${EMOTION_LABELS.length} probabilities, got ${probs.length}`);
  }
  const bad = probs.find((p) => !(p >= 0 && p <= 1));
  if (bad !== undefined) throw new InvalidEmotionsError(`${where}: probability ${bad} is not in [0, 1]`);
  return probs;
}

function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
