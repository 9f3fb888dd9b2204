import { matchByCost } from './assignment.js';
import { blendAppearance, cosine } from './appearance.js';
import { centre, iou, translate, type FaceBox } from './box.js';
import type { FaceTrackerConfig } from './config.js';

/** One detector output for one frame. */
export interface Detection {
  readonly box: FaceBox;
  /** Detector confidence in [0, 1]. */
  readonly score: number;
  /** The face's appearance descriptor (`appearanceOf`), unit length; without it a detection matches on overlap only. */
  readonly appearance?: ArrayLike<number>;
  /**
   * The face's identity descriptor (the pack's identity model), unit length, where the caller computed
   * one (`identityWanted`): where a track has one too, it decides instead of `appearance`.
   */
  readonly identity?: ArrayLike<number>;
}

/** Largest move, in face widths since it was last seen, of a track that counts as standing still (identityWanted). */
const STILL = 0.05;

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
  /** Confirmed tracks that ended with this frame (more than maxMisses frames unmatched, or a hard cut), ascending. */
  readonly ended: readonly number[];
}

/** Everything a tracker holds, as plain JSON: `FaceTracker.restore(snapshot)` continues exactly where `snapshot()` was taken. */
export interface FaceTrackerSnapshot {
  readonly nextId: number;
  /** null before the first frame. */
  readonly lastSeq: number | null;
  readonly tracks: readonly TrackSnapshot[];
}

interface TrackSnapshot {
  readonly trackId: number | null;
  readonly box: FaceBox;
  readonly score: number;
  readonly velocity: { readonly x: number; readonly y: number };
  readonly lastSeq: number;
  readonly hits: number;
  readonly misses: number;
  readonly appearance: readonly number[] | null;
  /** Absent in snapshots from before identity descriptors. */
  readonly identity?: readonly number[] | null;
}

interface Track {
  /** Undefined while tentative: an id is given only on confirmation, so ids shown downstream have no gaps. */
  trackId: number | undefined;
  /** The last observed box (not a prediction). */
  box: FaceBox;
  score: number;
  /** Centre velocity in pixels per frame number (frames may be sampled, so seq can step by k). */
  velocity: { x: number; y: number };
  lastSeq: number;
  hits: number;
  misses: number;
  /** Running appearance (blend of the matched faces' descriptors); undefined until one came with a descriptor. */
  appearance: Float32Array | undefined;
  /** Running identity descriptor, the same way; undefined until a matched face came with one. */
  identity: Float32Array | undefined;
}

/** A track's position, motion and counters, copied (shared by a live track and its snapshot). */
function copyMotion(t: Pick<Track, 'box' | 'score' | 'velocity' | 'lastSeq' | 'hits' | 'misses'>) {
  return { box: { ...t.box }, score: t.score, velocity: { ...t.velocity }, lastSeq: t.lastSeq, hits: t.hits, misses: t.misses };
}

/** How much a track's running appearance keeps of itself at each match (BoT-SORT's EMA uses 0.9). */
const APPEARANCE_MEMORY = 0.9;

/**
 * A tracker of face boxes for ONE stream (keep one per streamId; see StreamTrackers), built for
 * sampled video (5 frames/s), where a face can move several widths between two processed frames.
 *
 * Each `update` (one processed frame, frame numbers strictly increasing):
 * 0. at a hard cut (the caller says so) every confirmed track ends first: no id crosses a cut;
 * 1. detections above highThreshold are matched to confirmed tracks (seen or missing for up to
 *    maxMisses frames) on a cost that fuses overlap with the track's constant-velocity prediction
 *    and appearance (DeepSORT / BoT-SORT): a pair may match when it overlaps enough, or, with no
 *    overlap, when the face looks like the track, lies within maxJump face widths per frame of the
 *    prediction and kept its size within maxScaleChange; a face very unlike the track never matches it;
 * 2. detections above lowThreshold but not above highThreshold are matched on overlap to the
 *    confirmed tracks left over that were matched in the previous update (ByteTrack: a face blurred
 *    or half hidden for a moment) — they extend tracks but never start one;
 * 3. observation-centric recovery (OC-SORT): the tracks still unmatched are tried against the high
 *    detections left at their last observed box rather than the prediction (a face that stopped);
 *    a re-found track's velocity is re-estimated from its last observation over the gap;
 * 4. high detections left over are matched to tentative tracks, and the rest start tentative tracks;
 *    a tentative track is confirmed (and gets the next id) after minHits consecutive matches, and is
 *    dropped at its first miss;
 * 5. a confirmed track unmatched for more than maxMisses consecutive updates ends.
 * Every matching is optimal (Hungarian). Ids count up per stream from 1 and are never handed out twice.
 * With appearanceWeight 0, no recovery and no cut, this is the ByteTrack-style tracker of before.
 */
export class FaceTracker {
  readonly #config: FaceTrackerConfig;
  #tracks: Track[] = [];
  #nextId = 1;
  #lastSeq = -Infinity;
  /**
   * This update's detections → the confirmed track each looks most like among those that could be
   * there by now (within reidMaxJump face widths per frame since each was seen): re-identification's
   * test (set at the start of `update`).
   */
  #likeness = noLikeness();
  /** The same among the tracks within reidMaxJump face widths, however long missing: the swap veto's rivals. */
  #rivals = noLikeness();

  constructor(config: FaceTrackerConfig) {
    if (config.lowThreshold > config.highThreshold) throw new RangeError('lowThreshold must not be above highThreshold');
    this.#config = config;
  }

  /** A tracker that goes on from `snapshot` (taken by `snapshot()` with the same settings). */
  static restore(config: FaceTrackerConfig, snapshot: FaceTrackerSnapshot): FaceTracker {
    const tracker = new FaceTracker(config);
    tracker.#nextId = snapshot.nextId;
    tracker.#lastSeq = snapshot.lastSeq ?? -Infinity;
    tracker.#tracks = snapshot.tracks.map((t) => ({
      ...copyMotion(t),
      trackId: t.trackId ?? undefined,
      appearance: t.appearance ? Float32Array.from(t.appearance) : undefined,
      identity: t.identity ? Float32Array.from(t.identity) : undefined,
    }));
    return tracker;
  }

  snapshot(): FaceTrackerSnapshot {
    return {
      nextId: this.#nextId,
      lastSeq: Number.isFinite(this.#lastSeq) ? this.#lastSeq : null,
      tracks: this.#tracks.map((t) => ({
        ...copyMotion(t),
        trackId: t.trackId ?? null,
        appearance: t.appearance ? Array.from(t.appearance) : null,
        identity: t.identity ? Array.from(t.identity) : null,
      })),
    };
  }

  update(detections: readonly Detection[], frameSeq: number, options: { sceneCut?: boolean } = {}): TrackerUpdate {
    if (!(frameSeq > this.#lastSeq)) {
      throw new RangeError(`frame ${frameSeq} does not follow frame ${this.#lastSeq}: a tracker sees each frame once, in order`);
    }
    this.#lastSeq = frameSeq;
    const ended: number[] = options.sceneCut ? this.endAll() : [];
    const { highThreshold, lowThreshold } = this.#config;
    const high = indicesWhere(detections, (d) => d.score > highThreshold);
    const low = indicesWhere(detections, (d) => d.score > lowThreshold && d.score <= highThreshold);

    const confirmed = this.#tracks.filter((track) => track.trackId !== undefined);
    const tentative = this.#tracks.filter((track) => track.trackId === undefined);
    const matched = new Map<Track, number>(); // track → detection index
    const alike = this.#config.appearanceWeight > 0 ? this.#lookAlikes(confirmed, detections, frameSeq) : undefined;
    this.#likeness = alike?.likeness ?? noLikeness();
    this.#rivals = alike?.rivals ?? noLikeness();

    // 1. High detections against every confirmed track, on overlap and appearance.
    const first = this.#matchFused(confirmed, high, detections, frameSeq, matched);
    // 2. Low detections against the leftover tracks that were seen in the previous update.
    const recentlySeen = first.tracks.filter((track) => track.misses === 0);
    this.#matchOnOverlap(recentlySeen, low, detections, (track) => this.#predict(track, frameSeq), this.#config.lowMatchIou, matched);
    // 3. Observation-centric recovery: leftover tracks at their last observed box.
    let highLeft = first.detections;
    if (this.#config.recoverFromLastObservation) {
      const leftover = first.tracks.filter((track) => !matched.has(track));
      highLeft = this.#matchOnOverlap(leftover, highLeft, detections, (track) => track.box, this.#config.matchIou, matched).detections;
    }
    // 3b. Re-identification: leftover tracks that missed the last frame(s) take back a face within
    // reach that looks most like them. Not a track seen in the last frame: its face is where it was or
    // where it went (rounds 1–3); a face beside it that only half looks like it is another person (two
    // walkers from one clip, lit alike), and taking it put one id on two people (crowd-swap).
    if (this.#config.appearanceWeight > 0) {
      const leftover = confirmed.filter((track) => !matched.has(track) && track.misses > 0);
      highLeft = this.#reidentify(leftover, highLeft, detections, frameSeq, matched);
    }
    // 4. Leftover high detections against tentative tracks.
    const third = this.#matchOnOverlap(
      tentative,
      highLeft,
      detections,
      (track) => this.#predict(track, frameSeq),
      this.#config.matchIou,
      matched,
    );

    if (this.#config.appearanceWeight > 0) ended.push(...this.#mergeDuplicates(confirmed, detections, matched));

    // Births from the high detections nobody took, but none from a second box on a face a track
    // already has in this frame (a close-up's second box, another detector's box on the same face).
    const trackedBoxes = [...matched.values()].map((index) => detections[index]!.box);
    const unborn = third.detections.filter(
      (index) => !trackedBoxes.some((box) => overlapOfSmaller(box, detections[index]!.box) >= this.#config.duplicateOverlap),
    );
    const born: Track[] = unborn.map((index) => {
      const detection = detections[index]!;
      const track: Track = {
        trackId: undefined,
        box: detection.box,
        score: detection.score,
        velocity: { x: 0, y: 0 },
        lastSeq: frameSeq,
        hits: 0,
        misses: 0,
        appearance: undefined,
        identity: undefined,
      };
      matched.set(track, index);
      return track;
    });

    // Matched tracks take their detection; tracks reaching minHits are confirmed in detection order.
    const confirmations: Track[] = [];
    for (const [track, index] of matched) {
      this.#observe(track, detections[index]!, frameSeq, !overlapsAnother(detections, index));
      if (track.trackId === undefined && track.hits >= this.#config.minHits) confirmations.push(track);
    }
    confirmations.sort((a, b) => matched.get(a)! - matched.get(b)!);
    for (const track of confirmations) track.trackId = this.#nextId++;

    // 5. Misses: tentative tracks go at once, confirmed ones after maxMisses.
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

  /** Ends every confirmed track (end of stream, hard cut) and forgets all tracks. Ids keep counting: none is reused. */
  endAll(): number[] {
    const ended = this.#tracks.flatMap((track) => (track.trackId === undefined ? [] : [track.trackId]));
    this.#tracks = [];
    return ended.sort((a, b) => a - b);
  }

  /** Confirmed tracks alive (matched recently or still within maxMisses). */
  get activeTrackIds(): number[] {
    return this.#tracks.flatMap((track) => (track.trackId === undefined ? [] : [track.trackId])).sort((a, b) => a - b);
  }

  /**
   * Which of the next frame's faces (their boxes, for frame `frameSeq`) an identity descriptor would
   * decide something for, so the caller computes it (a face recognition net run) only for those:
   * - a face within reidMaxJump face widths of another face: two people near each other, who may
   *   cross or hide one another (described before they touch, so their tracks know them by then);
   * - a face that two or more confirmed tracks could take (within reidMaxJump face widths per frame
   *   since each was seen): the swap veto and re-identification choose between them;
   * - a face no confirmed track overlaps (at its prediction or last box, matchIou) while one is within
   *   maxJump face widths per frame: only appearance can match it (a jump, a return after a miss).
   * A lone face that its own track overlaps needs none: overlap decides. Nor does a settled face: one
   * confirmed track, seen in the last frame, standing still (moved under STILL of its width since)
   * and already described, overlaps it, and nothing else touches it (no other face, no other track's
   * box or prediction): people standing side by side, as in a group photo, are described once, not on
   * every frame, until someone comes close. (Walkers are described on every frame near others: with
   * their running descriptors only refreshed at touching distance, crowd-swap's switches went 1 → 6.)
   */
  identityWanted(boxes: readonly FaceBox[], frameSeq: number): boolean[] {
    const { reidMaxJump, maxJump, matchIou } = this.#config;
    const confirmed = this.#tracks.filter((track) => track.trackId !== undefined);
    const places = confirmed.map((track) => ({ track, predicted: this.#predict(track, frameSeq) }));
    const touches = (a: FaceBox, b: FaceBox) => iou(a, b) > 0;
    const settled = (box: FaceBox, i: number) => {
      const touching = places.filter(({ track, predicted }) => touches(predicted, box) || touches(track.box, box));
      const [own] = touching;
      return (
        touching.length === 1 &&
        own!.track.identity !== undefined &&
        own!.track.misses === 0 &&
        Math.hypot(own!.track.velocity.x, own!.track.velocity.y) * (frameSeq - own!.track.lastSeq) <= STILL * own!.track.box.width &&
        Math.max(iou(own!.predicted, box), iou(own!.track.box, box)) >= matchIou &&
        !boxes.some((other, j) => j !== i && touches(other, box))
      );
    };
    return boxes.map((box, i) => {
      if (settled(box, i)) return false;
      const to = centre(box);
      const within = (from: FaceBox, widths: number) => distance(centre(from), to) <= widths * Math.sqrt(from.width * box.width);
      if (boxes.some((other, j) => j !== i && within(other, reidMaxJump))) return true;
      const steps = (track: Track) => track.misses + 1;
      const near = places.filter(
        ({ track, predicted }) => within(track.box, reidMaxJump * steps(track)) || within(predicted, reidMaxJump * steps(track)),
      );
      if (near.length >= 2) return true;
      const overlapped = places.some(({ track, predicted }) => iou(predicted, box) >= matchIou || iou(track.box, box) >= matchIou);
      return (
        !overlapped &&
        places.some(({ track, predicted }) => within(track.box, maxJump * steps(track)) || within(predicted, maxJump * steps(track)))
      );
    });
  }

  /** Matches `tracks` to the detections at `candidates` on the fused overlap/appearance cost. */
  #matchFused(
    tracks: readonly Track[],
    candidates: readonly number[],
    detections: readonly Detection[],
    frameSeq: number,
    matched: Map<Track, number>,
  ): { tracks: Track[]; detections: number[] } {
    const { appearanceWeight, matchIou, maxJump, maxScaleChange } = this.#config;
    if (appearanceWeight === 0) {
      return this.#matchOnOverlap(tracks, candidates, detections, (track) => this.#predict(track, frameSeq), matchIou, matched);
    }
    const cost = tracks.map((track) => {
      const predicted = this.#predict(track, frameSeq);
      const steps = track.misses + 1; // processed frames since the track was last seen
      return candidates.map((index): number | undefined => {
        const detection = detections[index]!;
        const overlap = iou(predicted, detection.box);
        const alike = this.#alike(track, detection);
        if (alike === undefined) return overlap >= matchIou ? 1 - overlap : undefined;
        const { similarity } = alike;
        const limits = this.#limits(alike.kind);
        if (similarity < limits.veto || this.#swapVetoed(track, index, alike)) return undefined;
        const scale = detection.box.width / predicted.width;
        const jump = distance(centre(predicted), centre(detection.box)) / Math.sqrt(predicted.width * detection.box.width);
        const nearEnough = jump <= maxJump * steps && scale <= maxScaleChange && scale >= 1 / maxScaleChange;
        if (overlap < matchIou && !(similarity >= limits.gate && nearEnough)) return undefined;
        // Lower is better: unlike faces and far-off ones cost more.
        return (1 - appearanceWeight) * (1 - overlap) + appearanceWeight * (1 - similarity);
      });
    });
    const result = matchByCost(cost, candidates.length);
    for (const [track, candidate] of result.pairs) matched.set(tracks[track]!, candidates[candidate]!);
    return {
      tracks: result.unmatchedRows.map((i) => tracks[i]!),
      detections: result.unmatchedColumns.map((i) => candidates[i]!),
    };
  }

  /** Matches `tracks` (at the box `boxOf` gives) to the detections at `candidates` on IoU (as `matchByIou`); records pairs in `matched`. */
  #matchOnOverlap(
    tracks: readonly Track[],
    candidates: readonly number[],
    detections: readonly Detection[],
    boxOf: (track: Track) => FaceBox,
    minIou: number,
    matched: Map<Track, number>,
  ): { tracks: Track[]; detections: number[] } {
    const { appearanceWeight } = this.#config;
    const cost = tracks.map((track) => {
      const box = boxOf(track);
      return candidates.map((index): number | undefined => {
        const detection = detections[index]!;
        const overlap = iou(box, detection.box);
        if (overlap < minIou) return undefined;
        // The vetoes hold in every round: a face very unlike a track, or clearly more like another
        // live track, is another person.
        const alike = appearanceWeight > 0 ? this.#alike(track, detection) : undefined;
        if (alike && (alike.similarity < this.#limits(alike.kind).veto || this.#swapVetoed(track, index, alike))) return undefined;
        return 1 - overlap;
      });
    });
    const result = matchByCost(cost, candidates.length);
    for (const [track, candidate] of result.pairs) matched.set(tracks[track]!, candidates[candidate]!);
    return {
      tracks: result.unmatchedRows.map((i) => tracks[i]!),
      detections: result.unmatchedColumns.map((i) => candidates[i]!),
    };
  }

  /**
   * Two live tracks on one person become one: a confirmed track left unmatched whose last box lies
   * duplicateOverlap over a face another track took in this frame, and that looks at least reidGate
   * like that face, is the same person (a second track started while the first was hidden, and the
   * two would take the face in turns). The older id keeps the face; the younger track ends at once.
   * Returns the ids ended.
   */
  #mergeDuplicates(confirmed: readonly Track[], detections: readonly Detection[], matched: Map<Track, number>): number[] {
    const { duplicateOverlap } = this.#config;
    const ended: number[] = [];
    const merged = new Set<Track>();
    for (const idle of confirmed) {
      if (merged.has(idle) || matched.has(idle) || idle.trackId === undefined) continue;
      for (const [holder, index] of matched) {
        const detection = detections[index]!;
        if (holder === idle || holder.trackId === undefined) continue;
        const alike = this.#alike(idle, detection);
        if (!alike || overlapOfSmaller(idle.box, detection.box) < duplicateOverlap || alike.similarity < this.#limits(alike.kind).reidGate)
          continue;
        if (this.#swapVetoed(idle, index, alike)) continue; // the face is clearly another live track's
        const [older, younger] = idle.trackId < holder.trackId ? [idle, holder] : [holder, idle];
        if (older === idle) {
          matched.delete(holder);
          matched.set(idle, index);
        }
        ended.push(younger.trackId!);
        merged.add(younger);
        this.#tracks = this.#tracks.filter((track) => track !== younger);
        break;
      }
    }
    return ended;
  }

  /**
   * Whether detection `index` looks more like another live track than like `track` (at `similarity`)
   * by more than swapMargin: then it is that other person, and `track` taking it would move an id
   * from one person to another (two faces crossing, one of them hidden for the moment).
   */
  #swapVetoed(track: Track, index: number, alike: Alike): boolean {
    const best = this.#rivals[alike.kind].get(index);
    return best !== undefined && best.track !== track && best.similarity - alike.similarity > this.#limits(alike.kind).swapMargin;
  }

  /**
   * How alike a track and a face are, on the best descriptor both have: the identity descriptor
   * (a face recognition net) where both have one, else the cheap appearance descriptor.
   */
  #alike(track: Track, detection: Detection): Alike | undefined {
    if (track.identity && detection.identity) return { similarity: cosine(track.identity, detection.identity), kind: 'identity' };
    if (track.appearance && detection.appearance) return { similarity: cosine(track.appearance, detection.appearance), kind: 'appearance' };
    return undefined;
  }

  /** The thresholds on one descriptor's cosine scale. */
  #limits(kind: DescriptorKind): { gate: number; veto: number; swapMargin: number; reidGate: number } {
    const c = this.#config;
    return kind === 'identity'
      ? { gate: c.identityGate, veto: c.identityVeto, swapMargin: c.identitySwapMargin, reidGate: c.identityReidGate }
      : { gate: c.appearanceGate, veto: c.appearanceVeto, swapMargin: c.swapMargin, reidGate: c.reidGate };
  }

  /**
   * Tracks left unmatched take back, on appearance, a face they neither overlap nor resemble by
   * appearanceGate: allowed when the face looks at least reidGate like the track, more like it than
   * like any other live track that could be there (`#lookAlikes`), and lies within reidMaxJump face widths per frame since the track was
   * last seen (from its last box or its prediction) at a width within maxScaleChange. A person
   * hidden behind another or a pillar for a few frames comes back under the same id instead of
   * starting a second track while the first is still alive. Returns the detections left.
   */
  #reidentify(
    tracks: readonly Track[],
    candidates: readonly number[],
    detections: readonly Detection[],
    frameSeq: number,
    matched: Map<Track, number>,
  ): number[] {
    const { reidMaxJump: maxJump, maxScaleChange } = this.#config;
    const cost = tracks.map((track) => {
      const predicted = this.#predict(track, frameSeq);
      const steps = track.misses + 1;
      return candidates.map((index): number | undefined => {
        const detection = detections[index]!;
        const alike = this.#alike(track, detection);
        if (!alike) return undefined;
        const best = this.#likeness[alike.kind].get(index);
        if (!best || best.track !== track || best.similarity < this.#limits(alike.kind).reidGate) return undefined;
        const scale = detection.box.width / track.box.width;
        if (scale > maxScaleChange || scale < 1 / maxScaleChange) return undefined;
        const reach = maxJump * steps * Math.sqrt(track.box.width * detection.box.width);
        const to = centre(detection.box);
        if (Math.min(distance(centre(track.box), to), distance(centre(predicted), to)) > reach) return undefined;
        return (1 - best.similarity) / 2;
      });
    });
    const result = matchByCost(cost, candidates.length);
    for (const [track, candidate] of result.pairs) matched.set(tracks[track]!, candidates[candidate]!);
    return result.unmatchedColumns.map((i) => candidates[i]!);
  }

  /**
   * For each detection with a descriptor, the confirmed track it looks most like among those that
   * could be there: within reidMaxJump face widths of the track's last box or its prediction, per
   * processed frame since it was last seen (`likeness`), or not growing with misses (`rivals`). The cheap descriptor often finds a
   * face more like some track across the picture than like its own (low-resolution faces, a box whose
   * shape changed with the detector that found it); such a far-off look-alike must not veto a match
   * (the rivals: a reach that does not grow, so a track lost for long is no rival anywhere) nor
   * re-identify the face.
   */
  #lookAlikes(
    tracks: readonly Track[],
    detections: readonly Detection[],
    frameSeq: number,
  ): { likeness: LikenessByKind; rivals: LikenessByKind } {
    const likeness = noLikeness();
    const rivals = noLikeness();
    const keepBest = (into: Map<number, Likeness>, index: number, candidate: Likeness) => {
      if (candidate.similarity > (into.get(index)?.similarity ?? -Infinity)) into.set(index, candidate);
    };
    const places = tracks.map((track) => ({ track, last: centre(track.box), predicted: centre(this.#predict(track, frameSeq)) }));
    detections.forEach((detection, index) => {
      if (!detection.appearance && !detection.identity) return;
      const to = centre(detection.box);
      for (const { track, last, predicted } of places) {
        const oneFrameReach = this.#config.reidMaxJump * Math.sqrt(track.box.width * detection.box.width);
        const away = Math.min(distance(last, to), distance(predicted, to));
        if (away > oneFrameReach * (track.misses + 1)) continue;
        // Each descriptor the two both have, on its own scale.
        const kinds: [DescriptorKind, ArrayLike<number> | undefined, ArrayLike<number> | undefined][] = [
          ['appearance', track.appearance, detection.appearance],
          ['identity', track.identity, detection.identity],
        ];
        for (const [kind, ofTrack, ofFace] of kinds) {
          if (!ofTrack || !ofFace) continue;
          const candidate = { track, similarity: cosine(ofTrack, ofFace) };
          keepBest(likeness[kind], index, candidate);
          if (away <= oneFrameReach) keepBest(rivals[kind], index, candidate);
        }
      }
    });
    return { likeness, rivals };
  }

  #predict(track: Track, frameSeq: number): FaceBox {
    if (!this.#config.predictMotion) return track.box;
    const frames = frameSeq - track.lastSeq;
    return translate(track.box, track.velocity.x * frames, track.velocity.y * frames);
  }

  /** `clear`: no other face overlaps this one, so its look is its own (BoT-SORT updates features only then). */
  #observe(track: Track, detection: Detection, frameSeq: number, clear: boolean): void {
    if (track.hits > 0 || track.misses > 0) {
      // Observation-centric: from the last observation to this one over the whole gap, never from
      // predictions made while the face was missing.
      const frames = frameSeq - track.lastSeq;
      const from = centre(track.box);
      const to = centre(detection.box);
      track.velocity = { x: (to.x - from.x) / frames, y: (to.y - from.y) / frames };
    }
    if (detection.appearance && (clear || !track.appearance)) {
      track.appearance = track.appearance
        ? blendAppearance(track.appearance, detection.appearance, APPEARANCE_MEMORY)
        : Float32Array.from(detection.appearance);
    }
    if (detection.identity && (clear || !track.identity)) {
      track.identity = track.identity
        ? blendAppearance(track.identity, detection.identity, APPEARANCE_MEMORY)
        : Float32Array.from(detection.identity);
    }
    track.box = detection.box;
    track.score = detection.score;
    track.lastSeq = frameSeq;
    track.hits += 1;
    track.misses = 0;
  }
}

/** The confirmed track a detection looks most like, and the cosine. */
interface Likeness {
  readonly track: Track;
  readonly similarity: number;
}

/** The two descriptors: the cheap one every face has, and the identity model's where it was computed. */
type DescriptorKind = 'appearance' | 'identity';

/** A track and a face compared on one descriptor. */
interface Alike {
  readonly similarity: number;
  readonly kind: DescriptorKind;
}

/** Per descriptor, each detection's best look-alike (a cosine on one scale is never weighed against the other's). */
type LikenessByKind = Record<DescriptorKind, Map<number, Likeness>>;

function noLikeness(): LikenessByKind {
  return { appearance: new Map(), identity: new Map() };
}

/** Intersection over the smaller box's area: 1 when one box lies inside the other. */
function overlapOfSmaller(a: FaceBox, b: FaceBox): number {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (width <= 0 || height <= 0) return 0;
  const smaller = Math.min(a.width * a.height, b.width * b.height);
  return smaller > 0 ? (width * height) / smaller : 0;
}

/** Whether another detection overlaps detection `index` (a face partly in front of or behind another). */
function overlapsAnother(detections: readonly Detection[], index: number): boolean {
  const box = detections[index]!.box;
  return detections.some((other, i) => i !== index && iou(box, other.box) > 0);
}

function distance(a: { x: number; y: number }, b: { x: number; y: number }): number {
  return Math.hypot(a.x - b.x, a.y - b.y);
}

function indicesWhere<T>(items: readonly T[], test: (item: T) => boolean): number[] {
  const indices: number[] = [];
  items.forEach((item, i) => {
    if (test(item)) indices.push(i);
  });
  return indices;
}
