/**
 * The fault suite's pipeline: the five stages as `emo serve` processes on the real test broker
 * (loopback only), exactly-once unless a test says otherwise, each with its ops server on a port of its own, watched all along:
 * - their /readyz is sampled every 200 ms (so a test can say "503 during the outage, 200 after");
 * - a process that exits without the test having killed it is an error;
 * - the events and frames topics are read with read_committed, as downstream reads them.
 * `referenceEvents` runs the same input undisturbed once per broker session and caches it, so every
 * fault is compared with the same undisturbed run.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import type { DescMessage } from '@bufbuild/protobuf';
import {
  decodeMessage,
  eventsTopic,
  FrameSchema,
  KafkaBus,
  topicName,
  topics,
  type BusConsumer,
  type EmotionEvent,
  type FaceEmotionEvent,
  type Topic,
  type TrackSummaryEvent,
} from '@emostream/shared';
import {
  cremadSixClip,
  freePort,
  kafkaBrokers,
  kafkaTestConfig,
  randomPrefix,
  sharedData,
  testMediaDirs,
  waitFor,
} from '@emostream/shared/testing';
import { waitPipelineDrained } from '../pipeline-drained.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
export const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;
export type Stage = (typeof STAGES)[number];
/** With this short a threshold the outage tests see the stages turn unready within seconds. */
export const BUS_UNREACHABLE_MS = 4_000;

/** A CREMA-D clip (56–70 frames, ~2 s; about 10 sampled frames). */
export function clip(name: 'happy' | 'anger' | 'sad' | 'fear' | 'disgust' | 'neutral'): string {
  return sharedData(`labelled/cremad_1001_DFA_${name}.flv`);
}

/**
 * The six CREMA-D clips one after another (~12.7 s, ~64 sampled frames): long enough for a fault to
 * land in the middle of a file. Made once per machine with ffmpeg (H.264 in MP4, constant 29.97 fps).
 */
export function longClip(): string {
  return cremadSixClip(path.join(tmpdir(), 'emostream-faults', 'cremad_1001_six.mp4'));
}

interface StageProcess {
  child: ChildProcess;
  /** Killed by the test (then its exit is expected). */
  killed: boolean;
  output: string[];
}

export interface ReadySample {
  stage: Stage;
  atMs: number;
  status: number | 'refused';
}

export class FaultPipeline {
  readonly prefix = randomPrefix('fault');
  readonly env: Record<string, string>;
  readonly processes = new Map<Stage, StageProcess>();
  readonly ports = new Map<Stage, number>();
  readonly readiness: ReadySample[] = [];
  /** Exits the test did not cause: each fails the test. */
  readonly unexpectedExits: string[] = [];
  readonly events: EmotionEvent[] = [];
  /** Every committed frame record (read_committed), as downstream sees them. */
  readonly framesWritten: { streamId: string; seq: number; endOfStream: boolean }[] = [];
  private readonly bus = new KafkaBus(kafkaTestConfig('fault-suite'));
  private readers: BusConsumer[] = [];
  private eventReader: BusConsumer | undefined;
  private poller: NodeJS.Timeout | undefined;

  /**
   * `settings` override the suite's environment; a setting given as `undefined` is left out, so the
   * stage's own default applies (e.g. `FACE_TRACK_MIN_HITS: undefined` for the default tracker).
   */
  constructor(readonly settings: Record<string, string | undefined> = {}) {
    const env: Record<string, string | undefined> = {
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: this.prefix,
      EMOSTREAM_DELIVERY: 'exactly-once',
      EMOSTREAM_OPS_HOST: '127.0.0.1',
      // Ingest opens files only under its media roots (source policy): the test media and the clips made here.
      INGEST_MEDIA_ROOTS: [...testMediaDirs(), path.join(tmpdir(), 'emostream-faults')].join(','),
      EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
      EMOSTREAM_BUS_UNREACHABLE_MS: String(BUS_UNREACHABLE_MS),
      EMOSTREAM_PACK: 'default',
      EMOSTREAM_INTRA_OP_THREADS: '1',
      EMOSTREAM_LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
      // Small batches, so a fault lands in the middle of the work.
      EMOSTREAM_MAX_BATCH_SIZE: '4',
      // Every detection is passed on at once (as the reference does): on these one-face clips a
      // restarted face stage then gives the same ids. Carrying tracker state across a face restart
      // with tentative tracks is issue 15 item 6, pinned by the face service's own test.
      FACE_TRACK_MIN_HITS: '1',
      ...settings,
    };
    this.env = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  }

  /** Starts reading the events (read_committed) and frames (as written) topics; the broker must be up. */
  async startReaders(): Promise<void> {
    const events = topicName(eventsTopic, this.prefix);
    const frames = topicName(topics.frames, this.prefix);
    await this.bus.createTopics([
      { name: events, partitions: eventsTopic.defaultPartitions },
      { name: frames, partitions: topics.frames.defaultPartitions },
    ]);
    // These readers never commit: a member re-created after the broker came back reads from the
    // start again, so each record counts once, by partition and offset.
    const seenEvents = new Set<string>();
    const eventReader = await this.bus.consumer({
      groupId: `${this.prefix}.events-reader`,
      topics: [events],
      fromBeginning: true,
      readCommitted: true,
      sessionTimeoutMs: 6_000,
    });
    await eventReader.run({
      eachBatch: (batch) => {
        for (const r of batch.records) {
          if (seenEvents.has(`${r.partition}:${r.offset}`)) continue;
          seenEvents.add(`${r.partition}:${r.offset}`);
          this.events.push(JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent);
        }
        return Promise.resolve();
      },
    });
    const seenFrames = new Set<string>();
    const frameReader = await this.bus.consumer({
      groupId: `${this.prefix}.frames-reader`,
      topics: [frames],
      fromBeginning: true,
      readCommitted: true,
      sessionTimeoutMs: 6_000,
    });
    await frameReader.run({
      eachBatch: (batch) => {
        for (const r of batch.records) {
          if (seenFrames.has(`${r.partition}:${r.offset}`)) continue;
          seenFrames.add(`${r.partition}:${r.offset}`);
          let ref;
          try {
            ref = fromBinary(FrameSchema, r.value!).ref!;
          } catch {
            continue; // a garbage record a test put on the frames topic: not a frame ingest wrote
          }
          this.framesWritten.push({ streamId: ref.streamId, seq: ref.seq, endOfStream: ref.endOfStream });
        }
        return Promise.resolve();
      },
    });
    this.readers = [eventReader, frameReader];
    this.eventReader = eventReader;
  }

  /** Starts (or restarts) one stage as `emo serve <stage>`, on the same ops port each time. */
  async start(stage: Stage): Promise<void> {
    const port = this.ports.get(stage) ?? (await freePort());
    this.ports.set(stage, port);
    const child = spawn(process.execPath, [emo, 'serve', stage], {
      cwd: root,
      env: { ...process.env, ...this.env, EMOSTREAM_OPS_PORT: String(port), EMOSTREAM_INSTANCE_ID: `${stage}-0` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc: StageProcess = { child, killed: false, output: [] };
    const keep = (chunk: Buffer) => {
      proc.output.push(...chunk.toString().split('\n').filter(Boolean));
      proc.output.splice(0, Math.max(0, proc.output.length - 40));
      if (process.env.FAULTS_LOG_LEVEL) process.stderr.write(`[${stage}] ${chunk.toString()}`);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('exit', (code, signal) => {
      if (!proc.killed)
        this.unexpectedExits.push(`${stage} exited by itself (code ${code}, signal ${signal}):\n${proc.output.slice(-15).join('\n')}`);
    });
    this.processes.set(stage, proc);
    this.poller ??= setInterval(() => void this.sampleReadiness(), 200);
  }

  async startAll(): Promise<void> {
    for (const stage of STAGES) await this.start(stage);
  }

  /** Kills one stage (and waits for it to be gone); its exit is expected. */
  async kill(stage: Stage, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const proc = this.processes.get(stage)!;
    proc.killed = true;
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return { code: proc.child.exitCode, signal: proc.child.signalCode };
    const exited = once(proc.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    proc.child.kill(signal);
    const [code, sig] = await exited;
    return { code, signal: sig };
  }

  async waitReady(stages: readonly Stage[] = STAGES, timeoutMs = 180_000): Promise<void> {
    await waitFor(
      async () => {
        this.assertNoUnexpectedExit();
        const statuses = await Promise.all(stages.map((s) => readyz(this.ports.get(s)!)));
        return statuses.every((s) => s === 200);
      },
      {
        timeoutMs,
        intervalMs: 250,
        message: () => `every stage ready (${stages.map((s) => `${s}: ${this.lastReadiness(s)}`).join(', ')})`,
      },
    );
  }

  /**
   * The start most faults share: the undisturbed run's events of the long clip (cached), then the
   * readers and the five processes, ready, reading the clip as stream `long` until ingest has
   * published `framesBefore` frames. The fault comes next.
   */
  async startOnLongClip(framesBefore: number): Promise<{ file: string; reference: EmotionEvent[] }> {
    const file = longClip();
    const reference = await referenceEvents({ long: file }, this.settings);
    await this.startReaders();
    await this.startAll();
    await this.waitReady();
    this.addStream('long', file);
    await waitFor(() => this.frameSeqs('long').length >= framesBefore, { timeoutMs: 60_000, message: 'ingest publishing the file' });
    return { file, reference };
  }

  /** `emo streams add`, as an operator would. */
  addStream(streamId: string, file: string): void {
    const added = spawnSync(process.execPath, [emo, 'streams', 'add', streamId, file], {
      cwd: root,
      env: { ...process.env, ...this.env },
      encoding: 'utf8',
    });
    assert.equal(added.status, 0, added.stderr);
  }

  /** The committed frames of one stream, by seq (the end-of-stream marker included), as written. */
  frameSeqs(streamId: string): number[] {
    return this.framesWritten.filter((f) => f.streamId === streamId).map((f) => f.seq);
  }

  faceEvents(streamId?: string): FaceEmotionEvent[] {
    return this.events.filter(
      (e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2' && (streamId === undefined || e.streamId === streamId),
    );
  }

  summaries(): TrackSummaryEvent[] {
    return this.events.filter((e): e is TrackSummaryEvent => e.schema === 'emostream.event.track_summary.v2');
  }

  /** Waits until the streams' tracks have all ended (their summaries are out), then a little for stragglers (duplicates would show). */
  async waitForSummaries(count: number, timeoutMs = 240_000): Promise<void> {
    await waitFor(
      () => {
        this.assertNoUnexpectedExit();
        return this.summaries().length >= count;
      },
      {
        timeoutMs,
        intervalMs: 200,
        message: () => `${count} track summaries (have ${this.summaries().length}; ${this.faceEvents().length} face events)`,
      },
    );
    // Then until nothing is left to deliver, so the test's counts include any late duplicate.
    await waitPipelineDrained(this.bus, this.prefix, this.eventReader!);
  }

  assertNoUnexpectedExit(): void {
    if (this.unexpectedExits.length > 0) throw new Error(`a process exited without being killed:\n${this.unexpectedExits.join('\n\n')}`);
  }

  /** The readiness each stage answered between two instants. */
  readinessBetween(stage: Stage, fromMs: number, toMs: number): (number | 'refused')[] {
    return this.readiness.filter((s) => s.stage === stage && s.atMs >= fromMs && s.atMs <= toMs).map((s) => s.status);
  }

  /**
   * Which seqs of a stream each internal topic holds (read_committed, from the start): where a
   * missing or repeated event was lost or made, for failure messages.
   */
  async trace(streamId: string): Promise<string> {
    const lines: string[] = [];
    for (const topic of [topics.frames, topics.faces, topics.embeddings, topics.emotions]) {
      const name = topicName(topic, this.prefix);
      const seqs: number[] = [];
      const reader = await this.bus.consumer({
        groupId: `${this.prefix}.trace-${topic.base}`,
        topics: [name],
        fromBeginning: true,
        readCommitted: true,
        sessionTimeoutMs: 6_000,
      });
      await reader.run({
        eachBatch: (batch) => {
          for (const r of batch.records) {
            if (r.key !== streamId || r.value === null) continue;
            try {
              seqs.push((decodeMessage(topic as Topic<DescMessage>, r.key, r.value) as { ref?: { seq: number } }).ref!.seq);
            } catch {
              // garbage a fault test wrote: not part of the stream
            }
          }
          return Promise.resolve();
        },
      });
      const ends = await this.bus.endOffsets(name);
      await waitFor(
        () =>
          ends.every(
            (e) =>
              e.offset === '0' ||
              BigInt(reader.readPositions().find((p) => p.partition === e.partition)?.offset ?? '-1') >= BigInt(e.offset),
          ),
        {
          timeoutMs: 30_000,
          message: `reading ${name} to its end`,
        },
      ).catch(() => lines.push(`(${name} not read to its end)`));
      await reader.close();
      lines.push(`${topic.base}: ${seqs.join(',')}`);
    }
    return lines.join('\n');
  }

  /** The last lines a stage printed (its log), for failure messages. */
  logTail(stage: Stage, lines = 15): string {
    return (this.processes.get(stage)?.output ?? []).slice(-lines).join('\n');
  }

  /** One stage's /metrics. */
  async metrics(stage: Stage): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.ports.get(stage)!}/metrics`)).text();
  }

  private lastReadiness(stage: Stage): string {
    return String(this.readiness.filter((s) => s.stage === stage).at(-1)?.status ?? 'none');
  }

  private async sampleReadiness(): Promise<void> {
    const atMs = Date.now();
    await Promise.all(
      [...this.processes].map(async ([stage, proc]) => {
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
        this.readiness.push({ stage, atMs, status: await readyz(this.ports.get(stage)!) });
      }),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.poller);
    await Promise.all(
      [...this.processes.values()].map(async (proc) => {
        proc.killed = true;
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
        const exited = once(proc.child, 'exit');
        proc.child.kill('SIGTERM');
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    // For diagnosing a failure: FAULTS_LOG_DIR keeps each stage's whole log (FAULTS_LOG_LEVEL sets its level).
    const logDir = process.env.FAULTS_LOG_DIR;
    if (logDir) {
      mkdirSync(logDir, { recursive: true });
      for (const [stage, proc] of this.processes) writeFileSync(path.join(logDir, `${this.prefix}-${stage}.log`), proc.output.join('\n'));
    }
    // Bounded: a reader whose broker is gone must not hold the test run up.
    const bounded = (work: Promise<unknown>) =>
      Promise.race([work.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 15_000).unref())]);
    for (const reader of this.readers) await bounded(reader.close());
    await bounded(this.bus.close());
  }
}

async function readyz(port: number): Promise<number | 'refused'> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return 'refused';
  }
}

/**
 * The events of an undisturbed run of `streams` (streamId → file): run once per broker session
 * (cached under the temp folder by broker address and input), so every fault compares with it.
 */
export async function referenceEvents(
  streams: Record<string, string>,
  settings: Record<string, string | undefined> = {},
): Promise<EmotionEvent[]> {
  const key = createHash('sha256')
    .update(JSON.stringify([process.env.KAFKA_CONTROL_URL ?? kafkaBrokers(), streams, settings]))
    .digest('hex')
    .slice(0, 16);
  const cache = path.join(tmpdir(), 'emostream-faults', `reference-${key}.json`);
  if (existsSync(cache)) return JSON.parse(readFileSync(cache, 'utf8')) as EmotionEvent[];
  const pipeline = new FaultPipeline(settings);
  try {
    await pipeline.startReaders();
    await pipeline.startAll();
    for (const [streamId, file] of Object.entries(streams)) pipeline.addStream(streamId, file);
    await pipeline.waitForSummaries(Object.keys(streams).length);
    pipeline.assertNoUnexpectedExit();
  } finally {
    await pipeline.stop();
  }
  mkdirSync(path.dirname(cache), { recursive: true });
  writeFileSync(cache, JSON.stringify(pipeline.events));
  return pipeline.events;
}

/**
 * Under exactly-once, a disturbed run must hold exactly the undisturbed run's events: the same
 * (stream, seq, track) face events, each once, with probabilities within 1e-6, and the same track
 * summaries.
 */
export async function assertSameEvents(pipeline: FaultPipeline, reference: EmotionEvent[]): Promise<void> {
  await withTraces(pipeline, reference, () => compareEvents(pipeline.events, reference));
}

/**
 * Under at-least-once, a disturbed run may repeat events but must lose none: every (stream, seq,
 * track) face event and every track summary of the undisturbed run is there, nothing else is, and a
 * repeated event says the same as the undisturbed one (probabilities within 1e-6). Returns how many
 * face events were repeated.
 */
export async function assertNothingLost(pipeline: FaultPipeline, reference: EmotionEvent[]): Promise<number> {
  return withTraces(pipeline, reference, () => compareEvents(pipeline.events, reference, { repeatsAllowed: true }));
}

/** `compare`, and on failure the seqs each internal topic holds per stream, to say where an event was lost or made. */
async function withTraces<T>(pipeline: FaultPipeline, reference: EmotionEvent[], compare: () => T): Promise<T> {
  try {
    return compare();
  } catch (error) {
    const streams = [...new Set(reference.map((e) => e.streamId))];
    const traces = await Promise.all(
      streams.map(async (s) => `${s}:\n${await pipeline.trace(s).catch((e: Error) => `(trace failed: ${e.message})`)}`),
    );
    (error as Error).message += `\nseqs per topic (read_committed):\n${traces.join('\n')}`;
    throw error;
  }
}

/**
 * Fault (b): on the long clip, each of the five stages SIGKILLed once mid-stream (ingest first, while
 * it is in the middle of the file; then each after a little more progress) and restarted; returns
 * once every track summary of the undisturbed run is there.
 */
export async function killEachStageMidStream(pipeline: FaultPipeline): Promise<EmotionEvent[]> {
  const { reference } = await pipeline.startOnLongClip(3);
  const faces = reference.filter((e) => e.schema === 'emostream.event.face.v2').length;
  for (const [i, stage] of STAGES.entries()) {
    if (i > 0) {
      const target = Math.min(faces - 1, Math.round((faces * i) / (STAGES.length + 1)));
      await waitFor(() => (pipeline.assertNoUnexpectedExit(), pipeline.faceEvents('long').length >= target), {
        timeoutMs: 180_000,
        message: () => `${target} face events before killing ${stage} (have ${pipeline.faceEvents('long').length})`,
      });
    }
    await pipeline.kill(stage, 'SIGKILL');
    await pipeline.start(stage);
  }
  await pipeline.waitForSummaries(reference.filter((e) => e.schema === 'emostream.event.track_summary.v2').length);
  pipeline.assertNoUnexpectedExit();
  return reference;
}

function compareEvents(actual: EmotionEvent[], reference: EmotionEvent[], { repeatsAllowed = false } = {}): number {
  const faceKey = (e: FaceEmotionEvent) => `${e.streamId}#${e.seq}#${e.trackId}`;
  const faces = (list: EmotionEvent[]) => list.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2');
  const expected = new Map(faces(reference).map((e) => [faceKey(e), e]));
  assert.ok(expected.size > 0, 'the undisturbed run has no face events: nothing to compare');
  const got = faces(actual).map(faceKey);
  const duplicates = got.filter((k, i) => got.indexOf(k) !== i);
  if (!repeatsAllowed) assert.deepEqual(duplicates, [], 'face events delivered more than once');
  assert.deepEqual([...new Set(got)].sort(), [...expected.keys()].sort(), 'the (stream, seq, track) set differs from the undisturbed run');
  for (const event of faces(actual)) {
    const want = expected.get(faceKey(event))!;
    for (const [label, p] of Object.entries(want.probabilities)) {
      const q = (event.probabilities as Record<string, number>)[label]!;
      assert.ok(Math.abs(q - p) <= 1e-6, `${faceKey(event)} ${label}: ${q} vs ${p} undisturbed`);
    }
  }
  const summaries = (list: EmotionEvent[]) => list.filter((e): e is TrackSummaryEvent => e.schema === 'emostream.event.track_summary.v2');
  const summaryKey = (e: TrackSummaryEvent) => `${e.streamId}#${e.trackId}#${e.firstSeq}-${e.lastSeq}#${e.frames}`;
  const summariesOf = (list: EmotionEvent[]) => summaries(list).map(summaryKey);
  assert.deepEqual(
    (repeatsAllowed ? [...new Set(summariesOf(actual))] : summariesOf(actual)).sort(),
    summariesOf(reference).sort(),
    'the track summaries differ from the undisturbed run',
  );
  return duplicates.length;
}
