import path from 'node:path';
import { parseSource } from '@emostream/ingest';
import type { EmotionEvent, FaceEmotionEvent } from '@emostream/shared';
import type { TemporalModel } from '@emostream/temporal';
import type { RunInput } from '../inputs.js';
import { writeAnnotatedImage, type AnnotatedVideo } from './annotated-video.js';
import { coveredByTrack, liveReport, offlineReport, writeReports, type TrackObservations, type TrackReport } from './csv.js';
import { writeEventsJsonl, writeFeaturesJsonl } from './jsonl.js';
import type { Recordings } from './recording.js';

/** What an input's reports are written from: the frames its cut covers, and what the pipeline saw of them. */
export interface InputReportsSource {
  input: RunInput;
  outDir: string;
  options: { features?: boolean; perTrackCsv?: boolean; video?: boolean };
  /** An input that could not be read at all (missing, unreachable, never connected) gets no empty reports. */
  unread: boolean;
  /** Frames the input published (no frame: no annotated picture). */
  publishedFrames: number;
  totalFrames: number;
  /** The cut's sampled frames, face events and public events. */
  cut: { sampledSeqs: number[]; faces: FaceEmotionEvent[]; events: EmotionEvent[] };
  /** What the backbone saw of the input, per track. */
  observations: Iterable<TrackObservations>;
  temporalModel: TemporalModel | null;
  /** A file's annotated video, drawn while the pipeline ran. */
  annotated: AnnotatedVideo | undefined;
  recordings: Recordings;
  liveSampleFps: number;
}

export interface InputReports {
  /** The files written. */
  written: string[];
  /** The CSV report's tracks. */
  reports: TrackReport[];
  /** The reports that could not be written, each with why. */
  errors: string[];
  /** Seconds spent on the annotated video or image (undefined: none written). */
  videoSeconds?: number;
}

/**
 * Writes every report of one input: `<name>.events.jsonl`, the CSV report (`<name>.csv`, per track with
 * --per-track-csv), `<name>.features.jsonl` (--features) and the annotated video or image. Each on its
 * own: one that cannot be written (an encoder that refuses the input, say) is named in `errors`, and
 * every other report is still written.
 */
export async function writeInputReports(source: InputReportsSource): Promise<InputReports> {
  const { input, outDir, unread } = source;
  const errors: string[] = [];
  const attempt = async <T>(what: string, write: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await write();
    } catch (error) {
      errors.push(`${what}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const written: string[] = unread ? [] : [writeEventsJsonl(outDir, input.name, source.cut.events)];
  const tracks = tracksInCut(source.observations, source.cut.sampledSeqs);
  const reports = (await attempt('report', () => trackReports(source, tracks))) ?? [];
  // Images get a row per face in their folder's table (written once all are done) instead of a video report.
  if (!input.image && !unread)
    written.push(
      ...((await attempt('CSV report', () => writeReports(outDir, input.name, reports, { perTrack: source.options.perTrackCsv }))) ?? []),
    );
  if (source.options.features && !unread) written.push(writeFeaturesJsonl(outDir, input.name, tracks));
  const started = performance.now();
  const picture = await annotatedPicture(source, attempt);
  if (picture) written.push(picture);
  const videoSeconds = picture ? (source.annotated?.workedSeconds ?? (performance.now() - started) / 1000) : undefined;
  return { written, reports, errors, ...(videoSeconds !== undefined ? { videoSeconds } : {}) };
}

/** The tracks the backbone saw, cut to the report's frames, by id. */
function tracksInCut(observations: Iterable<TrackObservations>, sampledSeqs: number[]): TrackObservations[] {
  const inCut = new Set(sampledSeqs);
  return [...observations]
    .map((track) => ({ ...track, frames: track.frames.filter((f) => inCut.has(f.frame)) }))
    .filter((track) => track.frames.length > 0)
    .sort((a, b) => a.trackId - b.trackId);
}

/**
 * Files get the reference's offline windows; live inputs report what the sliding window said live.
 * One face: the reference's report, every frame of the video. Several: each CSV covers its own track.
 */
async function trackReports(source: InputReportsSource, tracks: TrackObservations[]): Promise<TrackReport[]> {
  const { cut, totalFrames } = source;
  const full = source.input.live
    ? tracks.map((track) => liveReport(track.trackId, cut.faces, totalFrames))
    : await Promise.all(tracks.map((track) => offlineReport(track, totalFrames, source.temporalModel)));
  if (full.length <= 1) return full;
  return full.map((report) =>
    coveredByTrack(
      report,
      Math.max(...tracks.find((t) => t.trackId === report.trackId)!.frames.map((f) => f.frame)),
      cut.sampledSeqs,
      totalFrames,
    ),
  );
}

/** `<name>.annotated.mp4` (a file's, drawn alongside; a live input's, from its recording) or an image's `.annotated.jpg`. */
async function annotatedPicture(
  source: InputReportsSource,
  attempt: <T>(what: string, write: () => T | Promise<T>) => Promise<T | undefined>,
): Promise<string | undefined> {
  const { input, outDir, annotated, cut } = source;
  if (source.publishedFrames === 0 || source.options.video === false) {
    await annotated?.abort();
    return undefined;
  }
  const output = path.join(outDir, `${input.name}.annotated.mp4`);
  if (input.image)
    return attempt('annotated image', () =>
      writeAnnotatedImage(parseSource(input.input).input, path.join(outDir, `${input.name}.annotated.jpg`), cut.faces),
    );
  return attempt('annotated video', () =>
    annotated
      ? annotated.finish(source.totalFrames).then(() => output)
      : source.recordings.writeVideo(
          input.name,
          { faces: cut.faces, sampledSeqs: cut.sampledSeqs },
          source.totalFrames,
          source.liveSampleFps,
          output,
        ),
  );
}
