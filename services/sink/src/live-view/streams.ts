import { EMOTION_LABELS, type EventBox, type FaceEmotionEvent, type FrameSize, type TrackSummaryEvent } from '@emostream/shared';

/**
 * What the live view knows of each stream, and the rule that decides which picture it shows.
 *
 * Frames (from ingest) and face events (from the sink) of one frame reach the live view at different
 * times: the events come later, by the pipeline's delay. The view keeps a short ring of recent frames
 * per stream and shows
 * - a frame together with its faces as soon as the face events of that frame arrive (an
 *   "annotated frame": boxes are always drawn on the picture they were found in);
 * - a frame with no boxes once it has waited longer than the stream's recent event delay (×1.5, plus
 *   a margin) without events: it had no face, or its events were lost;
 * and never a frame older than the one it showed last (no jumping back in time, no boxes of an old
 * frame on a newer picture). Events of a frame that is no longer in the ring still feed the timeline.
 * Everything is bounded: frames per stream, points per track, tracks and streams that go quiet.
 */

/** A face as the page draws it, probabilities in `EMOTION_LABELS` order. */
export interface ViewFace {
  trackId: number;
  /** In the source frame's pixels (`frame`); the page scales it to the picture it draws on. */
  box: EventBox;
  frame: FrameSize;
  label: string;
  confidence: number;
  probs: number[];
}

/** A picture to show: a frame and the faces found in it (none for a plain frame). */
export interface Shown {
  streamId: string;
  seq: number;
  ptsMs: number;
  width: number;
  height: number;
  jpeg: Uint8Array;
  faces: ViewFace[];
}

export interface TimelinePoint {
  seq: number;
  ptsMs: number;
  probs: number[];
}

export interface TrackView {
  trackId: number;
  points: TimelinePoint[];
  lastSeenAt: number;
  summary?: { meanEmotion: string; durationMs: number; frames: number };
}

export interface StreamViewsOptions {
  /** Frames kept per stream, waiting for their events (default 64). */
  ringFrames?: number;
  /** Timeline points kept per track (default 300). */
  pointsPerTrack?: number;
  /** A track not seen for this long (wall clock) leaves the view (default 60 s). */
  trackTtlMs?: number;
  /** A stream with no frame and no event for this long leaves the view (default 10 min). */
  streamTtlMs?: number;
  /** How long a frame waits for its events before it is shown plain, before any delay was seen (default 1 s). */
  initialWaitMs?: number;
  now?: () => number;
}

interface RingFrame {
  seq: number;
  ptsMs: number;
  width: number;
  height: number;
  jpeg: Uint8Array;
  arrivedAt: number;
}

interface StreamState {
  streamId: string;
  width: number;
  height: number;
  ring: RingFrame[];
  lastFrameSeq: number;
  /** Seq of the picture shown last (-1: none yet). */
  shownSeq: number;
  shown?: Shown;
  /** Estimated event delay (frame arrival → its events), smoothed. */
  delayMs?: number;
  tracks: Map<number, TrackView>;
  lastActivity: number;
}

export function faceOf(event: FaceEmotionEvent): ViewFace {
  return {
    trackId: event.trackId,
    box: event.box,
    frame: event.frame,
    label: event.label,
    confidence: event.confidence,
    probs: EMOTION_LABELS.map((label) => event.probabilities[label] ?? 0),
  };
}

export class StreamViews {
  private readonly streams = new Map<string, StreamState>();
  private readonly ringFrames: number;
  private readonly pointsPerTrack: number;
  private readonly trackTtlMs: number;
  private readonly streamTtlMs: number;
  private readonly initialWaitMs: number;
  private readonly now: () => number;

  constructor(options: StreamViewsOptions = {}) {
    this.ringFrames = options.ringFrames ?? 64;
    this.pointsPerTrack = options.pointsPerTrack ?? 300;
    this.trackTtlMs = options.trackTtlMs ?? 60_000;
    this.streamTtlMs = options.streamTtlMs ?? 600_000;
    this.initialWaitMs = options.initialWaitMs ?? 1_000;
    this.now = options.now ?? Date.now;
  }

  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  size(streamId: string): { width: number; height: number } | undefined {
    const s = this.streams.get(streamId);
    return s && s.width > 0 ? { width: s.width, height: s.height } : undefined;
  }

  /** The picture the stream shows now. */
  shown(streamId: string): Shown | undefined {
    return this.streams.get(streamId)?.shown;
  }

  tracks(streamId: string): TrackView[] {
    return [...(this.streams.get(streamId)?.tracks.values() ?? [])];
  }

  /** Makes sure the stream exists (e.g. an RTSP relay with no frames on the bus); true when it is new. */
  touch(streamId: string): boolean {
    if (this.streams.has(streamId)) return false;
    this.state(streamId);
    return true;
  }

  /** A frame from ingest; true when the stream is new or its size changed. */
  frame(streamId: string, frame: { seq: number; ptsMs: number; width: number; height: number; jpeg: Uint8Array }): boolean {
    const isNew = !this.streams.has(streamId);
    const s = this.state(streamId);
    const resized = s.width !== frame.width || s.height !== frame.height;
    s.width = frame.width;
    s.height = frame.height;
    s.lastActivity = this.now();
    // Frames arrive in seq order; a restarted stream (seq back to 1) starts over.
    if (frame.seq <= s.lastFrameSeq) {
      s.ring = [];
      s.shownSeq = -1;
      delete s.delayMs;
    }
    s.lastFrameSeq = frame.seq;
    if (frame.jpeg.length === 0) return isNew || resized; // an end-of-stream marker
    s.ring.push({ ...frame, arrivedAt: this.now() });
    if (s.ring.length > this.ringFrames) s.ring.shift();
    return isNew || resized;
  }

  /**
   * The face events of one frame (all of them, or more of them later: the faces of a seq accumulate).
   * Returns the annotated picture to show, or undefined when its frame is gone or older than the
   * picture shown. The timeline takes the points either way.
   */
  faces(streamId: string, seq: number, events: FaceEmotionEvent[]): Shown | undefined {
    const s = this.state(streamId);
    const now = this.now();
    s.lastActivity = now;
    const faces = events.map(faceOf);
    for (const [i, face] of faces.entries()) {
      const track = s.tracks.get(face.trackId) ?? { trackId: face.trackId, points: [], lastSeenAt: now };
      s.tracks.set(face.trackId, track);
      track.lastSeenAt = now;
      delete track.summary;
      if (track.points.at(-1)?.seq !== seq) track.points.push({ seq, ptsMs: events[i]!.ptsMs, probs: face.probs });
      if (track.points.length > this.pointsPerTrack) track.points.splice(0, track.points.length - this.pointsPerTrack);
    }
    const frame = s.ring.find((f) => f.seq === seq);
    if (!frame) return undefined;
    const delay = now - frame.arrivedAt;
    s.delayMs = s.delayMs === undefined ? delay : 0.7 * s.delayMs + 0.3 * delay;
    if (seq < s.shownSeq) return undefined;
    const merged =
      seq === s.shownSeq && s.shown ? [...s.shown.faces.filter((f) => !faces.some((n) => n.trackId === f.trackId)), ...faces] : faces;
    return this.show(s, frame, merged);
  }

  /** A track ended: the timeline keeps it, with its summary, until the track TTL. */
  summary(event: TrackSummaryEvent): void {
    const s = this.state(event.streamId);
    const track = s.tracks.get(event.trackId) ?? { trackId: event.trackId, points: [], lastSeenAt: this.now() };
    s.tracks.set(event.trackId, track);
    track.summary = { meanEmotion: event.meanEmotion, durationMs: event.durationMs, frames: event.frames };
  }

  /**
   * Frames that waited long enough without events: the newest such frame of each stream, to show plain.
   * Call it regularly (a few times a second).
   */
  due(): Shown[] {
    const now = this.now();
    const out: Shown[] = [];
    for (const s of this.streams.values()) {
      const wait = s.delayMs === undefined ? this.initialWaitMs : Math.max(200, 1.5 * s.delayMs + 150);
      let pick: RingFrame | undefined;
      for (const f of s.ring) if (f.seq > s.shownSeq && now - f.arrivedAt >= wait) pick = f;
      if (pick) out.push(this.show(s, pick, []));
    }
    return out;
  }

  /** Drops quiet tracks and streams; returns what was dropped. */
  expire(): { streams: string[]; tracks: { streamId: string; trackId: number }[] } {
    const now = this.now();
    const dropped = { streams: [] as string[], tracks: [] as { streamId: string; trackId: number }[] };
    for (const [streamId, s] of this.streams) {
      if (now - s.lastActivity > this.streamTtlMs) {
        this.streams.delete(streamId);
        dropped.streams.push(streamId);
        continue;
      }
      for (const [trackId, track] of s.tracks) {
        if (now - track.lastSeenAt > this.trackTtlMs) {
          s.tracks.delete(trackId);
          dropped.tracks.push({ streamId, trackId });
        }
      }
    }
    return dropped;
  }

  private show(s: StreamState, frame: RingFrame, faces: ViewFace[]): Shown {
    s.shownSeq = frame.seq;
    // Frames up to the one shown will never be shown: drop them (keep the shown one for more faces).
    s.ring = s.ring.filter((f) => f.seq >= frame.seq);
    s.shown = {
      streamId: s.streamId,
      seq: frame.seq,
      ptsMs: frame.ptsMs,
      width: frame.width,
      height: frame.height,
      jpeg: frame.jpeg,
      faces,
    };
    return s.shown;
  }

  private state(streamId: string): StreamState {
    let s = this.streams.get(streamId);
    if (!s) {
      s = { streamId, width: 0, height: 0, ring: [], lastFrameSeq: -1, shownSeq: -1, tracks: new Map(), lastActivity: this.now() };
      this.streams.set(streamId, s);
    }
    return s;
  }
}
