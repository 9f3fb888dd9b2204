import { sceneChange, type FrameSignature } from '@emostream/vision';
import type { FaceBox } from './box.js';
import type { FaceTrackerConfig } from './config.js';
import { FaceTracker, type Detection, type FaceTrackerSnapshot, type TrackerUpdate } from './face-tracker.js';

export interface StreamUpdate extends TrackerUpdate {
  /** This frame was a hard cut: every track alive before it ended (they are in `ended`). */
  readonly sceneCut: boolean;
}

/** A stream's whole tracking state after one frame, as plain JSON (what the face stage saves per frame). */
export interface StreamSnapshot {
  /** The frame this state follows. */
  readonly seq: number;
  /** The stream's first frame (a frame at or before it starts from nothing). */
  readonly firstSeq: number;
  /** The stream ended with frame `seq` (its end-of-stream marker). */
  readonly ended: boolean;
  readonly tracker: FaceTrackerSnapshot;
  /** The last frame's colour layout (integer counts), for the next cut. */
  readonly signature: readonly number[] | null;
}

/** A frame came again from further back than the kept history reaches: its state is gone. */
export class TrackerRewindError extends Error {
  constructor(streamId: string, seq: number, oldest: number | undefined) {
    super(`stream ${streamId}: frame ${seq} came again, but the oldest kept state follows frame ${oldest ?? 'none'}`);
    this.name = 'TrackerRewindError';
  }
}

interface StreamState {
  tracker: FaceTracker;
  /** The last processed frame's colour layout, to see the next hard cut. */
  signature: FrameSignature | undefined;
  firstSeq: number;
  lastSeq: number;
  ended: boolean;
  /** States after the last frames, oldest first: a frame that comes again (a redelivered batch) restarts from the state before it. */
  history: StreamSnapshot[];
}

export interface StreamTrackersOptions {
  /**
   * States kept per stream for frames that come again: at least the most frames of one stream a
   * redelivered batch can hold (the runtime's batch size). Default 64.
   */
  historyFrames?: number;
  /** Ended streams remembered (for an end-of-stream marker that comes again). Default 64. */
  endedStreams?: number;
}

/**
 * One FaceTracker per stream, made on a stream's first frame: track ids are per stream (each starts
 * at 1) and streams never see each other's faces. It also watches each stream for hard cuts and
 * ends the stream's tracks at one.
 *
 * Frames that come again are handled as the stream runtime delivers them: a batch that failed (an
 * aborted transaction, a failed send) is redelivered from its first frame, so a frame at or before
 * the last one seen restarts from the state kept from just before it and gives the same result. A
 * stream's whole state is a `StreamSnapshot` (`snapshot`, `restore`): the face stage saves one per
 * frame and restores them after a restart or rebalance.
 */
export class StreamTrackers {
  readonly #config: FaceTrackerConfig;
  readonly #historyFrames: number;
  readonly #endedStreams: number;
  readonly #streams = new Map<string, StreamState>();

  constructor(config: FaceTrackerConfig, options: StreamTrackersOptions = {}) {
    this.#config = config;
    this.#historyFrames = Math.max(1, options.historyFrames ?? 64);
    this.#endedStreams = options.endedStreams ?? 64;
  }

  /** Tracks one processed frame of a stream; `signature` (`frameSignature` of the frame) lets it see hard cuts. */
  update(streamId: string, detections: readonly Detection[], frameSeq: number, signature?: FrameSignature): StreamUpdate {
    const stream = this.#streamAt(streamId, frameSeq);
    const sceneCut =
      this.#config.endTracksAtSceneCuts &&
      signature !== undefined &&
      stream.signature !== undefined &&
      sceneChange(stream.signature, signature) >= this.#config.sceneCutFraction;
    const update = stream.tracker.update(detections, frameSeq, { sceneCut });
    if (signature) stream.signature = signature;
    this.#remember(stream, frameSeq);
    return { ...update, sceneCut };
  }

  /**
   * Which faces of the stream's frame `frameSeq` need an identity descriptor (FaceTracker.identityWanted),
   * judged on the stream's tracks as they stand (a redelivered frame's rewind is not replayed for
   * this: at worst a descriptor too many or too few for that frame). A new stream has no tracks.
   */
  identityWanted(streamId: string, boxes: readonly FaceBox[], frameSeq: number): boolean[] {
    const stream = this.#streams.get(streamId);
    if (!stream || stream.ended) return new FaceTracker(this.#config).identityWanted(boxes, frameSeq);
    return stream.tracker.identityWanted(boxes, frameSeq);
  }

  /**
   * Ends a stream at its end-of-stream marker `frameSeq`: returns its confirmed tracks' ids. A stream
   * that starts again under the same id (a file ingested twice, frames from 1 again) counts its ids
   * from 1 again.
   */
  endStream(streamId: string, frameSeq: number): number[] {
    const stream = this.#streamAt(streamId, frameSeq);
    const ended = stream.tracker.endAll();
    stream.ended = true;
    stream.signature = undefined;
    this.#remember(stream, frameSeq);
    // Keep the newest ended streams only (for a marker that comes again); their state is small.
    const endedIds = [...this.#streams].filter(([, s]) => s.ended).map(([id]) => id);
    for (const id of endedIds.slice(0, Math.max(0, endedIds.length - this.#endedStreams))) this.#streams.delete(id);
    return ended;
  }

  /** The stream's state after its last frame, or undefined for a stream never seen. */
  snapshot(streamId: string): StreamSnapshot | undefined {
    return this.#streams.get(streamId)?.history.at(-1);
  }

  /**
   * Takes over saved states, oldest first, for the streams it holds nothing of: each stream goes on
   * from its newest state, and the older ones become its history for frames that come again.
   */
  restore(snapshots: Iterable<readonly [string, StreamSnapshot]>): void {
    const saved = new Map<string, StreamSnapshot[]>();
    for (const [streamId, snapshot] of snapshots) {
      if (this.#streams.has(streamId)) continue;
      const list = saved.get(streamId) ?? [];
      list.push(snapshot);
      saved.set(streamId, list);
    }
    for (const [streamId, list] of saved) {
      const newest = list.at(-1)!;
      // Only the newest life of a stream that started again counts.
      const history = list.filter((s) => s.firstSeq === newest.firstSeq && s.seq <= newest.seq).slice(-this.#historyFrames);
      const stream = this.#fromSnapshot(newest);
      stream.history = history;
      this.#streams.set(streamId, stream);
    }
  }

  /** Forgets streams without ending their tracks (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#streams.delete(streamId);
  }

  streamIds(): string[] {
    return [...this.#streams.keys()];
  }

  /** The state a frame `frameSeq` of the stream starts from: the current one, one from history, or a new one. */
  #streamAt(streamId: string, frameSeq: number): StreamState {
    const stream = this.#streams.get(streamId);
    if (stream && frameSeq > stream.lastSeq && !stream.ended) return stream;
    if (!stream || (stream.ended && frameSeq > stream.lastSeq) || frameSeq <= stream.firstSeq) {
      // A new stream, one starting again after its end, or its first frame again.
      const fresh: StreamState = {
        tracker: new FaceTracker(this.#config),
        signature: undefined,
        firstSeq: frameSeq,
        lastSeq: -Infinity,
        ended: false,
        history: [],
      };
      this.#streams.set(streamId, fresh);
      return fresh;
    }
    // The frame came again: go back to the state after the frame before it.
    const before = [...stream.history].reverse().find((h) => h.seq < frameSeq);
    if (!before) throw new TrackerRewindError(streamId, frameSeq, stream.history[0]?.seq);
    const rewound = this.#fromSnapshot(before);
    rewound.history = stream.history.filter((h) => h.seq <= before.seq);
    this.#streams.set(streamId, rewound);
    return rewound;
  }

  #remember(stream: StreamState, frameSeq: number): void {
    stream.lastSeq = frameSeq;
    stream.history.push({
      seq: frameSeq,
      firstSeq: stream.firstSeq,
      ended: stream.ended,
      tracker: stream.tracker.snapshot(),
      signature: stream.signature ? Array.from(stream.signature) : null,
    });
    if (stream.history.length > this.#historyFrames) stream.history.shift();
  }

  #fromSnapshot(snapshot: StreamSnapshot): StreamState {
    return {
      tracker: FaceTracker.restore(this.#config, snapshot.tracker),
      signature: snapshot.signature ? Float32Array.from(snapshot.signature) : undefined,
      firstSeq: snapshot.firstSeq,
      lastSeq: snapshot.seq,
      ended: snapshot.ended,
      history: [],
    };
  }
}
