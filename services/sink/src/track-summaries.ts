import { EMOTION_LABELS, PerTrack, toProbabilities, TRACK_SUMMARY_EVENT, type TrackSummaryEvent } from '@emostream/shared';
import { InvalidEmotionsError } from './errors.js';
import { assertValidFace, dominantLabel, type EmotionsLike, type FaceEmotionLike, type FrameRefLike } from './events.js';

/** What the sink keeps of one track until it ends. */
export interface TrackAccumulator {
  readonly streamId: string;
  readonly trackId: number;
  readonly firstSeq: number;
  lastSeq: number;
  readonly startPtsMs: number;
  endPtsMs: number;
  frames: number;
  /** Per-label sums of the track's per-frame probabilities. */
  readonly sums: number[];
}

/**
 * The summary event of an ended track. Its `meanEmotion` is the label with the highest MEAN
 * probability over the track's face events, not the most frequent per-frame label: it weighs how sure
 * each frame was, is stable for short tracks where one frame flips a vote, and always equals the argmax
 * of the `meanProbabilities` in the same event. It is named for what it is: the reference's per-video
 * label is a different quantity, a mode of per-window argmaxes (`videoEmotion` in @emostream/temporal,
 * what `emo run` prints as the video emotion).
 */
export function trackSummaryEvent(track: TrackAccumulator, emittedAtMs: number): TrackSummaryEvent {
  const means = track.sums.map((sum) => sum / track.frames);
  return {
    schema: TRACK_SUMMARY_EVENT,
    streamId: track.streamId,
    trackId: track.trackId,
    firstSeq: track.firstSeq,
    lastSeq: track.lastSeq,
    startPtsMs: track.startPtsMs,
    endPtsMs: track.endPtsMs,
    durationMs: track.endPtsMs - track.startPtsMs,
    frames: track.frames,
    meanEmotion: dominantLabel(means),
    meanProbabilities: toProbabilities(means),
    emittedAtMs,
  };
}

/**
 * Per (stream, track) accumulation of the face emotions the sink sees, and one summary event per
 * track when it ends: listed in a frame's `endedTrackIds`, or at the stream's end.
 */
export class TrackSummaries {
  readonly #tracks = new PerTrack<TrackAccumulator>();

  /**
   * Takes one `Emotions` message: adds its faces, then returns the summaries of the tracks that ended
   * with it (all of the stream's tracks when it is the stream's last message), by ascending id.
   * A track listed as ended that the sink never saw gives no summary. An invalid message throws
   * before anything is added, so the state never holds half a message.
   */
  observe(emotions: EmotionsLike, emittedAtMs: number): TrackSummaryEvent[] {
    const ref = emotions.ref;
    if (!ref || ref.streamId === '') throw new InvalidEmotionsError('Emotions message has no frame header');
    for (const face of emotions.faces) assertValidFace(ref, face);
    for (const face of emotions.faces) this.add(ref, face);
    const ended = ref.endOfStream
      ? this.endStream(ref.streamId, emittedAtMs)
      : [...emotions.endedTrackIds].sort((a, b) => a - b).flatMap((trackId) => this.end(ref.streamId, trackId, emittedAtMs) ?? []);
    return ended;
  }

  /**
   * Adds one face of one frame to its track. A frame at or before the track's last one (a redelivered
   * message) is not counted twice.
   */
  add(ref: FrameRefLike, face: FaceEmotionLike): void {
    if (face.probs.length !== EMOTION_LABELS.length) {
      throw new InvalidEmotionsError(
        `stream ${ref.streamId} track ${face.trackId}: expected ${EMOTION_LABELS.length} probabilities, got ${face.probs.length}`,
      );
    }
    const track = this.#tracks.get(ref.streamId, face.trackId);
    if (!track) {
      this.#tracks.set(ref.streamId, face.trackId, {
        streamId: ref.streamId,
        trackId: face.trackId,
        firstSeq: ref.seq,
        lastSeq: ref.seq,
        startPtsMs: ref.ptsMs,
        endPtsMs: ref.ptsMs,
        frames: 1,
        sums: [...face.probs],
      });
      return;
    }
    if (ref.seq <= track.lastSeq) return;
    track.lastSeq = ref.seq;
    track.endPtsMs = ref.ptsMs;
    track.frames += 1;
    face.probs.forEach((p, i) => (track.sums[i]! += p));
  }

  /** Ends one track: its summary, or undefined if the sink never saw it. */
  end(streamId: string, trackId: number, emittedAtMs: number): TrackSummaryEvent | undefined {
    const track = this.#tracks.delete(streamId, trackId);
    return track && trackSummaryEvent(track, emittedAtMs);
  }

  /** Ends every track of a stream: their summaries by ascending id. */
  endStream(streamId: string, emittedAtMs: number): TrackSummaryEvent[] {
    return this.#tracks.deleteStream(streamId).map(([, track]) => trackSummaryEvent(track, emittedAtMs));
  }

  /** Forgets streams without summarising them (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#tracks.deleteStream(streamId);
  }

  /** Streams with at least one open track. */
  streamIds(): string[] {
    return this.#tracks.streamIds();
  }

  /** Open tracks, over all streams. */
  get size(): number {
    return this.#tracks.size;
  }
}
