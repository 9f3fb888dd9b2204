import { matchByIou } from './assignment.js';
import { centre, translate, type FaceBox } from './box.js';
import type { FaceTrackerConfig } from './config.js';

/** One detector output for one frame. */
export interface Detection {
  readonly box: FaceBox;
  /** Detector confidence in [0, 1]. */
  readonly score: number;
}

/** A confirmed track matched in this frame. */
export interface TrackedFace {
  /** Stable id within the stream, from 1, never reused. */
  readonly trackId: number;
  /** The matched detection's box (not the prediction). */
  readonly box: FaceBox;
  /** The matched detection's score. */
  readonly score: number;
  /** Index of the matched detection in `update`'s input, to reach what the caller kept with it (corners, landmarks). */
  readonly detectionIndex: number;
}

export interface TrackerUpdate {
  /** Confirmed tracks matched in this frame, by ascending id. Tentative tracks are not listed. */
  readonly tracks: readonly TrackedFace[];
  /** Confirmed tracks that ended with this frame (more than maxMisses frames unmatched), ascending. */
  readonly ended: readonly number[];
}

interface Track {
  /** Undefined while tentative: an id is given only on confirmation, so ids shown downstream have no gaps. */
  trackId: number | undefined;
  box: FaceBox;
  score: number;
  /** Centre velocity in pixels per frame number (frames may be sampled, so seq can step by k). */
  velocity: { x: number; y: number };
  lastSeq: number;
  hits: number;
  misses: number;
}

/**
 * A ByteTrack-style tracker of face boxes for ONE stream (keep one per streamId; see StreamTrackers).
 *
 * Each `update` (one processed frame, frame numbers strictly increasing):
 * 1. detections above highThreshold are matched to confirmed tracks, at their predicted positions;
 * 2. detections above lowThreshold but not above highThreshold are matched to the confirmed tracks
 *    left over that were matched in the previous update (a face blurred or half hidden for a
 *    moment) — they extend tracks but never start one, nor revive a track already missing;
 * 3. high detections left over are matched to tentative tracks;
 * 4. high detections still left start tentative tracks; a tentative track is confirmed (and gets the
 *    next id) after minHits consecutive matches, and is dropped at its first miss;
 * 5. a confirmed track unmatched for more than maxMisses consecutive updates ends.
 * Matching is optimal (Hungarian) on IoU, gated by matchIou / lowMatchIou.
 */
export class FaceTracker {
  readonly #config: FaceTrackerConfig;
  #tracks: Track[] = [];
  #nextId = 1;
  #lastSeq = -Infinity;

  constructor(config: FaceTrackerConfig) {
    if (config.lowThreshold > config.highThreshold) throw new RangeError('lowThreshold must not be above highThreshold');
    this.#config = config;
  }

  update(detections: readonly Detection[], frameSeq: number): TrackerUpdate {
    if (!(frameSeq > this.#lastSeq)) {
      throw new RangeError(`frame ${frameSeq} does not follow frame ${this.#lastSeq}: a tracker sees each frame once, in order`);
    }
    this.#lastSeq = frameSeq;
    const { highThreshold, lowThreshold } = this.#config;
    const high = indicesWhere(detections, (d) => d.score > highThreshold);
    const low = indicesWhere(detections, (d) => d.score > lowThreshold && d.score <= highThreshold);

    const confirmed = this.#tracks.filter((track) => track.trackId !== undefined);
    const tentative = this.#tracks.filter((track) => track.trackId === undefined);
    const matched = new Map<Track, number>(); // track → detection index

    // 1. High detections against every confirmed track.
    const first = this.#match(confirmed, high, detections, frameSeq, this.#config.matchIou, matched);
    // 2. Low detections against the leftover tracks that were seen in the previous update.
    const recentlySeen = first.tracks.filter((track) => track.misses === 0);
    this.#match(recentlySeen, low, detections, frameSeq, this.#config.lowMatchIou, matched);
    // 3. Leftover high detections against tentative tracks.
    const third = this.#match(tentative, first.detections, detections, frameSeq, this.#config.matchIou, matched);

    // 4. Births from the high detections nobody took.
    const born: Track[] = third.detections.map((index) => {
      const detection = detections[index]!;
      const track: Track = { trackId: undefined, box: detection.box, score: detection.score, velocity: { x: 0, y: 0 }, lastSeq: frameSeq, hits: 0, misses: 0 };
      matched.set(track, index);
      return track;
    });

    // Matched tracks take their detection; tracks reaching minHits are confirmed in detection order.
    const confirmations: Track[] = [];
    for (const [track, index] of matched) {
      this.#observe(track, detections[index]!, frameSeq);
      if (track.trackId === undefined && track.hits >= this.#config.minHits) confirmations.push(track);
    }
    confirmations.sort((a, b) => matched.get(a)! - matched.get(b)!);
    for (const track of confirmations) track.trackId = this.#nextId++;

    // 5. Misses: tentative tracks go at once, confirmed ones after maxMisses.
    const ended: number[] = [];
    const survivors: Track[] = [];
    for (const track of [...this.#tracks, ...born]) {
      if (matched.has(track)) {
        survivors.push(track);
        continue;
      }
      if (track.trackId === undefined) continue;
      track.misses += 1;
      track.hits = 0;
      if (track.misses > this.#config.maxMisses) ended.push(track.trackId);
      else survivors.push(track);
    }
    this.#tracks = survivors;

    const tracks: TrackedFace[] = [];
    for (const [track, detectionIndex] of matched) {
      if (track.trackId !== undefined) tracks.push({ trackId: track.trackId, box: track.box, score: track.score, detectionIndex });
    }
    return { tracks: tracks.sort((a, b) => a.trackId - b.trackId), ended: ended.sort((a, b) => a - b) };
  }

  /** Ends every confirmed track (end of stream) and forgets all tracks. Ids keep counting: none is reused. */
  endAll(): number[] {
    const ended = this.#tracks.flatMap((track) => (track.trackId === undefined ? [] : [track.trackId]));
    this.#tracks = [];
    return ended.sort((a, b) => a - b);
  }

  /** Confirmed tracks alive (matched recently or still within maxMisses). */
  get activeTrackIds(): number[] {
    return this.#tracks.flatMap((track) => (track.trackId === undefined ? [] : [track.trackId])).sort((a, b) => a - b);
  }

  /** Matches `tracks` to the detections at `candidates`; records pairs in `matched`, returns what is left of each. */
  #match(
    tracks: readonly Track[],
    candidates: readonly number[],
    detections: readonly Detection[],
    frameSeq: number,
    minIou: number,
    matched: Map<Track, number>,
  ): { tracks: Track[]; detections: number[] } {
    const result = matchByIou(
      tracks.map((track) => this.#predict(track, frameSeq)),
      candidates.map((index) => detections[index]!.box),
      minIou,
    );
    for (const [track, candidate] of result.pairs) matched.set(tracks[track]!, candidates[candidate]!);
    return {
      tracks: result.unmatchedTracks.map((i) => tracks[i]!),
      detections: result.unmatchedDetections.map((i) => candidates[i]!),
    };
  }

  #predict(track: Track, frameSeq: number): FaceBox {
    if (!this.#config.predictMotion) return track.box;
    const frames = frameSeq - track.lastSeq;
    return translate(track.box, track.velocity.x * frames, track.velocity.y * frames);
  }

  #observe(track: Track, detection: Detection, frameSeq: number): void {
    if (track.hits > 0 || track.misses > 0) {
      const frames = frameSeq - track.lastSeq;
      const from = centre(track.box);
      const to = centre(detection.box);
      track.velocity = { x: (to.x - from.x) / frames, y: (to.y - from.y) / frames };
    }
    track.box = detection.box;
    track.score = detection.score;
    track.lastSeq = frameSeq;
    track.hits += 1;
    track.misses = 0;
  }
}

function indicesWhere<T>(items: readonly T[], test: (item: T) => boolean): number[] {
  const indices: number[] = [];
  items.forEach((item, i) => {
    if (test(item)) indices.push(i);
  });
  return indices;
}
