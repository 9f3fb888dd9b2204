import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, KafkaBus, makeMessage, topics } from '@emostream/shared';
import { cpuDescription } from '@emostream/models';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchRow {
  path: string;
  bus: string;
  delivery: string;
  messages: number;
  payloadBytes: number;
  seconds: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
}

export function resultsPath(file: string): string {
  const dir = path.join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, file);
}

/** A client of the benchmarks' local broker (plaintext, no SASL: what scripts/with-kafka.mjs starts). */
export function localKafkaBus(brokers: string, clientId: string): KafkaBus {
  return new KafkaBus({ brokers, clientId, ssl: { enabled: false, rejectUnauthorized: true }, sasl: { mechanism: 'none' } });
}

/** The value below which `p` percent of `values` lie (nearest rank); NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** What the numbers were measured on, for the README. */
export function machine(): string {
  return `${cpus().length} × ${cpuDescription()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
}

/** A real encoded Frame carrying `payload` as its JPEG bytes. */
export function frameBytes(streamId: string, seq: number, payload: Uint8Array): Uint8Array {
  return encodeMessage(
    topics.frames,
    makeMessage(topics.frames, { ref: { streamId, seq, capturedAtMs: Date.now(), width: 1280, height: 720 }, jpeg: payload }),
  );
}

/** Replaces the README's block between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`. */
export function updateReadme(name: string, markdown: string): void {
  const readme = path.join(root, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} block`);
  writeFileSync(readme, `${text.slice(0, from + start.length)}\n${markdown}\n${text.slice(to)}`);
}

/** A process run to its end: its whole wall time (spawn to exit), its CPU time and what it printed. */
export interface TimedRun {
  wallSeconds: number;
  /** User + system CPU seconds of the process and its children (GNU time), when /usr/bin/time exists. */
  cpuSeconds: number | undefined;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs a command to its end, timing it from spawn to exit; fails loudly (with its stderr) on a non-zero
 * exit. Its CPU time (children included) comes from GNU time where installed: on a shared machine it
 * moves less with the other jobs than the wall time does.
 */
export async function timeProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<TimedRun> {
  const cpuFile = path.join(tmpdir(), `bench-cpu-${process.pid}-${Date.now()}.txt`);
  const timed = existsSync(GNU_TIME);
  const started = performance.now();
  const child = timed
    ? spawn(GNU_TIME, ['-o', cpuFile, '-f', '%U %S', command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const [code] = (await once(child, 'exit')) as [number | null];
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0)
    throw new Error(`${path.basename(command)} ${args.join(' ')} exited with ${code}:\n${stderr.trim().split('\n').slice(-10).join('\n')}`);
  let cpuSeconds: number | undefined;
  if (timed) {
    const [user, system] = readFileSync(cpuFile, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
    cpuSeconds = user! + system!;
    rmSync(cpuFile, { force: true });
  }
  return { wallSeconds, cpuSeconds, stdout, stderr };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The load averages (1, 5 min) now: how busy the shared machine was around a measurement. */
export function load(): string {
  return loadavg()
    .slice(0, 2)
    .map((l) => l.toFixed(1))
    .join(' / ');
}
