/**
 * Test helpers for stage handlers (`@emostream/shared/testing`): run one stage on a fresh in-memory
 * bus, feed it records, and collect what it writes. Not part of the runtime's public index.
 *
 * The variables read here (KAFKA_BROKERS, KAFKA_CONTROL_URL, EMOSTREAM_TEST_DATA, EMOSTREAM_CHROMIUM)
 * are the test harness's, set by scripts/with-kafka.mjs or by whoever runs the tests: no stage or
 * command reads them, so they are not settings and have no schema.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { InMemoryBus } from './bus/memory-bus.js';
import type { Bus, BusConsumer, BusProducer, ConsumedRecord, ConsumerOptions, OutgoingRecord, ProducerOptions } from './bus/types.js';
import { runtimeConfigSchema, type KafkaConfig } from './config/runtime-config.js';
import { FACE_EVENT, toProbabilities, type FaceEmotionEvent } from './contracts/index.js';
import { StageRunner, type StageDefinition } from './runtime/stage.js';
import { packageDir } from './package-dir.js';

export interface StageRun {
  /** Records per topic read. */
  records: Map<string, ConsumedRecord[]>;
  registry: Registry;
}

/**
 * Starts `definition` on its own InMemoryBus under `topicPrefix`, sends `inputs`, and reads the
 * topics in `read` until `done(records)` holds (or `timeoutMs` passes), then stops everything.
 */
export async function runStageInMemory(
  definition: StageDefinition,
  options: {
    topicPrefix: string;
    inputs: (prefix: string) => OutgoingRecord[];
    read: string[];
    done: (records: Map<string, ConsumedRecord[]>) => boolean;
    registry?: Registry;
    maxBatchSize?: number;
    timeoutMs?: number;
  },
): Promise<StageRun> {
  const bus = new InMemoryBus();
  const registry = options.registry ?? new Registry();
  const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: options.topicPrefix, maxBatchSize: options.maxBatchSize });
  const runner = new StageRunner(definition, { bus, config, registry });
  await runner.start();
  const records = new Map<string, ConsumedRecord[]>(options.read.map((topic) => [topic, []]));
  try {
    for (const topic of options.read) {
      const reader = await bus.consumer({ groupId: `test-reader-${topic}`, topics: [topic], fromBeginning: true });
      await reader.run({
        eachBatch: (batch) => {
          records.get(topic)!.push(...batch.records);
          return Promise.resolve();
        },
      });
    }
    const producer = await bus.producer();
    await producer.send(options.inputs(options.topicPrefix));
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (!options.done(records)) {
      if (Date.now() > deadline) throw new Error(`stage ${definition.name}: timed out waiting for its outputs`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { records, registry };
  } finally {
    await runner.stop();
    await bus.close();
  }
}

/**
 * The brokers of the real Kafka broker that `npm test` starts (scripts/with-kafka.mjs sets KAFKA_BROKERS).
 * A test that needs Kafka fails here, loudly, when there is none: broker tests are never skipped.
 */
export function kafkaBrokers(): string {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) {
    throw new Error(
      'KAFKA_BROKERS is not set: run the tests with `npm test` (it starts a Kafka broker), or `node scripts/with-kafka.mjs <command>`',
    );
  }
  return brokers;
}

/**
 * The test broker's fault switch (scripts/with-kafka.mjs serves it at KAFKA_CONTROL_URL): `kill()`
 * takes the broker away (SIGKILL: a crash; SIGTERM: a clean shutdown), `restart()` brings it back on
 * the same port with the same data and resolves once it is usable. Fails loudly without a control URL.
 */
export function brokerControl(): { kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>; restart(): Promise<void> } {
  const url = process.env.KAFKA_CONTROL_URL;
  if (!url)
    throw new Error(
      'KAFKA_CONTROL_URL is not set: run the tests with `npm test` or `node scripts/with-kafka.mjs <command>` (it serves the broker control)',
    );
  const post = async (path: string) => {
    const response = await fetch(`${url}${path}`, { method: 'POST', signal: AbortSignal.timeout(180_000) });
    if (!response.ok) throw new Error(`broker control ${path}: ${response.status} ${await response.text()}`);
  };
  return { kill: (signal = 'SIGKILL') => post(`/kill?signal=${signal}`), restart: () => post('/restart') };
}

/** Client settings for the test broker: plaintext on loopback, no SASL. */
export function kafkaTestConfig(clientId = 'emostream-test'): KafkaConfig {
  return { brokers: kafkaBrokers(), clientId, ssl: { enabled: false, rejectUnauthorized: true }, sasl: { mechanism: 'none' } };
}

/** A fresh topic prefix per test, so tests never see each other's records. */
export function randomPrefix(label = 't'): string {
  return `${label}-${randomBytes(5).toString('hex')}`;
}

/** Polls `condition` until it holds (waiting on conditions, never sleeping a guessed time). */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  {
    timeoutMs = 30_000,
    intervalMs = 50,
    message = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; message?: string | (() => string) } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof message === 'function' ? message() : message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Asserts that nothing broke `condition` while the thing it rules out had its chance to happen: polls
 * it for at least `forMs` and on until `provenPossible` holds, and fails on the first false.
 *
 * `provenPossible` is the positive control, and it is required: a condition that turns true only once
 * the system got past the point where the unwanted thing would have shown (a marker record sent behind
 * the inputs came out, the fault was injected and handled, a later message was processed). A quiet
 * window alone proves nothing on a slow machine, which may simply not have got there yet; with the
 * control the window stretches until it has (up to `timeoutMs`, then it fails saying so), so the
 * assertion cannot pass without the test having shown the thing was able to happen.
 */
export async function assertStaysTrue(
  condition: () => boolean | Promise<boolean>,
  {
    forMs,
    provenPossible,
    message,
    provenMessage,
    timeoutMs = 60_000,
    intervalMs = 20,
  }: {
    /** The least time the condition is watched, even when the control holds at once. */
    forMs: number;
    /** The positive control: true once the unwanted thing could have happened (see above). */
    provenPossible: () => boolean | Promise<boolean>;
    /** What the condition says, for the failure. */
    message: string | (() => string);
    /** What the control shows, for the failure when it never holds. */
    provenMessage: string | (() => string);
    timeoutMs?: number;
    intervalMs?: number;
  },
): Promise<void> {
  const text = (m: string | (() => string)) => (typeof m === 'function' ? m() : m);
  const started = Date.now();
  let proven = false;
  for (;;) {
    // The control is read before the condition, so the last check of the condition comes after the
    // control held: whatever the control vouches for has had its chance to break the condition.
    proven ||= await provenPossible();
    if (!(await condition())) throw new Error(`stopped holding after ${Date.now() - started} ms: ${text(message)}`);
    const elapsed = Date.now() - started;
    if (proven && elapsed >= forMs) return;
    if (elapsed > timeoutMs) {
      throw new Error(
        `the positive control never held within ${timeoutMs} ms, so "${text(message)}" proves nothing: ${text(provenMessage)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * `work`, or a rejection saying `message` once `timeoutMs` passes. The timer is cleared either way,
 * so a settled wait never keeps the test process alive for the rest of its timeout.
 */
export async function within<T>(work: Promise<T>, timeoutMs: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${message()}`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads `topics` from their start with read_committed (what a downstream consumer sees), handing each
 * record to `onRecord` once. The reader never commits: a group member re-created after a missed
 * heartbeat or a broker outage reads from the start again, so records count once, by topic, partition
 * and offset.
 */
export async function readEachRecordOnce(
  bus: Bus,
  groupId: string,
  topics: string[],
  onRecord: (record: ConsumedRecord) => void,
): Promise<BusConsumer> {
  const seen = new Set<string>();
  const reader = await bus.consumer({ groupId, topics, fromBeginning: true, readCommitted: true, sessionTimeoutMs: 6_000 });
  await reader.run({
    eachBatch: (batch) => {
      for (const record of batch.records) {
        const at = `${record.topic}:${record.partition}:${record.offset}`;
        if (seen.has(at)) continue;
        seen.add(at);
        onRecord(record);
      }
      return Promise.resolve();
    },
  });
  return reader;
}

/** A valid public face event (one face, Happiness 0.9, in a 320×240 frame), with `overrides`. */
export function faceEventFixture(overrides: Partial<FaceEmotionEvent> = {}): FaceEmotionEvent {
  return {
    schema: FACE_EVENT,
    streamId: 'cam',
    seq: 1,
    ptsMs: 0,
    capturedAtMs: 0,
    emittedAtMs: 0,
    trackId: 1,
    box: { x: 60, y: 80, width: 80, height: 90 },
    frame: { width: 320, height: 240 },
    detectorScore: 0.9,
    label: 'Happiness',
    confidence: 0.9,
    probabilities: toProbabilities([0.1, 0.9, 0, 0, 0, 0, 0]),
    ...overrides,
  };
}

/** A loopback port that was free a moment ago (nothing listens there now: connections are refused). */
export async function freePort(): Promise<number> {
  // Below the kernel's ephemeral range: a port from it (listen(0)) can be taken, between this check
  // and the server's own listen, or across a restart of that server, by any client socket's local
  // end (a stage's ops port was, in CI: EADDRINUSE). Above the range's start nothing binds by chance.
  const [ephemeralStart] = ephemeralPortRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (ephemeralStart - 10_000));
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }
  throw new Error(`no free port between 10000 and ${ephemeralStart} after 200 tries`);
}

/** The kernel's range of ephemeral (client) ports: Linux's setting, else the IANA range. */
function ephemeralPortRange(): [number, number] {
  try {
    const [start, end] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (start! > 10_100 && end! > start!) return [start!, end!];
  } catch {
    // not Linux
  }
  return [49_152, 65_535];
}

const REPO_ROOT = path.resolve(packageDir(import.meta.url), '../..');
const REPO_MEDIA = path.join(REPO_ROOT, 'test', 'media');
const SHARED_MEDIA = path.resolve(REPO_ROOT, '../shared/data');

/**
 * Where test media are looked for, in order: `EMOSTREAM_TEST_DATA`, `../shared/data` beside the checkout
 * (the full set, with the stills that may not be shipped), and the repo's own `test/media` (what may be
 * shipped: CREMA-D and the Intel scenes; see its MANIFEST.md). Only folders that exist are listed.
 */
export function testMediaDirs(): string[] {
  const dirs = [process.env.EMOSTREAM_TEST_DATA, SHARED_MEDIA, REPO_MEDIA].filter((d): d is string => Boolean(d));
  return dirs.filter((dir) => existsSync(path.join(dir, 'MANIFEST.md')));
}

/** The first test-media folder (for code that lists one); the repo's own media are always there. */
export function sharedDataDir(): string {
  const [dir] = testMediaDirs();
  if (!dir) throw new Error(`test media not found: ${REPO_MEDIA} is part of the repository (or set EMOSTREAM_TEST_DATA)`);
  return dir;
}

/** One file of the real test media, e.g. `labelled/cremad_1001_DFA_happy.flv`, from the first folder that has it. Missing media fail, never skip. */
export function sharedData(relative: string): string {
  for (const dir of testMediaDirs()) {
    const file = path.join(dir, relative);
    if (existsSync(file)) return file;
  }
  throw new Error(
    `test media missing: ${relative} (looked in ${testMediaDirs().join(', ')}; stills are not shipped: put ../shared/data beside the checkout or set EMOSTREAM_TEST_DATA)`,
  );
}

/** Whether a test-media file is there (the stills are only where `../shared/data` or EMOSTREAM_TEST_DATA is). */
export function hasTestMedia(relative: string): boolean {
  return testMediaDirs().some((dir) => existsSync(path.join(dir, relative)));
}

/**
 * For tests of media the project may not ship (the third-party stills): `false` when every file is
 * there, else the reason, for `test(name, { skip: unshippedMediaMissing(…) }, …)`. The reason is
 * printed with the skip, so a clone without `../shared/data` shows what it did not run.
 */
export function unshippedMediaMissing(...relatives: string[]): string | false {
  const missing = relatives.filter((relative) => !hasTestMedia(relative));
  return missing.length === 0
    ? false
    : `needs ${missing.join(', ')}, which the project may not ship (put ../shared/data beside the checkout or set EMOSTREAM_TEST_DATA)`;
}

/** Runs ffmpeg quietly, overwriting its output; throws with ffmpeg's own message when it fails. */
export function ffmpeg(args: string[]): void {
  const made = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${made.error?.message ?? made.stderr}`);
}

/** ffmpeg's output options for an H.264 test clip any player and decoder reads (`crf`: lower is closer to the source). */
export function h264Output(crf?: number): string[] {
  return ['-c:v', 'libx264', '-preset', 'veryfast', ...(crf === undefined ? [] : ['-crf', String(crf)]), '-pix_fmt', 'yuv420p'];
}

/** ffprobe: the size of a video's first stream and the frames it really decodes to. */
export function videoInfo(video: string): { width: number; height: number; frames: number } {
  const probe = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height,nb_read_frames',
      '-of',
      'csv=p=0',
      video,
    ],
    { encoding: 'utf8' },
  );
  const [width, height, frames] = probe.stdout.trim().split(',').map(Number);
  if (!width || !height || frames === undefined || Number.isNaN(frames)) throw new Error(`ffprobe cannot read ${video}: ${probe.stderr}`);
  return { width, height, frames };
}

/**
 * `source` played `times` times over (no audio) as H.264 in `output`, a keyframe every 10 frames: what
 * an RTSP test camera plays (a client joining mid-stream gets a picture within 10 frames).
 */
export function loopedH264Clip(source: string, output: string, times: number): string {
  ffmpeg([
    '-i',
    source,
    '-an',
    '-vf',
    `loop=loop=${times - 1}:size=60`,
    '-c:v',
    'libx264',
    '-preset',
    'ultrafast',
    '-g',
    '10',
    '-pix_fmt',
    'yuv420p',
    output,
  ]);
  return output;
}

/**
 * The six labelled CREMA-D clips of one actor one after another (~12.7 s) at a constant 29.97 fps, as
 * H.264 in `output` (a key frame every `keyframeEvery` frames when given). Made once: an existing
 * file is kept (written under another name first, so a half-written file is never taken for one).
 */
export function cremadSixClip(output: string, keyframeEvery?: number): string {
  if (existsSync(output)) return output;
  mkdirSync(path.dirname(output), { recursive: true });
  const names = ['happy', 'anger', 'sad', 'fear', 'disgust', 'neutral'];
  const inputs = names.flatMap((name) => ['-i', sharedData(`labelled/cremad_1001_DFA_${name}.flv`)]);
  const concat = `${names.map((_, i) => `[${i}:v]`).join('')}concat=n=${names.length}:v=1:a=0,fps=30000/1001[v]`;
  const temp = `${output}.${process.pid}.mp4`;
  const keyframes = keyframeEvery === undefined ? [] : ['-g', String(keyframeEvery)];
  ffmpeg([...inputs, '-filter_complex', concat, '-map', '[v]', ...h264Output(), ...keyframes, temp]);
  renameSync(temp, output);
  return output;
}

/** `source` joined `times` times over without re-encoding (ffmpeg's concat demuxer, stream copy): a long input in moments. */
export function concatenatedClip(source: string, output: string, times: number): string {
  const list = `${output}.list.txt`;
  writeFileSync(list, Array.from({ length: times }, () => `file '${source}'\n`).join(''));
  ffmpeg(['-f', 'concat', '-safe', '0', '-i', list, '-an', '-c:v', 'copy', output]);
  return output;
}

/**
 * A real RTSP camera on 127.0.0.1:`port`: GStreamer's RTSP server (scripts/install-system-deps.sh --tests
 * installs it) playing an H.264 `clip` in real time at rtsp://127.0.0.1:<port>/live (looped). Kill the
 * returned process to take the camera away.
 */
export async function startRtspServer(port: number, clip: string): Promise<ChildProcess> {
  const script = path.join(packageDir(import.meta.url), 'test-support', 'rtsp-server.py');
  const child = spawn('/usr/bin/python3', [script, String(port), clip], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [data] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => [Buffer.from('exited')])])) as [Buffer];
  if (!data.toString().includes('ready')) throw new Error(`the RTSP server did not start: ${data.toString()}`);
  return child;
}

/** Debian's Chromium, which scripts/install-system-deps.sh --tests installs (`apt-get install chromium`). */
export const CHROMIUM_PATH = process.env.EMOSTREAM_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium (Debian's, driven by playwright-core) for browser tests. Fails with a clear
 * message when Chromium is missing: browser tests are never skipped. Close the browser when done.
 */
export async function launchHeadlessChromium(): Promise<import('playwright-core').Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: run scripts/install-system-deps.sh --tests (it installs Debian's chromium), or set EMOSTREAM_CHROMIUM`,
    );
  }
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
}

/** A path under the repository's git-ignored `test-artifacts/` (created), for screenshots and the like. */
export function testArtifactPath(name: string): string {
  const dir = path.join(REPO_ROOT, 'test-artifacts');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/**
 * The bus, with what it makes passed through the given wrappers (fault injection in tests: a commit
 * whose answer is lost, a batch handed twice); everything else is the bus itself.
 */
export function wrapBus(
  bus: Bus,
  wrap: {
    producer?: (producer: BusProducer, options?: ProducerOptions) => BusProducer;
    consumer?: (consumer: BusConsumer, options: ConsumerOptions) => BusConsumer;
  },
): Bus {
  return new Proxy(bus, {
    get(target, property) {
      if (property === 'producer' && wrap.producer) {
        return async (options?: ProducerOptions) => wrap.producer!(await target.producer(options), options);
      }
      if (property === 'consumer' && wrap.consumer) {
        return async (options: ConsumerOptions) => wrap.consumer!(await target.consumer(options), options);
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
