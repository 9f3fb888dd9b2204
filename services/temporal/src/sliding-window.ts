import { PerTrack } from '@emostream/shared';

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

interface TrackWindow<T> {
  items: T[];
  lastSeq: number;
  lastPtsMs: number;
}

/**
 * The windows of every (stream, track) a temporal consumer owns. Plain in-memory state, no clock:
 * every time is the media time of the frames themselves, so replaying a partition rebuilds the same
 * windows and ends the same tracks.
 */
export class SlidingWindows<T> {
  readonly #length: number;
  readonly #ttlMs: number;
  readonly #windows = new PerTrack<TrackWindow<T>>();

  constructor(config: SlidingWindowConfig) {
    if (!Number.isInteger(config.length) || config.length < 1)
      throw new RangeError(`window length must be a positive integer, got ${config.length}`);
    if (!(config.trackTtlMs > 0)) throw new RangeError(`trackTtlMs must be positive, got ${config.trackTtlMs}`);
    this.#length = config.length;
    this.#ttlMs = config.trackTtlMs;
  }

  /**
   * Adds a track's item for one sampled frame and returns the window to run the model on (oldest
   * first, always `length` items). A frame at or before the track's last frame (a redelivered or
   * replayed message) leaves the window as it is, so one frame never shifts it twice.
   */
  push(key: WindowKey, item: T, at: FramePosition): readonly T[] {
    const window = this.#windows.get(key.streamId, key.trackId);
    if (!window) {
      const items = new Array<T>(this.#length).fill(item);
      this.#windows.set(key.streamId, key.trackId, { items, lastSeq: at.seq, lastPtsMs: at.ptsMs });
      return [...items];
    }
    if (at.seq > window.lastSeq) {
      window.items.shift();
      window.items.push(item);
      window.lastSeq = at.seq;
      window.lastPtsMs = at.ptsMs;
    }
    return [...window.items];
  }

  /** The current window of a track, if it has one. */
  get(key: WindowKey): readonly T[] | undefined {
    const window = this.#windows.get(key.streamId, key.trackId);
    return window ? [...window.items] : undefined;
  }

  /** Ends one track (its tracker ended it): drops its window. Returns whether it had one. */
  end(key: WindowKey): boolean {
    return this.#windows.delete(key.streamId, key.trackId) !== undefined;
  }

  /**
   * Ends the tracks of `streamId` whose last item is more than the TTL older than `nowPtsMs`, the
   * media time of the stream's current frame. Call it on every frame of the stream, after pushing
   * the frame's faces; returns the ended track ids (ascending) for the frame's `ended_track_ids`.
   */
  expireIdle(streamId: string, nowPtsMs: number): number[] {
    const ended = this.#windows
      .tracksOf(streamId)
      .filter(([, window]) => nowPtsMs - window.lastPtsMs > this.#ttlMs)
      .map(([trackId]) => trackId);
    for (const trackId of ended) this.#windows.delete(streamId, trackId);
    return ended;
  }

  /** Ends every track of a stream (end of stream): returns their ids, ascending. */
  endStream(streamId: string): number[] {
    return this.#windows.deleteStream(streamId).map(([trackId]) => trackId);
  }

  /** Drops the windows of these streams without ending anything downstream (their partition now belongs to another consumer). */
  dropStreams(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#windows.deleteStream(streamId);
  }

  /** Streams that have at least one window. */
  streamIds(): string[] {
    return this.#windows.streamIds();
  }

  /** Windows held, over all streams. */
  get size(): number {
    return this.#windows.size;
  }
}
