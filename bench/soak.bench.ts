/**
 * `npm run bench:soak -- [--minutes 30] [--run-minutes N] [--outage SECONDS] [--fps 1] [--only services|emo-run]`
 *
 * A soak: the pipeline on a looped live source (a real RTSP server on loopback, GStreamer's, serving
 * the six CREMA-D clips looped for the whole run, in real time) for a configurable time, sampled
 * every 30 s. Two phases:
 * - **services**: the five `emo serve` processes on the real broker (exactly-once), the camera added
 *   with `emo streams add`. With `--outage S` the broker is SIGKILLed for S seconds in the middle of
 *   the run; the phase then checks that every stage went unready (/readyz 503) and came back (200)
 *   without any process exiting, and — after the source stops and the pipeline drains — that every
 *   topic (read_committed) holds each frame once and the events topic holds every face of the
 *   emotions topic exactly once;
 * - **emo-run**: `emo run` on the same kind of source, one process, no broker.
 * Per process: RSS (own and children's) and, per phase, the event lag (capture → event at a
 * downstream reader) and, for the services, each stage's uncommitted backlog. Verdicts ("RSS after
 * warm-up grows ≤ 10 %", "lag bounded") are printed and written with the samples to
 * bench/results/soak.json, a chart to bench/results/soak.svg, and a summary to the README.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  decodeMessage,
  eventsTopic,
  KafkaBus,
  SERVICE_NODE_FLAGS,
  topicName,
  topics,
  type BusConsumer,
  type EmotionEvent,
  type Topic,
} from '@emostream/shared';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { brokerControl, cremadSixClip, ffmpeg, freePort, startRtspServer } from '@emostream/shared/testing';
import type { DescMessage } from '@bufbuild/protobuf';
import { localKafkaBus, machine, percentile, resultsPath, updateReadme } from './report.js';
import { lagVerdict, previousPhases, rssVerdict, soakChart, type PhaseWindow, type SoakSample, type Verdict } from './soak-report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const work = path.join(root, '.cache', 'bench', 'soak');
const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;
type Stage = (typeof STAGES)[number];
/** The stages whose input is a topic, and that topic: their backlog is their group's lag on it. */
const STAGE_INPUTS: [Stage, Topic<DescMessage>][] = [
  ['face', topics.frames],
  ['backbone', topics.faces],
  ['temporal', topics.embeddings],
  ['sink', topics.emotions],
];
/** The services' default: unready after this long without an answer from the broker. */
const BUS_UNREACHABLE_MS = 15_000;

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'run-minutes': { type: 'string' },
    outage: { type: 'string', default: '0' },
    fps: { type: 'string', default: '1' },
    interval: { type: 'string', default: '30' },
    only: { type: 'string' },
  },
});
const minutes = positive('--minutes', args.minutes);
const runMinutes = positive('--run-minutes', args['run-minutes'] ?? args.minutes);
const outageS = Number(args.outage);
const fps = positive('--fps', args.fps);
const intervalS = positive('--interval', args.interval);
if (!Number.isFinite(outageS) || outageS < 0) fail(`--outage must be a number of seconds ≥ 0, not ${args.outage}`);
if (args.only !== undefined && args.only !== 'services' && args.only !== 'emo-run') fail(`--only is services or emo-run, not ${args.only}`);
const runServices = args.only !== 'emo-run';
const runEmoRun = args.only !== 'services';
if (runServices && !process.env.KAFKA_BROKERS)
  fail('KAFKA_BROKERS is not set: run this with `npm run bench:soak` (it starts a Kafka broker)');
if (!existsSync(path.join(DEFAULT_MODELS_DIR, 'default', 'manifest.json'))) fail('the default pack is missing: run `npm run models` first');

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) fail(`${name} must be a positive number, not ${value}`);
  return n;
}

function fail(message: string): never {
  console.error(`bench:soak: ${message}`);
  process.exit(2);
}

/** Warm-up: a fifth of the run, between 1 and 5 minutes (models loaded, caches and pools filled). */
function warmupSeconds(durationS: number): number {
  return Math.min(300, Math.max(60, durationS / 5));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// The source: the six CREMA-D clips as one H.264 file, looped long enough for the whole run.

/** A looped clip of at least `seconds`, made once per length (H.264, a key frame every half second for clean RTSP joins). */
function loopedClip(seconds: number): string {
  mkdirSync(work, { recursive: true });
  const six = cremadSixClip(path.join(work, 'cremad-six.mp4'), 15);
  const loops = Math.ceil(seconds / 12) + 1; // the six clips last ~12.7 s
  const looped = path.join(work, `cremad-six-x${loops}.mp4`);
  if (!existsSync(looped)) {
    const temp = `${looped}.${process.pid}.mp4`;
    ffmpeg(['-stream_loop', String(loops - 1), '-i', six, '-c', 'copy', temp]);
    renameSync(temp, looped);
  }
  return looped;
}

// ---------------------------------------------------------------------------------------------
// Memory: /proc, the process's own RSS and its children's (ingest's ffmpeg, emo run's ffmpeg).

function rssMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined; // gone
  }
}

function childrenRssMiB(pid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 4th field, after the command name in parentheses (which may hold spaces).
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) total += (rssMiB(Number(entry)) ?? 0) + childrenRssMiB(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/** Event lag over one sampling window: what arrived since the previous sample. */
class LagWindow {
  private lags: number[] = [];
  add(capturedAtMs: number, receivedAtMs: number): void {
    this.lags.push(receivedAtMs - capturedAtMs);
  }
  take(): SoakSample['eventLag'] {
    const lags = this.lags;
    this.lags = [];
    return { count: lags.length, p50Ms: lags.length ? percentile(lags, 50) : null, maxMs: lags.length ? Math.max(...lags) : null };
  }
}

function describeSample(phase: string, totalS: number, s: SoakSample): string {
  const rss = Object.entries(s.rssMiB)
    .map(([name, v]) => `${name} ${v.toFixed(0)}`)
    .join(', ');
  const lag = s.eventLag.p50Ms === null ? 'no events' : `${(s.eventLag.p50Ms / 1000).toFixed(1)} s p50 (${s.eventLag.count} events)`;
  const backlog = Object.entries(s.backlog)
    .map(([name, v]) => `${name} ${v ?? '?'}`)
    .join(', ');
  const heap = Object.entries(s.heapUsedMiB)
    .map(([name, v]) => `${name} ${v.toFixed(0)}`)
    .join(', ');
  return `[${phase} ${(s.t / 60).toFixed(1)}/${(totalS / 60).toFixed(0)} min] RSS MiB: ${rss}${heap ? ` (JS heap ${heap})` : ''}; event lag ${lag}${backlog ? `; backlog ${backlog}` : ''}`;
}

/** One gauge of a process's /metrics (prom-client's default process metrics), or undefined. */
async function gauge(port: number, name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) })).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  } catch {
    return undefined;
  }
}

async function readyz(port: number): Promise<number | 'refused'> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return 'refused';
  }
}

/** `work` or null after `ms` (the broker away): a sample must not wait for kafkajs's retries. */
async function orNull<T>(work: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([work.catch(() => null), sleep(ms).then(() => null)]);
}

interface PhaseResult {
  durationS: number;
  window: PhaseWindow;
  samples: SoakSample[];
  verdicts: Verdict[];
  /** Fault and delivery checks (services: outage readiness, no exit, exactly once). */
  checks: Verdict[];
  totals: Record<string, number>;
}

// ---------------------------------------------------------------------------------------------
// Phase 1: the five services on the broker.

async function servicesPhase(durationS: number): Promise<PhaseResult> {
  const brokers = process.env.KAFKA_BROKERS!;
  const warmupEndS = warmupSeconds(durationS);
  const outage = outageS > 0 ? { startS: Math.max(warmupEndS + 3 * intervalS, durationS / 2 - outageS / 2), endS: 0 } : undefined;
  if (outage) {
    outage.endS = outage.startS + outageS;
    if (outage.endS + 3 * intervalS > durationS)
      fail(
        `--outage ${outageS} does not fit in ${durationS / 60} min after the warm-up (${warmupEndS} s) with time to recover: run longer`,
      );
  }
  const window: PhaseWindow = { warmupEndS, ...(outage ? { outage } : {}) };
  const clip = loopedClip(durationS + 120);
  const rtspPort = await freePort();
  const rtsp = await startRtspServer(rtspPort, clip);
  const prefix = `soak-${Date.now()}`;
  const logDir = mkdtempSync(path.join(tmpdir(), 'emostream-soak-'));
  const env = {
    KAFKA_BROKERS: brokers,
    EMOSTREAM_TOPIC_PREFIX: prefix,
    EMOSTREAM_DELIVERY: 'exactly-once',
    EMOSTREAM_OPS_HOST: '127.0.0.1',
    EMOSTREAM_PACK: 'default',
    EMOSTREAM_INTRA_OP_THREADS: '1',
    EMOSTREAM_LOG_LEVEL: 'warn',
    EMOSTREAM_SESSION_TIMEOUT_MS: '10000',
    INGEST_ALLOW_HOSTS: `127.0.0.1:${rtspPort}`,
  };
  const ports = new Map<Stage, number>();
  const children = new Map<Stage, ChildProcess>();
  const unexpectedExits: string[] = [];
  let stopping = false;
  for (const stage of STAGES) {
    const port = await freePort();
    ports.set(stage, port);
    // As the images start it (SERVICE_NODE_FLAGS): the soak measures the memory of what runs in production.
    const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, emo, 'serve', stage], {
      cwd: root,
      env: { ...process.env, ...env, EMOSTREAM_OPS_PORT: String(port), EMOSTREAM_INSTANCE_ID: `${stage}-0` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = createWriteStream(path.join(logDir, `${stage}.log`));
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    child.once('exit', (code, signal) => {
      if (!stopping)
        unexpectedExits.push(`${stage} exited by itself (code ${code}, signal ${signal}); log: ${path.join(logDir, `${stage}.log`)}`);
    });
    children.set(stage, child);
  }
  console.log(`services: logs in ${logDir}`);
  const bus = localKafkaBus(brokers, 'bench-soak');
  const readiness: { t: number; stage: Stage; status: number | 'refused' }[] = [];
  let poller: NodeJS.Timeout | undefined;
  // Reset once the camera is added: the phase's clock starts with the stream.
  let startedAt = Date.now();
  const now = () => (Date.now() - startedAt) / 1000;
  try {
    const deadline = Date.now() + 300_000;
    while (!(await Promise.all(STAGES.map((s) => readyz(ports.get(s)!)))).every((s) => s === 200)) {
      if (unexpectedExits.length > 0) throw new Error(unexpectedExits.join('\n'));
      if (Date.now() > deadline) throw new Error('the stages were not all ready within 5 minutes');
      await sleep(500);
    }
    poller = setInterval(() => {
      const t = now();
      for (const stage of STAGES) void readyz(ports.get(stage)!).then((status) => readiness.push({ t, stage, status }));
    }, 1_000);

    const eventsName = topicName(eventsTopic, prefix);
    await bus.createTopics([{ name: eventsName, partitions: eventsTopic.defaultPartitions }]);
    const lag = new LagWindow();
    const seen = new Set<string>();
    const reader = await bus.consumer({ groupId: `${prefix}.soak-reader`, topics: [eventsName], fromBeginning: true, readCommitted: true });
    await reader.run({
      eachBatch: async (batch) => {
        const at = Date.now();
        for (const r of batch.records) {
          // Redelivered after the outage (the reader's own commit may have been cut): count each record once.
          if (seen.has(`${r.partition}:${r.offset}`)) continue;
          seen.add(`${r.partition}:${r.offset}`);
          const event = JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent;
          if (event.schema === 'emostream.event.face.v2') lag.add(event.capturedAtMs, at);
        }
        const last = batch.records.at(-1);
        if (last) await reader.commit([{ topic: batch.topic, partition: batch.partition, offset: String(BigInt(last.offset) + 1n) }]);
      },
    });

    const added = spawnSync(
      process.execPath,
      [emo, 'streams', 'add', 'soak-cam', `rtsp://127.0.0.1:${rtspPort}/live`, '--fps', String(fps)],
      {
        cwd: root,
        env: { ...process.env, ...env, EMOSTREAM_LOG_LEVEL: 'error' },
        encoding: 'utf8',
      },
    );
    if (added.status !== 0) throw new Error(`emo streams add failed: ${added.stderr}`);
    startedAt = Date.now();

    const outageDone = outage ? cutBroker(outage, startedAt) : Promise.resolve();
    const samples: SoakSample[] = [];
    const backlog = async (): Promise<Record<string, number | null>> => {
      const entries = await Promise.all(
        STAGE_INPUTS.map(async ([stage, topic]) => {
          const name = topicName(topic, prefix);
          const [ends, committed] = await Promise.all([
            orNull(bus.endOffsets(name), 5_000),
            orNull(bus.committedOffsets(`${prefix}.${stage}`, name), 5_000),
          ]);
          if (!ends || !committed) return [stage, null] as const;
          const behind = ends.reduce((sum, end) => {
            const at = committed.find((c) => c.partition === end.partition);
            return sum + Math.max(0, Number(end.offset) - Number(at && Number(at.offset) >= 0 ? at.offset : 0));
          }, 0);
          return [stage, behind] as const;
        }),
      );
      return Object.fromEntries(entries);
    };
    /** One prom-client gauge of every stage, MiB (stages that did not answer are left out). */
    const gaugeMiB = async (name: string): Promise<Record<string, number>> =>
      Object.fromEntries(
        (await Promise.all(STAGES.map(async (s) => [s, await gauge(ports.get(s)!, name)] as const)))
          .filter(([, bytes]) => bytes !== undefined)
          .map(([s, bytes]) => [s, bytes! / 2 ** 20]),
      );
    for (let next = intervalS; next <= durationS + 0.001; next += intervalS) {
      await sleep(Math.max(0, startedAt + next * 1000 - Date.now()));
      const sample: SoakSample = {
        t: Math.round(now()),
        rssMiB: Object.fromEntries(STAGES.map((s) => [s, rssMiB(children.get(s)!.pid!) ?? NaN])),
        childrenRssMiB: Object.fromEntries(STAGES.map((s) => [s, childrenRssMiB(children.get(s)!.pid!)])),
        heapUsedMiB: await gaugeMiB('nodejs_heap_size_used_bytes'),
        heapTotalMiB: await gaugeMiB('nodejs_heap_size_total_bytes'),
        externalMiB: await gaugeMiB('nodejs_external_memory_bytes'),
        eventLag: lag.take(),
        backlog: await backlog(),
        ready: Object.fromEntries(await Promise.all(STAGES.map(async (s) => [s, await readyz(ports.get(s)!)] as const))),
      };
      samples.push(sample);
      console.log(describeSample('services', durationS, sample));
    }
    await outageDone;
    const checks: Verdict[] = [];
    const readyAtEnd = samples.at(-1)!.ready;
    checks.push({
      process: 'all',
      check: 'no process exited by itself',
      pass: unexpectedExits.length === 0,
      detail:
        unexpectedExits.length === 0 ? `${STAGES.length} processes ran ${(durationS / 60).toFixed(0)} min` : unexpectedExits.join('; '),
    });
    for (const stage of STAGES) {
      if (outage) {
        const during = readiness.filter(
          (r) => r.stage === stage && r.t >= outage.startS + BUS_UNREACHABLE_MS / 1000 + 5 && r.t <= outage.endS,
        );
        checks.push({
          process: stage,
          check: '/readyz 503 while the broker was down',
          pass: during.length > 0 && during.every((r) => r.status === 503),
          detail: `${during.length} polls from ${BUS_UNREACHABLE_MS / 1000 + 5} s into the outage: ${[...new Set(during.map((r) => r.status))].join(', ')}`,
        });
      }
      checks.push({ process: stage, check: '/readyz 200 at the end', pass: readyAtEnd[stage] === 200, detail: String(readyAtEnd[stage]) });
    }

    // Drain: the camera stops; the pipeline finishes what it has (nothing committed stays unhandled).
    rtsp.kill('SIGKILL');
    console.log('services: source stopped; waiting for the pipeline to drain');
    let quietSince = Date.now();
    let lastSeen = seen.size;
    const drainDeadline = Date.now() + 600_000;
    for (;;) {
      await sleep(2_000);
      if (seen.size !== lastSeen) {
        lastSeen = seen.size;
        quietSince = Date.now();
      }
      const behind = await backlog();
      // Exactly-once leaves one transaction marker per partition after the last committed offset.
      const drained = Object.values(behind).every((v) => v !== null && v <= 6);
      if (drained && Date.now() - quietSince > 20_000) break;
      if (Date.now() > drainDeadline) throw new Error(`the pipeline did not drain within 10 minutes: backlog ${JSON.stringify(behind)}`);
    }
    checks.push(...(await exactlyOnceChecks(bus, prefix)));
    await reader.close();
    const totals = { faceEvents: seen.size, drainSeconds: Math.round((Date.now() - startedAt) / 1000 - durationS) };
    const verdicts: Verdict[] = [
      ...STAGES.map((s) => rssVerdict(s, samples, window)),
      lagVerdict('pipeline', 'event lag bounded', samples, window, (s) => s.eventLag.p50Ms, 10_000, 'ms'),
      ...STAGE_INPUTS.map(([stage]) =>
        lagVerdict(stage, 'backlog bounded', samples, window, (s) => s.backlog[stage] ?? null, 30, 'records'),
      ),
    ];
    return { durationS, window, samples, verdicts, checks, totals };
  } finally {
    clearInterval(poller);
    stopping = true;
    rtsp.kill('SIGKILL');
    for (const child of children.values()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await orNull(bus.close(), 15_000);
  }
}

/** Takes the broker away (SIGKILL) at the outage's start and brings it back at its end (the end is when the restart begins). */
async function cutBroker(outage: { startS: number; endS: number }, startedAt: number): Promise<void> {
  const broker = brokerControl();
  await sleep(startedAt + outage.startS * 1000 - Date.now());
  console.log(`services: broker SIGKILLed for ${outageS} s`);
  await broker.kill('SIGKILL');
  outage.startS = Math.round((Date.now() - startedAt) / 1000);
  await sleep(outageS * 1000);
  outage.endS = Math.round((Date.now() - startedAt) / 1000);
  await broker.restart();
  console.log(`services: broker back (restart took ${Math.round((Date.now() - startedAt) / 1000 - outage.endS)} s)`);
}

/** Every record of a topic (read_committed), from the start to its current end. */
async function readAll(bus: KafkaBus, topic: string, group: string, onRecord: (key: string, value: Uint8Array) => void): Promise<void> {
  const reader: BusConsumer = await bus.consumer({ groupId: group, topics: [topic], fromBeginning: true, readCommitted: true });
  await reader.run({
    eachBatch: (batch) => {
      for (const r of batch.records) if (r.value) onRecord(r.key, r.value);
      return Promise.resolve();
    },
  });
  const ends = await bus.endOffsets(topic);
  const deadline = Date.now() + 120_000;
  while (
    !ends.every(
      (e) =>
        e.offset === '0' || BigInt(reader.readPositions().find((p) => p.partition === e.partition)?.offset ?? '-1') >= BigInt(e.offset),
    )
  ) {
    if (Date.now() > deadline) throw new Error(`could not read ${topic} to its end within 2 minutes`);
    await sleep(200);
  }
  await reader.close();
}

/**
 * After the drain, read_committed as downstream reads: each internal topic holds every frame once
 * (the same seqs as the frames topic, none twice), and the events topic holds each face of the
 * emotions topic exactly once — through the outage, nothing lost, nothing repeated.
 */
async function exactlyOnceChecks(bus: KafkaBus, prefix: string): Promise<Verdict[]> {
  const checks: Verdict[] = [];
  const seqsOf = async (topic: Topic<DescMessage>) => {
    const seqs: number[] = [];
    const faces: string[] = [];
    await readAll(bus, topicName(topic, prefix), `${prefix}.check-${topic.base}`, (key, value) => {
      const message = decodeMessage(topic, key, value) as { ref?: { seq: number; endOfStream: boolean }; faces?: { trackId: number }[] };
      if (message.ref!.endOfStream) return;
      seqs.push(message.ref!.seq);
      for (const face of message.faces ?? []) faces.push(`${key}#${message.ref!.seq}#${face.trackId}`);
    });
    return { seqs, faces };
  };
  const duplicates = (list: (string | number)[]) => list.length - new Set(list).size;
  const frames = await seqsOf(topics.frames);
  const frameSet = new Set(frames.seqs);
  checks.push({
    process: 'ingest',
    check: 'each frame committed once',
    pass: frames.seqs.length > 0 && duplicates(frames.seqs) === 0,
    detail: `${frames.seqs.length} frames, ${duplicates(frames.seqs)} repeated`,
  });
  let emotionFaces: string[] = [];
  for (const [stage, topic] of [
    ['face', topics.faces],
    ['backbone', topics.embeddings],
    ['temporal', topics.emotions],
  ] as const) {
    const out = await seqsOf(topic);
    if (stage === 'temporal') emotionFaces = out.faces;
    const missing = [...frameSet].filter((s) => !out.seqs.includes(s));
    checks.push({
      process: stage,
      check: 'one output per frame, none twice',
      pass: missing.length === 0 && duplicates(out.seqs) === 0 && out.seqs.length === frames.seqs.length,
      detail: `${out.seqs.length} outputs for ${frames.seqs.length} frames; ${duplicates(out.seqs)} repeated, ${missing.length} missing${missing.length ? ` (seqs ${missing.slice(0, 10).join(', ')}…)` : ''}`,
    });
  }
  const eventFaces: string[] = [];
  await readAll(bus, topicName(eventsTopic, prefix), `${prefix}.check-events`, (_key, value) => {
    const event = JSON.parse(Buffer.from(value).toString('utf8')) as EmotionEvent;
    if (event.schema === 'emostream.event.face.v2') eventFaces.push(`${event.streamId}#${event.seq}#${event.trackId}`);
  });
  const eventSet = new Set(eventFaces);
  const missing = emotionFaces.filter((k) => !eventSet.has(k));
  const extra = [...eventSet].filter((k) => !emotionFaces.includes(k));
  checks.push({
    process: 'sink',
    check: 'every face event exactly once',
    pass: eventFaces.length > 0 && duplicates(eventFaces) === 0 && missing.length === 0 && extra.length === 0,
    detail: `${eventFaces.length} face events for ${emotionFaces.length} faces on the emotions topic; ${duplicates(eventFaces)} repeated, ${missing.length} missing, ${extra.length} unexpected`,
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Phase 2: emo run, one process, no broker.

async function emoRunPhase(durationS: number): Promise<PhaseResult> {
  const window: PhaseWindow = { warmupEndS: warmupSeconds(durationS) };
  const clip = loopedClip(durationS + 120);
  const rtspPort = await freePort();
  const rtsp = await startRtspServer(rtspPort, clip);
  const out = mkdtempSync(path.join(tmpdir(), 'emostream-soak-run-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(root, 'bench', 'soak-emo-run.ts'),
      '--out',
      out,
      '--fps',
      String(fps),
      `rtsp://127.0.0.1:${rtspPort}/live`,
    ],
    { cwd: root, env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lag = new LagWindow();
  let faceEvents = 0;
  let summaries: { state: string; faces: number; sampledFrames: number }[] | undefined;
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    stderr.push(line);
    stderr.splice(0, Math.max(0, stderr.length - 30));
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('{"soak')) return; // anything else a library printed
    const message = JSON.parse(line) as { soakEvent?: { capturedAtMs: number; receivedAtMs: number }; soakSummaries?: typeof summaries };
    if (message.soakEvent) {
      faceEvents += 1;
      lag.add(message.soakEvent.capturedAtMs, message.soakEvent.receivedAtMs);
    }
    if (message.soakSummaries) summaries = message.soakSummaries;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stoppedByUs = false;
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = !stoppedByUs));
  const startedAt = Date.now();
  try {
    const samples: SoakSample[] = [];
    for (let next = intervalS; next <= durationS + 0.001; next += intervalS) {
      await sleep(Math.max(0, startedAt + next * 1000 - Date.now()));
      if (exitedEarly) throw new Error(`emo run exited by itself:\n${stderr.join('\n')}`);
      const sample: SoakSample = {
        t: Math.round((Date.now() - startedAt) / 1000),
        rssMiB: { 'emo run': rssMiB(child.pid!) ?? NaN },
        childrenRssMiB: { 'emo run': childrenRssMiB(child.pid!) },
        heapUsedMiB: {},
        eventLag: lag.take(),
        backlog: {},
        ready: {},
      };
      samples.push(sample);
      console.log(describeSample('emo run', durationS, sample));
    }
    stoppedByUs = true;
    child.kill('SIGINT'); // Ctrl-C: finish what is in flight, write the reports
    const [code] = await Promise.race([exited, sleep(600_000).then((): [null, null] => [null, null])]);
    const summary = summaries?.[0];
    const checks: Verdict[] = [
      {
        process: 'emo run',
        check: 'Ctrl-C ends it with its reports',
        pass: code === 0 && summary?.state === 'stopped',
        detail: `exit code ${code}, input ${summary?.state ?? 'no summary'}${code === 0 ? '' : `: ${stderr.slice(-5).join(' | ')}`}`,
      },
      {
        process: 'emo run',
        check: 'every face in its report reached the events topic once',
        pass: summary !== undefined && summary.faces > 0 && summary.faces === faceEvents,
        detail: `${faceEvents} face events observed, ${summary?.faces ?? '?'} faces in the summary, ${summary?.sampledFrames ?? '?'} sampled frames`,
      },
    ];
    const verdicts = [
      rssVerdict('emo run', samples, window),
      lagVerdict('emo run', 'event lag bounded', samples, window, (s) => s.eventLag.p50Ms, 10_000, 'ms'),
    ];
    return { durationS, window, samples, verdicts, checks, totals: { faceEvents, sampledFrames: summary?.sampledFrames ?? 0 } };
  } finally {
    rtsp.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------

const resultsFile = resultsPath('soak.json');
const phases: Record<string, unknown> = previousPhases(resultsFile);
const results: Record<string, PhaseResult> = {};
if (runServices) results.services = await servicesPhase(minutes * 60);
if (runEmoRun) results['emo-run'] = await emoRunPhase(runMinutes * 60);
Object.assign(phases, Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { ...r, date: new Date().toISOString() }])));

let allPass = true;
for (const [name, result] of Object.entries(results)) {
  console.log(
    `\n${name}: ${(result.durationS / 60).toFixed(0)} min${result.window.outage ? `, broker down ${result.window.outage.startS}–${result.window.outage.endS} s` : ''}`,
  );
  for (const v of [...result.verdicts, ...result.checks]) {
    console.log(`  ${v.pass ? 'PASS' : 'FAIL'}  ${v.process}: ${v.check} — ${v.detail}`);
    allPass &&= v.pass;
  }
}
const report = {
  benchmark: 'soak',
  date: new Date().toISOString(),
  machine: machine(),
  settings: { sampleFps: fps, intervalS, outageS, rssGrowthLimit: 0.1 },
  phases,
};
writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);
const chartPhases = Object.entries(phases as Record<string, PhaseResult>).map(([title, p]) => ({
  title,
  samples: p.samples,
  window: p.window,
}));
writeFileSync(resultsPath('soak.svg'), soakChart(chartPhases));
updateReadme('soak', readmeBlock(report.machine, phases as Record<string, PhaseResult & { date: string }>));
console.log(`\n${allPass ? 'all checks passed' : 'SOME CHECKS FAILED'}; wrote ${resultsFile}, bench/results/soak.svg and the README block`);
process.exitCode = allPass ? 0 : 1;

function readmeBlock(machineName: string, all: Record<string, PhaseResult & { date: string }>): string {
  const lines: string[] = [];
  for (const [name, p] of Object.entries(all)) {
    const what = name === 'services' ? 'five `emo serve` processes on the broker, exactly-once' : '`emo run`, one process, no broker';
    lines.push(
      `**${name}** (${what}): ${(p.durationS / 60).toFixed(0)} min on ${machineName}, ${p.date.slice(0, 10)}; warm-up ${(p.window.warmupEndS / 60).toFixed(1)} min` +
        `${p.window.outage ? `; broker SIGKILLed from ${(p.window.outage.startS / 60).toFixed(1)} to ${(p.window.outage.endS / 60).toFixed(1)} min (${p.window.outage.endS - p.window.outage.startS} s)` : ''}.`,
      '',
      '| process | check | result | detail |',
      '|---|---|---|---|',
      ...[...p.verdicts, ...p.checks].map(
        (v) => `| ${v.process} | ${v.check} | ${v.pass ? 'pass' : '**FAIL**'} | ${v.detail.replace(/\|/g, '/')} |`,
      ),
      '',
    );
  }
  lines.push('![RSS and event lag over the soak](bench/results/soak.svg)');
  return lines.join('\n');
}
