/**
 * `npm run bench:backbone` — the backbone stage against the model's own limit, on CPU or CUDA.
 *
 * Side by side in one run, on the synthetic EMO-AffectNet ResNet50 (the real compute cost):
 * - **bare**: a loop of onnxruntime `session.run` calls on a pre-made batch of BACKBONE_MAX_BATCH faces;
 * - **stage**: the real backbone stage (`backboneStage`, the service defaults from its own config schema)
 *   run by the real StageRunner on the in-memory bus, fed frames of face crops (raw RGB, and JPEG as the
 *   face stage sends by default), timed from the first input sent to the last embedding read. The
 *   model loaded as the service loads it (in its own thread; the crops prepared inside the graph on
 *   CUDA, by writeTensor on the main thread on CPU), and for comparison with the crops prepared the
 *   other way, and with the model on the main thread.
 * - **the stage's own ceiling**: the same stage with a model that answers at once (it only copies the
 *   crops into a batch, as the real one does): the faces/s its decoding, batching and bookkeeping allow
 *   on this machine, whatever the device. On a GPU node this, not the GPU, is what bounds the stage.
 * The ratio stage / bare is what the stage's batching, decoding and bookkeeping cost.
 *
 *   BENCH_DEVICE=cpu|cuda (default cpu)   BENCH_FACES (default 256 on CPU, 4096 on CUDA)   BENCH_ROUNDS (default 3)
 *
 * Writes bench/results/backbone-<device>.json and, on CPU, the README table. On CUDA it fails loudly
 * when the CUDA provider cannot be loaded instead of measuring the CPU fallback. scripts/gpu-check.sh
 * runs it on a GPU node.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import {
  CropEncoding,
  encodeMessage,
  InMemoryBus,
  makeMessage,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type ConsumedRecord,
} from '@emostream/shared';
import { loadPack } from '@emostream/vision';
import { buildSyntheticPack } from '@emostream/models';
import { backboneConfigSchema, backboneStage, backboneTakesBytesOn, packBackbone, type BackboneModel } from '@emostream/backbone';
import { machine, resultsPath, updateReadme } from './report.js';

const device = (process.env.BENCH_DEVICE ?? 'cpu') as 'cpu' | 'cuda';
if (device !== 'cpu' && device !== 'cuda') throw new Error(`BENCH_DEVICE must be cpu or cuda, not ${String(device)}`);
const FACES = Number(process.env.BENCH_FACES ?? (device === 'cuda' ? 4096 : 256));
const FACES_PER_FRAME = 4;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PACK_DIR = path.resolve(process.env.BENCH_SYNTHETIC_PACK ?? '.cache/bench/synthetic');

/** The backbone service's defaults, from its own schema: what `emo serve backbone` runs with. */
const defaults = backboneConfigSchema.parse({ runtime: { bus: 'memory' } }).backbone;

/** A deterministic 224×224 RGB crop; every face differs so nothing can be cached. */
function crop(seed: number): Uint8Array {
  const data = new Uint8Array(224 * 224 * 3);
  for (let i = 0; i < data.length; i += 1) data[i] = (i * 31 + seed * 97) % 251;
  return data;
}

async function bareFacesPerSecond(file: string): Promise<number> {
  const session = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all', executionProviders: [device] });
  const batch = defaults.maxBatch;
  const dims = [batch, 224, 224, 3];
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => (i % 255) - 128);
  const tensor = new ort.Tensor('float32', data, dims);
  const input = session.inputNames[0]!;
  for (let i = 0; i < 3; i += 1) await session.run({ [input]: tensor }); // warm-up: allocations, cuDNN autotuning
  const calls = Math.ceil(FACES / batch);
  const started = performance.now();
  for (let i = 0; i < calls; i += 1) await session.run({ [input]: tensor });
  const seconds = (performance.now() - started) / 1000;
  await session.release();
  return (calls * batch) / seconds;
}

interface Variant {
  encoding: CropEncoding;
  /** The model in its own thread (default) or on the main thread; 'none': a model that answers at once. */
  model: 'thread' | 'main' | 'none';
  /** Crops prepared inside the graph (as the backbone service loads the model) or by writeTensor. */
  bytesIn: boolean;
}

/** Answers at once with zeros, after copying the crops into a batch as the real model does. */
function instantModel(): BackboneModel {
  return {
    inputSize: { width: 224, height: 224 },
    embed(crops) {
      const batch = new Uint8Array(crops.length * 224 * 224 * 3);
      crops.forEach((c, i) => batch.set(c.data, i * c.data.length));
      return Promise.resolve(crops.map(() => ({ features: new Float32Array(512), probs: new Float32Array(7) })));
    },
  };
}

async function stageFacesPerSecond({ encoding, model, bytesIn }: Variant): Promise<number> {
  const pack = await loadPack(PACK_DIR, {
    roles: model === 'none' ? [] : ['backbone'],
    backboneTakesBytes: bytesIn,
    session: { executionProvider: device, warmUp: true, inferenceThread: model === 'thread' },
  });
  if (model !== 'none' && pack.sessions.backbone!.executionProvider !== device) {
    throw new Error(
      `the backbone session runs on ${pack.sessions.backbone!.executionProvider}, not ${device}: the CUDA provider did not load`,
    );
  }
  // Without a model a run takes a fraction of a second: 8 times the faces, for a steadier figure.
  const frames = Math.ceil((model === 'none' ? 8 * FACES : FACES) / FACES_PER_FRAME);
  const crops = await Promise.all(
    Array.from({ length: 16 }, async (_, i) =>
      encoding === CropEncoding.JPEG
        ? await sharp(Buffer.from(crop(i)), { raw: { width: 224, height: 224, channels: 3 } })
            .jpeg({ quality: 90 })
            .toBuffer()
        : crop(i),
    ),
  );
  const prefix = `bench-backbone-${Date.now()}`;
  const bus = new InMemoryBus();
  const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: prefix });
  const stage = backboneStage({
    model: model === 'none' ? instantModel() : packBackbone(pack),
    maxBatch: defaults.maxBatch,
    maxWaitMs: defaults.maxWaitMs,
    maxFrameAgeMs: 0,
    concurrentPartitions: defaults.concurrentPartitions,
  });
  const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
  await runner.start();
  const embeddings = topicName(topics.embeddings, prefix);
  const seen: ConsumedRecord[] = [];
  const reader = await bus.consumer({ groupId: 'bench-reader', topics: [embeddings], fromBeginning: true });
  await reader.run({
    eachBatch: (batch) => {
      seen.push(...batch.records);
      return Promise.resolve();
    },
  });
  const producer = await bus.producer();
  const records = Array.from({ length: frames }, (_, f) => {
    const streamId = `camera-${f % 8}`; // 8 cameras: micro-batches span partitions, as in production
    const faces = Array.from({ length: FACES_PER_FRAME }, (_, k) => ({
      trackId: k + 1,
      box: { x: 0, y: 0, width: 90, height: 90 },
      score: 0.9,
      encoding,
      cropWidth: 224,
      cropHeight: 224,
      crop: crops[(f * FACES_PER_FRAME + k) % crops.length]!,
    }));
    const value = encodeMessage(
      topics.faces,
      makeMessage(topics.faces, { ref: { streamId, seq: f + 1, capturedAtMs: Date.now() }, faces }),
    );
    return { topic: topicName(topics.faces, prefix), key: streamId, value };
  });
  const started = performance.now();
  // The in-memory bus applies backpressure per partition; send in slices so the producer never waits on a full queue forever.
  for (let i = 0; i < records.length; i += 64) await producer.send(records.slice(i, i + 64));
  while (seen.length < frames) await new Promise((resolve) => setTimeout(resolve, 2));
  const seconds = (performance.now() - started) / 1000;
  await runner.stop();
  await bus.close();
  await pack.sessions.backbone?.release();
  return (frames * FACES_PER_FRAME) / seconds;
}

if (!existsSync(path.join(PACK_DIR, 'manifest.json'))) await buildSyntheticPack(PACK_DIR);
const file = path.join(PACK_DIR, 'backbone.onnx');
const bareFile = existsSync(file) ? file : (await loadPack(PACK_DIR, { roles: [] })).files.backbone!;
const [RAW, JPEG] = [
  [CropEncoding.RGB8, 'raw RGB'],
  [CropEncoding.JPEG, 'JPEG (face stage default)'],
] as const;
// The service's way (model in its own thread; crops prepared inside it on CUDA, by writeTensor on
// CPU: see the backbone's main.ts) on both crop encodings; then one thing changed at a time; then the
// stage without a model.
const serviceBytes = backboneTakesBytesOn(device);
const prepared = (bytesIn: boolean) => (bytesIn ? 'crops prepared in the graph' : 'crops prepared by writeTensor');
const variants = [
  {
    at: RAW,
    model: 'thread',
    bytesIn: serviceBytes,
    path: `backbone stage as the service runs it (model in its own thread, ${prepared(serviceBytes)})`,
  },
  {
    at: JPEG,
    model: 'thread',
    bytesIn: serviceBytes,
    path: `backbone stage as the service runs it (model in its own thread, ${prepared(serviceBytes)})`,
  },
  { at: RAW, model: 'thread', bytesIn: !serviceBytes, path: `backbone stage, ${prepared(!serviceBytes)} instead` },
  { at: RAW, model: 'main', bytesIn: serviceBytes, path: 'backbone stage, model on the main thread' },
  { at: RAW, model: 'none', bytesIn: true, path: "the stage's own ceiling (a model that answers at once)" },
  { at: JPEG, model: 'none', bytesIn: true, path: "the stage's own ceiling (a model that answers at once)" },
].map(({ at: [encoding, crops], ...rest }) => ({ ...rest, encoding, crops }) as Variant & { crops: string; path: string });
/**
 * Rounds of the bare loop and every variant, one after another; each variant's ratio is taken to the
 * bare loop of its own round, and the median over rounds is reported: on shared cores a single run
 * drifts by ±10 %, which is as much as the stage's own cost.
 */
const rounds: { bare: number; stages: number[] }[] = [];
for (let round = 1; round <= ROUNDS; round += 1) {
  const bare = await bareFacesPerSecond(bareFile);
  const stages: number[] = [];
  for (const v of variants) stages.push(await stageFacesPerSecond(v));
  rounds.push({ bare, stages });
  console.log(`round ${round}/${ROUNDS}: bare ${bare.toFixed(1)} faces/s; × bare ${stages.map((f) => (f / bare).toFixed(2)).join(' ')}`);
}
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const rows = [
  { path: 'bare session.run loop', crops: '–', facesPerSecond: median(rounds.map((r) => r.bare)), ratio: 1 },
  ...variants.map((v, i) => ({
    path: v.path,
    crops: v.crops,
    facesPerSecond: median(rounds.map((r) => r.stages[i]!)),
    ratio: median(rounds.map((r) => r.stages[i]! / r.bare)),
  })),
];
for (const r of rows)
  console.log(
    `${device} ${r.path.padEnd(54)} ${r.crops.padEnd(26)} ${r.facesPerSecond.toFixed(1).padStart(8)} faces/s  × bare ${r.ratio.toFixed(2)}`,
  );

const report = {
  benchmark: 'backbone',
  date: new Date().toISOString(),
  machine: machine(),
  device,
  faces: FACES,
  rounds: rounds.map((r) => ({ bare: r.bare, stages: r.stages })),
  maxBatch: defaults.maxBatch,
  maxWaitMs: defaults.maxWaitMs,
  concurrentPartitions: defaults.concurrentPartitions,
  rows,
};
writeFileSync(resultsPath(`backbone-${device}.json`), `${JSON.stringify(report, null, 2)}\n`);
if (device === 'cpu') {
  updateReadme(
    'backbone',
    [
      `Synthetic EMO-AffectNet ResNet50 on CPU, ${FACES} faces a run, medians of ${ROUNDS} rounds (each ratio to the bare loop of its own round), batch ${defaults.maxBatch}, wait ${defaults.maxWaitMs} ms, ${defaults.concurrentPartitions} partitions at once; ${report.machine}; ${report.date.slice(0, 10)}.`,
      '',
      '| path | crops | faces/s | × bare |',
      '|---|---|---:|---:|',
      ...rows.map((r) => `| ${r.path} | ${r.crops} | ${r.facesPerSecond.toFixed(1)} | ${r.ratio.toFixed(2)} |`),
    ].join('\n'),
  );
}
console.log(`wrote ${resultsPath(`backbone-${device}.json`)}`);
