/**
 * State kept per (stream, track), the shape the temporal windows, the sink's track summaries and
 * `emo run`'s observations share: tracks grouped by stream, a stream forgotten once its last track
 * is gone, and whole streams dropped when their partition moves to another consumer.
 */
export class PerTrack<T> {
  /** streamId → trackId → state. */
  readonly #streams = new Map<string, Map<number, T>>();

  get(streamId: string, trackId: number): T | undefined {
    return this.#streams.get(streamId)?.get(trackId);
  }

  set(streamId: string, trackId: number, state: T): void {
    let tracks = this.#streams.get(streamId);
    if (!tracks) {
      tracks = new Map();
      this.#streams.set(streamId, tracks);
    }
    tracks.set(trackId, state);
  }

  /** Removes one track; returns its state, if it had one. */
  delete(streamId: string, trackId: number): T | undefined {
    const tracks = this.#streams.get(streamId);
    const state = tracks?.get(trackId);
    tracks?.delete(trackId);
    if (tracks?.size === 0) this.#streams.delete(streamId);
    return state;
  }

  /** Removes every track of a stream; returns them by ascending track id. */
  deleteStream(streamId: string): [trackId: number, state: T][] {
    const tracks = this.#streams.get(streamId);
    this.#streams.delete(streamId);
    return tracks ? [...tracks].sort(([a], [b]) => a - b) : [];
  }

  /** A stream's tracks by ascending id (empty for a stream with none). */
  tracksOf(streamId: string): [trackId: number, state: T][] {
    return [...(this.#streams.get(streamId) ?? [])].sort(([a], [b]) => a - b);
  }

  /** Streams with at least one track. */
  streamIds(): string[] {
    return [...this.#streams.keys()];
  }

  /** Tracks held, over all streams. */
  get size(): number {
    let size = 0;
    for (const tracks of this.#streams.values()) size += tracks.size;
    return size;
  }
}
