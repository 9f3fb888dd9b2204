import path from 'node:path';
import {
  fileSampleStep,
  ingestSettingsSchema,
  parseSource,
  probeVideo,
  type FrameMessage,
  type RawFramesCopy,
  type IngestSettings,
  type StreamOutcome,
  type VideoInfo,
} from '@emostream/ingest';
import { topicName, topics, TRACK_SUMMARY_EVENT, type TrackSummaryEvent } from '@emostream/shared';
import type { RunInput } from './inputs.js';
import type { Pipeline } from './pipeline.js';
import type { RunProgress } from './progress.js';
import { AnnotatedVideo, canShareDecode } from './reports/annotated-video.js';
import { cutReports, eventsCaughtUp, type ReportCut } from './reports/cut.js';
import { writeInputReports } from './reports/input-reports.js';
import { unlessAborted, waitUntil } from './run-control.js';
import type { InputSummary, RunOptions } from './run-types.js';

/** How many frames of a file ingest may be ahead of the sink while the live view watches. */
const PACED_FRAMES_AHEAD = 3;

/** The ingest settings `emo run` reads its inputs with: the service's defaults and the run's options. */
export function ingestSettings(options: RunOptions): IngestSettings {
  return ingestSettingsSchema.parse({
    ...(options.liveFps ? { liveSampleFps: options.liveFps } : {}),
    ...(options.maxWidth ? { maxWidth: options.maxWidth } : {}),
  });
}

/**
 * A file's size, rate and length from ffprobe. Never rejects: undefined when the input cannot be
 * probed, and its stream then fails with the reason (in the input's summary).
 */
export async function probeFile(input: RunInput, settings: IngestSettings): Promise<VideoInfo | undefined> {
  try {
    return await probeVideo(parseSource(input.input), settings);
  } catch {
    return undefined;
  }
}

/** One input through the pipeline: read, drained, cut to what was processed, and reported. */
export async function runInput(
  input: RunInput,
  pipeline: Pipeline,
  options: RunOptions,
  progress: RunProgress,
  drainOver: AbortSignal,
  probe: Promise<VideoInfo | undefined> | undefined,
): Promise<InputSummary> {
  const started = performance.now();
  const streamId = input.name;
  // Files: probed up front for the progress bar's total and the annotated video's size and rate.
  const video = input.live ? undefined : await (probe ?? probeFile(input, pipeline.settings));
  const line = video
    ? progress.file(streamId, video.declaredFrames ?? Math.round(((video.durationMs ?? 0) / 1000) * video.fps))
    : progress.live(streamId);
  const showProgress = setInterval(() => {
    const seen = pipeline.readers.progress.get(streamId);
    if (seen) line.update({ frames: input.live ? seen.frames : seen.lastSeq, faces: seen.faces });
  }, 200);
  // A file's annotated video is drawn alongside the stages (the emotions reader hands it each sampled frame).
  const annotated = video && !input.image && options.video !== false ? annotatedVideo(input, options, video) : undefined;
  if (annotated) pipeline.readers.videos.set(streamId, annotated);

  const outcome = await readInput(input, pipeline, options, drainOver, video, annotated?.rawFrames);
  // The backbone's pack loaded while the input started; one that could not leaves nothing to report.
  await pipeline.modelsLoaded;
  // An end-of-stream marker follows whatever was published (and a file that ended, even with no frame).
  const drained =
    (outcome.frames > 0 || (outcome.state === 'ended' && !input.live)) && (await untilEventsWritten(pipeline, streamId, drainOver));
  clearInterval(showProgress);
  // Read to its end and every frame through the stages: the whole file. A file read to its end whose
  // drain Ctrl-C cut short was stopped all the same: its reports end at the last frame processed.
  const complete = outcome.state === 'ended' && (drained || outcome.frames === 0);
  const state = outcome.state === 'ended' && !complete ? 'stopped' : outcome.state;
  const cut = await cutToProcessed(pipeline, streamId);
  // Rows of the report: every frame of a file read to its end; otherwise up to the last frame processed.
  const totalFrames = outcome.state === 'ended' && complete && !input.live ? outcome.decodedFrames : cut.lastFrame;
  line.update({ frames: input.live ? cut.sampledSeqs.length : totalFrames, faces: cut.faces.length });
  line.finish(state === 'ended' ? '✔' : state);

  pipeline.readers.videos.delete(streamId);
  const reports = await writeInputReports({
    input,
    outDir: options.outDir,
    options,
    unread: outcome.state === 'failed' && outcome.frames === 0 && (pipeline.readers.events.get(streamId)?.length ?? 0) === 0,
    publishedFrames: outcome.frames,
    totalFrames,
    cut,
    observations: pipeline.readers.observations.get(streamId)?.values() ?? [],
    temporalModel: pipeline.temporalModel,
    annotated,
    recordings: pipeline.recordings,
    liveSampleFps: pipeline.settings.liveSampleFps,
  });
  const failure = [...(outcome.state === 'failed' ? [outcome.error.message] : []), ...reports.errors];
  const seconds = (performance.now() - started) / 1000;
  const trackEnds = cut.events.filter((e): e is TrackSummaryEvent => e.schema === TRACK_SUMMARY_EVENT);
  return {
    input: input.input,
    streamId,
    live: input.live,
    state,
    // What the reports hold: the sampled frames through every stage (ingest may have read more before a stop).
    sampledFrames: cut.sampledSeqs.length,
    totalFrames,
    faces: cut.faces.length,
    detectedFaces: pipeline.faceAccounts.get(streamId)?.detected ?? 0,
    droppedFaces: { ...pipeline.faceAccounts.get(streamId)?.dropped },
    tracks: reports.reports.length,
    ...(cut.closedAtStop.length > 0 ? { tracksClosedAtStop: cut.closedAtStop } : {}),
    trackEmotions: reports.reports.map((report) => ({
      trackId: report.trackId,
      videoEmotion: report.videoEmotion,
      meanEmotion: trackEnds.find((end) => end.trackId === report.trackId)?.meanEmotion,
    })),
    ...(input.image ? { imageFaces: cut.faces.map((face) => ({ file: input.input, face })) } : {}),
    reports: reports.written,
    seconds,
    ...(reports.videoSeconds !== undefined ? { video: { seconds: reports.videoSeconds, share: reports.videoSeconds / seconds } } : {}),
    ...(failure.length > 0 ? { error: failure.join('; ') } : {}),
  };
}

/**
 * A file's annotated video. It takes its frames from ingest's decode of the file (one decode for the
 * pipeline and the video) unless the frames it would hold for that pass its memory bound (4K, or
 * 1080p at 30 fps); then it decodes the file itself. On the 720p demo clip the shared decode with the
 * FIFO's reused buffers took `emo run` from 11.1 to 9.75 CPU-s and from 6.2 to 5.5 s (2 cores, 12
 * interleaved rounds; issue 29).
 */
function annotatedVideo(input: RunInput, options: RunOptions, video: VideoInfo): AnnotatedVideo {
  const output = path.join(options.outDir, `${input.name}.annotated.mp4`);
  const step = fileSampleStep(video.fps);
  return canShareDecode(video, step)
    ? AnnotatedVideo.sharingDecode(output, video, step)
    : new AnnotatedVideo(['-i', parseSource(input.input).input], output, video);
}

/** Reads the input to its end (or its stop: Ctrl-C ends every input where it is), publishing its frames. */
async function readInput(
  input: RunInput,
  pipeline: Pipeline,
  options: RunOptions,
  drainOver: AbortSignal,
  video: VideoInfo | undefined,
  rawFrames: RawFramesCopy | undefined,
): Promise<StreamOutcome> {
  // Watched live (--serve), a file is read only a few frames ahead of the sink, so each picture the
  // view gets has its boxes soon after; unwatched, ingest runs ahead as far as the bus lets it.
  const paced = options.attach !== undefined && !input.live;
  let published = 0;
  const ahead = () => published - (pipeline.readers.progress.get(input.name)?.frames ?? 0) >= PACED_FRAMES_AHEAD;
  const publish = async (frame: FrameMessage) => {
    // Bounded: a frame that never reaches the sink (dead-lettered) must not stall the input.
    if (paced) await waitUntil(() => !ahead(), 5_000);
    published += 1;
    // The bus holds back a producer while the stages are behind: after Ctrl-C nothing waits for
    // room past the drain (the end marker included), or stopping would take as long as the backlog.
    await unlessAborted(pipeline.publish(input.name, frame), drainOver);
  };
  const runner = pipeline.readInput(
    // A stop (Ctrl-C) ends the stream: downstream closes its tracks and the reports cover what was read.
    // HTTP inputs are usually files on a server: their end is the end, not a reason to reconnect.
    {
      streamId: input.name,
      url: input.input,
      sampleFps: options.liveFps ?? 0,
      maxWidth: options.maxWidth ?? 0,
      endOnStop: true,
      reconnect: input.kind !== 'http',
    },
    // The input's summary names the failure that ended it: not logged as well.
    { publish, ...(video ? { probed: video } : {}), ...(rawFrames ? { rawFrames } : {}) },
  );
  const stop = () => void runner.stop();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const outcome = await runner.done;
  options.signal?.removeEventListener('abort', stop);
  return outcome;
}

/**
 * The reports, the summary and the events cover the same frames. Drained, that is all of them; cut
 * short, the sink may have handed on a frame or two whose events are not read back yet: a moment for
 * them, then each report is cut to the frames whose events are all there.
 */
async function cutToProcessed(pipeline: Pipeline, streamId: string): Promise<ReportCut> {
  const { readers } = pipeline;
  const sinkFrames = new Map(readers.progress.get(streamId)?.facesBySeq ?? []);
  await waitUntil(() => eventsCaughtUp(sinkFrames, readers.events.get(streamId) ?? []), 2_000);
  return cutReports(sinkFrames, [...(readers.events.get(streamId) ?? [])], Date.now());
}

/**
 * Waits until the sink has committed the input that ends `streamId` (so its events are on the events
 * topic) and the events and embeddings readers have read everything there is — or until the drain
 * after Ctrl-C is over (the reports then cover what was processed by then). True when all of it was written.
 */
async function untilEventsWritten(pipeline: Pipeline, streamId: string, drainOver: AbortSignal): Promise<boolean> {
  const { bus, prefix, readers } = pipeline;
  const emotions = topicName(topics.emotions, prefix);
  const readersDone = async (group: string, topic: string) => {
    const read = await bus.committedOffsets(group, topic);
    const written = await bus.endOffsets(topic);
    return written.every(
      (w) => Number(w.offset) === 0 || Number(read.find((r) => r.partition === w.partition)?.offset ?? 0) >= Number(w.offset),
    );
  };
  while (!drainOver.aborted) {
    const end = readers.streamEnds.get(streamId);
    if (end) {
      const committed = (await bus.committedOffsets(pipeline.sinkGroup, emotions)).find((c) => c.partition === end.partition);
      if (
        committed &&
        Number(committed.offset) > Number(end.offset) &&
        (await readersDone(readers.eventsGroup, topicName(topics.events, prefix))) &&
        (await readersDone(readers.embeddingsGroup, topicName(topics.embeddings, prefix)))
      ) {
        return true;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
