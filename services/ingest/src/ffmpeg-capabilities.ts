import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';

/**
 * What ffmpeg must answer before `readFrames` runs its first command: the `showinfo` filter to number
 * frames with, and the formats and encoders fluent-ffmpeg checks every command against. Each answer
 * costs an ffmpeg start (~50 CPU-ms, ~0.2 s of wall for the three on 2 cores): `emo run` paid that at
 * every start, before its first frame (issue 29). The answers are kept on disk per ffmpeg binary, so
 * only the first process after ffmpeg is installed or replaced asks.
 */
export interface FfmpegCapabilities {
  /** `showinfo=checksum=0` where the build has that option (the per-frame checksum nothing reads costs ~40 % of a 1080p decode), else `showinfo`. */
  showinfo: string;
  formats: ffmpeg.Formats;
  encoders: ffmpeg.Encoders;
}

/** Bumped when the stored answers change meaning: older files are then asked again. */
const FORMAT_VERSION = 1;

/**
 * The answers for `program` (a path, or a name looked up in PATH): read from the cache folder when a
 * file there was written for this very binary (same real path, size and modification time), else asked
 * of ffmpeg and stored. A cache that cannot be read or written only costs the asking (a read-only home
 * in a container asks once per process). Undefined when ffmpeg could not answer (not installed, broken):
 * its command then fails with fluent-ffmpeg's own message, where the frames are read.
 */
export async function ffmpegCapabilities(program: string, cacheDir = capabilitiesCacheDir()): Promise<FfmpegCapabilities | undefined> {
  const identity = binaryIdentity(program);
  const file =
    identity && path.join(cacheDir, `ffmpeg-capabilities-${createHash('sha256').update(identity).digest('hex').slice(0, 16)}.json`);
  const stored = file && readStored(file, identity);
  if (stored) return stored;
  const asked = await askFfmpeg(program).catch(() => undefined);
  if (file && asked) store(file, identity, asked);
  return asked;
}

/** `$XDG_CACHE_HOME/emostream`, else `~/.cache/emostream`. */
export function capabilitiesCacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'emostream');
}

/**
 * Answers fluent-ffmpeg's capability checks for one command from `capabilities`, instead of the
 * process-wide cache it fills by starting ffmpeg (`-formats`, `-encoders`). The check itself still runs.
 */
export function answerCapabilityChecks(command: ffmpeg.FfmpegCommand, capabilities: FfmpegCapabilities): void {
  const formats = (callback: ffmpeg.FormatsCallback) => callback(null as unknown as Error, capabilities.formats);
  const encoders = (callback: ffmpeg.EncodersCallback) => callback(null as unknown as Error, capabilities.encoders);
  Object.assign(command, {
    availableFormats: formats,
    getAvailableFormats: formats,
    availableEncoders: encoders,
    getAvailableEncoders: encoders,
  });
}

/** The binary's real path, size and modification time: a new or replaced ffmpeg is asked again. Undefined when it cannot be found. */
function binaryIdentity(program: string): string | undefined {
  const candidates = program.includes('/')
    ? [program]
    : (process.env.PATH ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, program));
  for (const candidate of candidates) {
    try {
      const real = realpathSync(candidate);
      const stat = statSync(real);
      if (stat.isFile()) return `${FORMAT_VERSION}\n${real}\n${stat.size}\n${stat.mtimeMs}`;
    } catch {
      // Not in this folder of PATH.
    }
  }
  return undefined;
}

function readStored(file: string, identity: string): FfmpegCapabilities | undefined {
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<FfmpegCapabilities> & { binary?: string };
    const valid =
      stored.binary === identity &&
      typeof stored.showinfo === 'string' &&
      typeof stored.formats === 'object' &&
      stored.formats !== null &&
      typeof stored.encoders === 'object' &&
      stored.encoders !== null;
    return valid ? { showinfo: stored.showinfo!, formats: stored.formats!, encoders: stored.encoders! } : undefined;
  } catch {
    return undefined; // none yet, or unreadable: ask
  }
}

/** Written to a temporary name and renamed: a process reading meanwhile sees the old file or the new one, never half. */
function store(file: string, identity: string, capabilities: FfmpegCapabilities): void {
  try {
    makeCacheDir(path.dirname(file));
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, JSON.stringify({ binary: identity, ...capabilities }));
    renameSync(partial, file);
  } catch {
    // A read-only home: the next process asks again.
  }
}

/**
 * The cache folder and its parent (`~/.cache`), one level at a time: Node 20's recursive mkdirSync
 * never returns on some file systems (/proc: it spun at full CPU), and a home that does not exist is
 * no place for a cache anyway.
 */
function makeCacheDir(dir: string): void {
  for (const level of [path.dirname(dir), dir]) {
    try {
      mkdirSync(level);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** Three ffmpeg starts, side by side; fluent-ffmpeg keeps its two answers for this process too. */
async function askFfmpeg(program: string): Promise<FfmpegCapabilities> {
  // fluent-ffmpeg asks the program it runs commands with (one per process, as FFMPEG_PATH is).
  ffmpeg.setFfmpegPath(program);
  const ask = <T>(question: 'getAvailableFormats' | 'getAvailableEncoders') =>
    new Promise<T>((resolve, reject) =>
      ffmpeg[question]((error: Error | null, answer: unknown) => (error ? reject(error) : resolve(answer as T))),
    );
  const showinfo = new Promise<string>((resolve, reject) => {
    execFile(program, ['-hide_banner', '-h', 'filter=showinfo'], (error, stdout) => {
      // A program that cannot start (ENOENT, EACCES) answers nothing; an older ffmpeg answers without the option.
      if (error && typeof error.code === 'string') reject(new Error(error.message, { cause: error }));
      else resolve(!error && /\bchecksum\b/.test(stdout) ? 'showinfo=checksum=0' : 'showinfo');
    });
  });
  const [formats, encoders, info] = await Promise.all([
    ask<ffmpeg.Formats>('getAvailableFormats'),
    ask<ffmpeg.Encoders>('getAvailableEncoders'),
    showinfo,
  ]);
  return { showinfo: info, formats, encoders };
}
