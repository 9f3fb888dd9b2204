import { StreamHistory, toProbabilities, TRACK_SUMMARY_EVENT, type TrackSummaryEvent } from '@emostream/shared';
import { InvalidEmotionsError } from './errors.js';
import { assertValidFace, dominantLabel, type EmotionsLike, type FaceEmotionLike, type FrameRefLike } from './events.js';

/** What the sink keeps of one track until it ends. */
export interface TrackAccumulator {
  readonly streamId: string;
  readonly trackId: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly startPtsMs: number;
  readonly endPtsMs: number;
  readonly frames: number;
  /** Per-label sums of the track's per-frame probabilities. */
  readonly sums: readonly number[];
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
 * track when it ends: listed in a frame's `endedTrackIds`, or at the stream's end. A frame that comes
 * again (a stage upstream repeated a batch) starts from the sums as they were just before it
 * (StreamHistory): it is not counted twice, and a track it ends is summed up as the first time.
 */
export class TrackSummaries {
  readonly #streams: StreamHistory<Map<number, TrackAccumulator>>;

  /** `historyFrames`: states kept per stream for frames that come again (StreamHistoryOptions). */
  constructor({ historyFrames }: { historyFrames?: number } = {}) {
    this.#streams = new StreamHistory<Map<number, TrackAccumulator>>({
      empty: () => new Map(),
      // Accumulators are replaced, never changed (add): the kept states share them.
      copy: (tracks) => new Map(tracks),
      ...(historyFrames !== undefined ? { historyFrames } : {}),
      rewindCode: 'SUMMARY_REWIND_TOO_FAR',
    });
  }

  /**
   * Takes one `Emotions` message: adds its faces, then returns the summaries of the tracks that ended
   * with it (all of the stream's tracks when it is the stream's last message), by ascending id.
   * A track listed as ended that the sink never saw gives no summary. An invalid message throws
   * before anything is added, so the state never holds half a message; so does a frame that came
   * again from before the kept history (a StageError, SUMMARY_REWIND_TOO_FAR).
   */
  observe(emotions: EmotionsLike, emittedAtMs: number): TrackSummaryEvent[] {
    const ref = emotions.ref;
    if (!ref || ref.streamId === '') throw new InvalidEmotionsError('Emotions message has no frame header');
    for (const face of emotions.faces) assertValidFace(ref, face);
    return this.#streams.frame(ref.streamId, ref.seq, ref.endOfStream === true, (tracks) => {
      for (const face of emotions.faces) add(tracks, ref, face);
      const endedIds = ref.endOfStream ? [...tracks.keys()] : emotions.endedTrackIds;
      const ended = [...new Set(endedIds)].sort((a, b) => a - b).flatMap((trackId) => tracks.get(trackId) ?? []);
      for (const track of ended) tracks.delete(track.trackId);
      return ended.map((track) => trackSummaryEvent(track, emittedAtMs));
    });
  }

  /** Forgets streams without summarising them (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    this.#streams.drop(streamIds);
  }

  /** Streams with at least one open track. */
  streamIds(): string[] {
    return this.#streams.streamIds().filter((id) => (this.#streams.current(id)?.size ?? 0) > 0);
  }

  /** Open tracks, over all streams. */
  get size(): number {
    return this.#streams.streamIds().reduce((sum, id) => sum + (this.#streams.current(id)?.size ?? 0), 0);
  }
}

/**
 * Adds one face of one frame to its track, as a new accumulator (the one it replaces may be in a kept
 * state); the same track twice in one frame counts once.
 */
function add(tracks: Map<number, TrackAccumulator>, ref: FrameRefLike, face: FaceEmotionLike): void {
  const track = tracks.get(face.trackId);
  if (track && ref.seq <= track.lastSeq) return;
  tracks.set(
    face.trackId,
    track
      ? {
          ...track,
          lastSeq: ref.seq,
          endPtsMs: ref.ptsMs,
          frames: track.frames + 1,
          sums: track.sums.map((sum, i) => sum + face.probs[i]!),
        }
      : {
          streamId: ref.streamId,
          trackId: face.trackId,
          firstSeq: ref.seq,
          lastSeq: ref.seq,
          startPtsMs: ref.ptsMs,
          endPtsMs: ref.ptsMs,
          frames: 1,
          sums: [...face.probs],
        },
  );
}
