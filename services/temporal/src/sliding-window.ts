import { StreamHistory } from '@emostream/shared';

/**
 * The real-time window of the reference (REFERENCE.md, "Real-time use"), one per (stream, track):
 * a track's first item fills the whole window (repeated `length` times); each later sampled frame
 * shifts the window by one, dropping the oldest item. The reference keeps one window for every face
 * and slides it at camera rate; we keep one per track, fed at the sampling rate the models were
 * trained at.
 *
 * Windows hold any item type: backbone features for the LSTM, static probabilities for packs
 * without a temporal model (static-fallback.ts).
 */

/** A window's shape: `length` items; a track whose window got nothing for `trackTtlMs` of media time ends. */
export interface SlidingWindowConfig {
  readonly length: number;
  readonly trackTtlMs: number;
}

export interface WindowKey {
  readonly streamId: string;
  readonly trackId: number;
}

/** Where in its stream a sampled frame lies. */
export interface FramePosition {
  /** Per-stream frame number. */
  readonly seq: number;
  /** Media time of the frame. */
  readonly ptsMs: number;
}

/** One face of a frame: its track, and its item for the track's window. */
export interface FrameFace<T> {
  readonly trackId: number;
  readonly item: T;
}

/** One sampled frame of a stream, as the windows take it. */
export interface WindowFrame<T> extends FramePosition {
  readonly streamId: string;
  readonly faces: readonly FrameFace<T>[];
  /** Tracks the face tracker ended at this frame. */
  readonly endedTrackIds: readonly number[];
  /** The stream's last frame: every track ends with it. */
  readonly endOfStream: boolean;
}

/** What a frame gives. */
export interface FrameWindows<T> {
  /** Each face's window, in the frame's order: always `length` items, oldest first. */
  readonly windows: (readonly T[])[];
  /** Tracks that end with this frame, ascending: the tracker's, those idle past the TTL, or all at the stream's end. */
  readonly ended: number[];
}

/** One track's window; never changed once made, so the states kept for frames that come again stay as they were. */
interface TrackWindow<T> {
  readonly items: readonly T[];
  readonly lastSeq: number;
  readonly lastPtsMs: number;
}

/**
 * The windows of every (stream, track) a temporal consumer owns. Plain in-memory state, no clock:
 * every time is the media time of the frames themselves, so replaying a partition rebuilds the same
 * windows and ends the same tracks. A frame that comes again (an upstream stage's batch repeated
 * under at-least-once) starts from the windows as they were just before it (StreamHistory), so it
 * gets the windows it got the first time.
 */
export class SlidingWindows<T> {
  readonly #length: number;
  readonly #ttlMs: number;
  readonly #streams: StreamHistory<Map<number, TrackWindow<T>>>;

  /** `historyFrames`: states kept per stream for frames that come again (StreamHistoryOptions). */
  constructor(config: SlidingWindowConfig, { historyFrames }: { historyFrames?: number } = {}) {
    if (!Number.isInteger(config.length) || config.length < 1)
      throw new RangeError(`window length must be a positive integer, got ${config.length}`);
    if (!(config.trackTtlMs > 0)) throw new RangeError(`trackTtlMs must be positive, got ${config.trackTtlMs}`);
    this.#length = config.length;
    this.#ttlMs = config.trackTtlMs;
    this.#streams = new StreamHistory<Map<number, TrackWindow<T>>>({
      empty: () => new Map(),
      copy: (tracks) => new Map(tracks),
      ...(historyFrames !== undefined ? { historyFrames } : {}),
      rewindCode: 'WINDOW_REWIND_TOO_FAR',
    });
  }

  /**
   * Takes one sampled frame of a stream: each face's item joins its track's window (a track's first
   * item fills the whole window; later frames shift it by one), then the tracks that end with the
   * frame are dropped. Throws a StageError (WINDOW_REWIND_TOO_FAR) for a frame that came again from before the kept history.
   */
  frame(frame: WindowFrame<T>): FrameWindows<T> {
    return this.#streams.frame(frame.streamId, frame.seq, frame.endOfStream, (tracks) => {
      const windows = frame.faces.map(({ trackId, item }) => {
        const window = tracks.get(trackId);
        // The same track twice in one frame shifts its window once.
        if (window && frame.seq <= window.lastSeq) return window.items;
        const items = window ? [...window.items.slice(1), item] : new Array<T>(this.#length).fill(item);
        tracks.set(trackId, { items, lastSeq: frame.seq, lastPtsMs: frame.ptsMs });
        return items;
      });
      for (const trackId of frame.endedTrackIds) tracks.delete(trackId);
      const expired = [...tracks]
        .filter(([, window]) => frame.endOfStream || frame.ptsMs - window.lastPtsMs > this.#ttlMs)
        .map(([trackId]) => trackId);
      for (const trackId of expired) tracks.delete(trackId);
      return { windows, ended: [...new Set([...frame.endedTrackIds, ...expired])].sort((a, b) => a - b) };
    });
  }

  /** The current window of a track, if it has one. */
  get(key: WindowKey): readonly T[] | undefined {
    return this.#streams.current(key.streamId)?.get(key.trackId)?.items;
  }

  /** Drops the windows of these streams without ending anything downstream (their partition now belongs to another consumer). */
  dropStreams(streamIds: Iterable<string>): void {
    this.#streams.drop(streamIds);
  }

  /** Streams that have at least one window. */
  streamIds(): string[] {
    return this.#streams.streamIds().filter((id) => (this.#streams.current(id)?.size ?? 0) > 0);
  }

  /** Windows held, over all streams. */
  get size(): number {
    return this.#streams.streamIds().reduce((sum, id) => sum + (this.#streams.current(id)?.size ?? 0), 0);
  }
}
