import type { FaceTrackerConfig } from './config.js';
import { FaceTracker, type Detection, type TrackerUpdate } from './face-tracker.js';
import { sceneChange, type FrameSignature } from './scene-cut.js';

export interface StreamUpdate extends TrackerUpdate {
  /** This frame was a hard cut: every track alive before it ended (they are in `ended`). */
  readonly sceneCut: boolean;
}

interface StreamState {
  tracker: FaceTracker;
  /** The last processed frame's colour layout, to see the next hard cut. */
  signature: FrameSignature | undefined;
}

/**
 * One FaceTracker per stream, made on a stream's first frame: track ids are per stream (each starts
 * at 1) and streams never see each other's faces. It also watches each stream for hard cuts and
 * ends the stream's tracks at one.
 */
export class StreamTrackers {
  readonly #config: FaceTrackerConfig;
  readonly #streams = new Map<string, StreamState>();

  constructor(config: FaceTrackerConfig) {
    this.#config = config;
  }

  /** Tracks one processed frame of a stream; `signature` (`frameSignature` of the frame) lets it see hard cuts. */
  update(streamId: string, detections: readonly Detection[], frameSeq: number, signature?: FrameSignature): StreamUpdate {
    let stream = this.#streams.get(streamId);
    if (!stream) {
      stream = { tracker: new FaceTracker(this.#config), signature: undefined };
      this.#streams.set(streamId, stream);
    }
    const sceneCut =
      this.#config.endTracksAtSceneCuts && signature !== undefined && stream.signature !== undefined && sceneChange(stream.signature, signature) >= this.#config.sceneCutFraction;
    const update = stream.tracker.update(detections, frameSeq, { sceneCut });
    if (signature) stream.signature = signature;
    return { ...update, sceneCut };
  }

  /**
   * Ends a stream: returns its confirmed tracks' ids and forgets its tracker, so a stream that starts
   * again under the same id (a file ingested twice) counts its ids from 1 again.
   */
  endStream(streamId: string): number[] {
    const stream = this.#streams.get(streamId);
    this.#streams.delete(streamId);
    return stream?.tracker.endAll() ?? [];
  }

  /** Forgets streams without ending their tracks (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#streams.delete(streamId);
  }

  streamIds(): string[] {
    return [...this.#streams.keys()];
  }
}
