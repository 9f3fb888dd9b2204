/**
 * `npm run bench:pipeline` — the five stages as separate processes on the real broker (at-least-once),
 * N concurrent file streams (CREMA-D clips from ../shared/data), on the default pack and on the
 * synthetic EMO-AffectNet pack (ResNet50 + LSTM, with the default pack's detectors). Reports sampled
 * frames/s end to end, faces/s through the backbone, capture-to-event latency percentiles, and the
 * backbone's share of the pipeline's CPU time (how close the pipeline runs to the model's own cost).
 * Writes bench/results/pipeline.json and the README table.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventsTopic, topicName, type EmotionEvent } from '@emostream/shared';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { sharedDataDir } from '@emostream/shared/testing';
import { buildSyntheticPack } from '@emostream/models';
import { localKafkaBus, machine, percentile, resultsPath, updateReadme } from './report.js';
import { emo, startServices, type StageName } from './services.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const media = path.join(sharedDataDir(), 'labelled');
const STREAM_COUNTS = (process.env.BENCH_STREAMS ?? '1,2,4,8').split(',').map(Number);
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run this with `npm run bench:pipeline` (it starts a Kafka broker)');
if (!existsSync(media)) throw new Error(`test media missing: ${media}`);
const clips = readdirSync(media)
  .filter((f) => f.endsWith('.flv'))
  .sort()
  .map((f) => path.join(media, f));

async function runOnce(label: string, packEnv: Record<string, string>, streams: number) {
  const prefix = `bench-${Date.now()}`;
  const env = {
    KAFKA_BROKERS: brokers!,
    EMOSTREAM_TOPIC_PREFIX: prefix,
    EMOSTREAM_OPS_PORT: '0',
    EMOSTREAM_OPS_HOST: '127.0.0.1',
    INGEST_MEDIA_ROOTS: media,
    EMOSTREAM_SESSION_TIMEOUT_MS: '10000',
    EMOSTREAM_MAX_BATCH_SIZE: '8',
    ...packEnv,
  };
  const bus = localKafkaBus(brokers!, 'bench-pipeline');
  const services = await startServices(env);
  try {
    const topic = topicName(eventsTopic, prefix);
    await bus.createTopics([{ name: topic, partitions: eventsTopic.defaultPartitions }]);
    const events: { event: EmotionEvent; at: number }[] = [];
    const reader = await bus.consumer({ groupId: `${prefix}.reader`, topics: [topic], fromBeginning: true, sessionTimeoutMs: 6_000 });
    await reader.run({
      eachBatch: (b) => {
        events.push(...b.records.map((r) => ({ event: JSON.parse(Buffer.from(r.value!).toString()) as EmotionEvent, at: Date.now() })));
        return Promise.resolve();
      },
    });

    const cpuBefore = new Map<StageName, number>();
    for (const name of services.ports.keys()) cpuBefore.set(name, await services.metric(name, 'process_cpu_seconds_total'));
    const started = Date.now();
    for (let i = 0; i < streams; i += 1) {
      const added = spawnSync(process.execPath, [emo, 'streams', 'add', `cam-${i}`, clips[i % clips.length]!], {
        env: { ...process.env, ...env, EMOSTREAM_LOG_LEVEL: 'error' },
        encoding: 'utf8',
      });
      if (added.status !== 0) throw new Error(added.stderr);
    }
    const deadline = Date.now() + 600_000;
    while (events.filter((e) => e.event.schema === 'emostream.event.track_summary.v2').length < streams) {
      if (Date.now() > deadline) throw new Error(`${label}: not all streams finished within 10 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (Math.max(...events.map((e) => e.at)) - started) / 1000;
    const cpu = new Map<StageName, number>();
    for (const name of services.ports.keys())
      cpu.set(name, (await services.metric(name, 'process_cpu_seconds_total')) - cpuBefore.get(name)!);
    const frames = await services.metric('ingest', 'emostream_ingest_frames_total');
    const faces = await services.metric('backbone', 'emostream_backbone_faces_total');
    const latencies = events
      .map((e) => e.event)
      .filter((e) => e.schema === 'emostream.event.face.v2')
      .map((e) => ('capturedAtMs' in e ? e.emittedAtMs - e.capturedAtMs : 0))
      .sort((a, b) => a - b);
    await reader.close();
    const totalCpu = [...cpu.values()].reduce((a, b) => a + b, 0);
    return {
      pack: label,
      streams,
      sampledFrames: frames,
      seconds,
      framesPerSecond: frames / seconds,
      facesPerSecond: faces / seconds,
      latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
      cpuSeconds: Object.fromEntries(cpu),
      backboneCpuShare: cpu.get('backbone')! / totalCpu,
    };
  } finally {
    await services.stop();
    await bus.close();
  }
}

const syntheticDir = path.resolve(root, '.cache/bench/synthetic');
if (!existsSync(path.join(syntheticDir, 'manifest.json'))) await buildSyntheticPack(syntheticDir);
if (!existsSync(path.join(DEFAULT_MODELS_DIR, 'default', 'manifest.json')))
  throw new Error('the default pack is missing: run `npm run models` first');
const packs: [string, Record<string, string>][] = [
  ['default', { EMOSTREAM_PACK: 'default' }],
  ['synthetic EMO-AffectNet', { EMOSTREAM_PACK: syntheticDir, FACE_DETECTOR_PACK: 'default' }],
];
const rows = [];
for (const [label, env] of packs) {
  for (const streams of STREAM_COUNTS) {
    const row = await runOnce(label, env, streams);
    rows.push(row);
    console.log(
      `${label.padEnd(24)} ${streams} stream(s): ${row.framesPerSecond.toFixed(1)} frames/s, ${row.facesPerSecond.toFixed(1)} faces/s, latency p50 ${row.latencyMs.p50} ms p95 ${row.latencyMs.p95} ms p99 ${row.latencyMs.p99} ms, backbone ${(row.backboneCpuShare * 100).toFixed(0)}% of CPU`,
    );
  }
}
const report = { benchmark: 'pipeline', date: new Date().toISOString(), machine: machine(), delivery: 'at-least-once', rows };
writeFileSync(resultsPath('pipeline.json'), `${JSON.stringify(report, null, 2)}\n`);
updateReadme(
  'pipeline',
  [
    `Five stage processes and a single-node broker on one machine (${report.machine}), at-least-once, CREMA-D clips as file streams (ingested as fast as they decode); ${report.date.slice(0, 10)}. Latency: capture (frame read) to face event.`,
    '',
    '| pack | streams | sampled frames/s | faces/s (backbone) | latency p50 / p95 / p99 ms | backbone share of CPU |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.pack} | ${r.streams} | ${r.framesPerSecond.toFixed(1)} | ${r.facesPerSecond.toFixed(1)} | ${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.p99} | ${(r.backboneCpuShare * 100).toFixed(0)}% |`,
    ),
  ].join('\n'),
);
console.log(`wrote ${resultsPath('pipeline.json')} and the README table`);
