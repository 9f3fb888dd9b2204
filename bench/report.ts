import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, makeMessage, topics } from '@emostream/shared';

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

/** What the numbers were measured on, for the README. */
export function machine(): string {
  return `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
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
