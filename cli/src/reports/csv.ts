import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EMOTION_LABELS, type FaceEmotionEvent } from '@emostream/shared';
import { assignPredictions, cutWindows, predictWindows, REFERENCE_WINDOWS, videoEmotion, type TemporalModel } from '@emostream/temporal';

/** What the backbone saw of one track: per sampled frame, its features and static probabilities. */
export interface TrackObservations {
  trackId: number;
  frames: { frame: number; features: Float32Array; staticProbs: number[] }[];
}

export interface TrackReport {
  trackId: number;
  /** Index = frame number − 1; null before the track's first sampled frame. */
  rows: (number[] | null)[];
  /**
   * The reference's video emotion: the mode of the per-window argmax of the offline windows (without an
   * LSTM: of the per-sampled-frame argmax of the static probabilities; live: of the emitted probabilities).
   */
  videoEmotion: string;
}

/**
 * The reference's offline report for one track of a video file (REFERENCE.md, run.py): with a temporal
 * model, the track's features cut into windows of 10 with step 5, the LSTM on each window, each
 * window's prediction on every frame from its first to its last sampled frame, averaged where
 * windows overlap, the last prediction carried to the end. Without one, each frame gets the static
 * probabilities of the latest sampled frame (carried to the unsampled frames after it).
 */
export async function offlineReport(track: TrackObservations, totalFrames: number, model: TemporalModel | null): Promise<TrackReport> {
  const frames = [...track.frames].sort((a, b) => a.frame - b.frame);
  const sampled = frames.map((f) => f.frame);
  if (model) {
    const windows = cutWindows(
      frames.map((f) => f.features),
      { ...REFERENCE_WINDOWS, length: model.windowLength },
    );
    const predictions = (
      await predictWindows(
        model,
        windows.map((w) => w.items),
      )
    ).map((row) => [...row]);
    return {
      trackId: track.trackId,
      rows: assignPredictions(windows, predictions, sampled, totalFrames),
      videoEmotion: EMOTION_LABELS[videoEmotion(predictions)]!,
    };
  }
  const rows = carryForward(
    frames.map((f) => ({ frame: f.frame, probs: f.staticProbs })),
    totalFrames,
  );
  return { trackId: track.trackId, rows, videoEmotion: EMOTION_LABELS[videoEmotion(frames.map((f) => f.staticProbs))]! };
}

/**
 * The report of one track of a live input: the probabilities the pipeline emitted live (the temporal
 * stage's sliding window, or static ones without a temporal model) on each sampled frame, carried to
 * the frames after it. Live frames are numbered by sampled frame.
 */
export function liveReport(trackId: number, faces: FaceEmotionEvent[], totalFrames: number): TrackReport {
  const observed = faces
    .filter((f) => f.trackId === trackId)
    .sort((a, b) => a.seq - b.seq)
    .map((f) => ({ frame: f.seq, probs: EMOTION_LABELS.map((label) => f.probabilities[label]) }));
  return { trackId, rows: carryForward(observed, totalFrames), videoEmotion: EMOTION_LABELS[videoEmotion(observed.map((o) => o.probs))]! };
}

/** One row per frame up to `totalFrames`: each observed frame's probabilities, carried to the unobserved frames after it. */
function carryForward(observed: { frame: number; probs: number[] }[], totalFrames: number): (number[] | null)[] {
  const rows: (number[] | null)[] = new Array<number[] | null>(Math.max(totalFrames, observed.at(-1)?.frame ?? 0)).fill(null);
  let current: number[] | null = null;
  let next = 0;
  for (let frame = 1; frame <= rows.length; frame += 1) {
    while (next < observed.length && observed[next]!.frame <= frame) current = observed[next++]!.probs;
    rows[frame - 1] = current;
  }
  return rows;
}

/**
 * The report cut to the frames its track covers: from its first sampled frame to the frame before the
 * stream's next sampled frame after its last one (the end of the input when there is none). The
 * reference carries the last prediction to the end of the video, which is right for its one face, not
 * for a face that left: with several tracks, each CSV stops where its face was last seen.
 */
export function coveredByTrack(report: TrackReport, lastSeen: number, sampledSeqs: readonly number[], totalFrames: number): TrackReport {
  const nextSampled = sampledSeqs.find((seq) => seq > lastSeen);
  const end = nextSampled === undefined ? Math.max(totalFrames, lastSeen) : nextSampled - 1;
  return { ...report, rows: report.rows.map((row, i) => (i + 1 <= end ? row : null)) };
}

/**
 * Writes the input's CSV report, `<name>.csv`, whatever it found: the reference's columns (`frame`
 * zero-padded to 6 digits, then the seven labels), then `track`; one row per video frame and track that
 * has a prediction, by frame then track. No face: the header alone. The name never depends on the
 * content, so `*.csv` finds every report. With `perTrack`, also the reference's own file per track,
 * `<name>.track<N>.csv` (its columns exactly, no `track`). Returns the files written.
 */
export function writeReports(outDir: string, name: string, reports: TrackReport[], options: { perTrack?: boolean } = {}): string[] {
  const prediction = (row: number[], i: number) => `${String(i + 1).padStart(6, '0')},${row.map((p) => p.toFixed(6)).join(',')}`;
  const file = path.join(outDir, `${name}.csv`);
  const lines = [`frame,${EMOTION_LABELS.join(',')},track`];
  const sorted = [...reports].sort((a, b) => a.trackId - b.trackId);
  const frames = Math.max(0, ...sorted.map((report) => report.rows.length));
  for (let i = 0; i < frames; i += 1) {
    for (const report of sorted) {
      const row = report.rows[i];
      if (row) lines.push(`${prediction(row, i)},${report.trackId}`);
    }
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  const perTrack = (options.perTrack ? sorted : []).map((report) => {
    const trackFile = path.join(outDir, `${name}.track${report.trackId}.csv`);
    const rows = report.rows.flatMap((row, i) => (row ? [prediction(row, i)] : []));
    writeFileSync(trackFile, `${[`frame,${EMOTION_LABELS.join(',')}`, ...rows].join('\n')}\n`);
    return trackFile;
  });
  return [file, ...perTrack];
}
