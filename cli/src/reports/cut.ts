import { EMOTION_LABELS, FACE_EVENT, type EmotionEvent, type FaceEmotionEvent, type TrackSummaryEvent } from '@emostream/shared';
import { trackSummaryEvent } from '@emostream/sink';

/** The part of an input that its reports cover: the same frames in the summary, the CSV and the events. */
export interface ReportCut {
  /** The sampled frames in the reports, ascending: every one reached the sink and its face events were read. */
  sampledSeqs: number[];
  /** The last of them (0 when none). */
  lastFrame: number;
  /** The face events of those frames. */
  faces: FaceEmotionEvent[];
  /**
   * The events of the report, in the order they were read: the face events above, the sink's track
   * summaries of exactly those faces, then a summary made here for each track still open when the input
   * stopped (by ascending id).
   */
  events: EmotionEvent[];
  /** The tracks whose summary was made here because the input stopped while they were open. */
  closedAtStop: number[];
}

/**
 * True when every face event of every frame the sink has handled (`sinkFrames`: sampled frame → its
 * number of faces) has been read back from the events topic. The sink hands a frame on before its
 * events reach the topic, so just after a stop the events may trail it by a frame or two.
 */
export function eventsCaughtUp(sinkFrames: ReadonlyMap<number, number>, events: readonly EmotionEvent[]): boolean {
  const read = facesPerFrame(events);
  return [...sinkFrames].every(([seq, faces]) => (read.get(seq) ?? 0) >= faces);
}

/**
 * Cuts an input's events to the frames its reports can cover, so that a stopped input's summary, CSV
 * and events agree: the sampled frames the sink handled, up to the first whose face events were not
 * all read; their face events; the sink's summaries of tracks whose faces are all among them; and for
 * every other track with faces there, a closing summary of those faces (the track was open at the
 * stop: the sink never summed it up). For an input read to its end and drained, nothing is cut.
 */
export function cutReports(sinkFrames: ReadonlyMap<number, number>, events: readonly EmotionEvent[], emittedAtMs: number): ReportCut {
  const read = facesPerFrame(events);
  const sampledSeqs: number[] = [];
  for (const seq of [...sinkFrames.keys()].sort((a, b) => a - b)) {
    if ((read.get(seq) ?? 0) < sinkFrames.get(seq)!) break;
    sampledSeqs.push(seq);
  }
  const inCut = new Set(sampledSeqs);
  const faces = events.filter((e): e is FaceEmotionEvent => e.schema === FACE_EVENT && inCut.has(e.seq));
  const facesPerTrack = new Map<number, FaceEmotionEvent[]>();
  for (const face of faces) facesPerTrack.set(face.trackId, [...(facesPerTrack.get(face.trackId) ?? []), face]);
  // A summary of the sink stays when it sums up exactly the track's faces in the cut.
  const summarised = new Set<number>();
  const kept = events.filter((e) => {
    if (e.schema === FACE_EVENT) return inCut.has(e.seq);
    const keep = facesPerTrack.get(e.trackId)?.length === e.frames && !summarised.has(e.trackId);
    if (keep) summarised.add(e.trackId);
    return keep;
  });
  const closedAtStop = [...facesPerTrack.keys()].filter((trackId) => !summarised.has(trackId)).sort((a, b) => a - b);
  const closing = closedAtStop.map((trackId) => closingSummary(facesPerTrack.get(trackId)!, emittedAtMs));
  return { sampledSeqs, lastFrame: sampledSeqs.at(-1) ?? 0, faces, events: [...kept, ...closing], closedAtStop };
}

/** A track's summary from its face events, as the sink makes it when a track ends. */
function closingSummary(faces: FaceEmotionEvent[], emittedAtMs: number): TrackSummaryEvent {
  const sorted = [...faces].sort((a, b) => a.seq - b.seq);
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  return trackSummaryEvent(
    {
      streamId: first.streamId,
      trackId: first.trackId,
      firstSeq: first.seq,
      lastSeq: last.seq,
      startPtsMs: first.ptsMs,
      endPtsMs: last.ptsMs,
      frames: sorted.length,
      sums: EMOTION_LABELS.map((label) => sorted.reduce((sum, face) => sum + face.probabilities[label], 0)),
    },
    emittedAtMs,
  );
}

function facesPerFrame(events: readonly EmotionEvent[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const event of events) if (event.schema === FACE_EVENT) counts.set(event.seq, (counts.get(event.seq) ?? 0) + 1);
  return counts;
}
