import type { FaceTrackerConfig } from './config.js';
import { FaceTracker, type Detection, type TrackerUpdate } from './face-tracker.js';

/**
 * One FaceTracker per stream, made on a stream's first frame: track ids are per stream (each starts
 * at 1) and streams never see each other's faces.
 */
export class StreamTrackers {
  readonly #config: FaceTrackerConfig;
  readonly #trackers = new Map<string, FaceTracker>();

  constructor(config: FaceTrackerConfig) {
    this.#config = config;
  }

  update(streamId: string, detections: readonly Detection[], frameSeq: number): TrackerUpdate {
    let tracker = this.#trackers.get(streamId);
    if (!tracker) {
      tracker = new FaceTracker(this.#config);
      this.#trackers.set(streamId, tracker);
    }
    return tracker.update(detections, frameSeq);
  }

  /**
   * Ends a stream: returns its confirmed tracks' ids and forgets its tracker, so a stream that starts
   * again under the same id (a file ingested twice) counts its ids from 1 again.
   */
  endStream(streamId: string): number[] {
    const tracker = this.#trackers.get(streamId);
    this.#trackers.delete(streamId);
    return tracker?.endAll() ?? [];
  }

  /** Forgets streams without ending their tracks (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#trackers.delete(streamId);
  }

  streamIds(): string[] {
    return [...this.#trackers.keys()];
  }
}
