import {
  existsSync,
  mkdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  accessSync,
  constants,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { packageDir, redactUrl } from '@emostream/shared';
import type { IngestSettings } from '@emostream/ingest';
import type { RunInput } from '../inputs.js';
import type { InputSummary, RunOptions } from '../run-types.js';

const emoVersion = (JSON.parse(readFileSync(path.join(packageDir(import.meta.url), 'package.json'), 'utf8')) as { version: string })
  .version;

/** The manifest of a run, in its output folder: what was read, with which settings, and every file written. */
export const RUN_MANIFEST = 'run.json';

/** One input as `run.json` lists it. */
export interface ManifestInput {
  input: string;
  /** The base name of its files. */
  name: string;
  /** ended: read to its end, its reports complete; stopped: by Ctrl-C, its reports cover what was processed; failed: see error. */
  state: 'ended' | 'stopped' | 'failed';
  complete: boolean;
  sampledFrames: number;
  /** The frames its CSV covers (a stopped file: up to the last frame processed). */
  totalFrames: number;
  faces: number;
  tracks: number;
  /** Tracks still open when the input stopped: their `track_summary` in the events was closed by `emo run` at the stop. */
  tracksClosedAtStop?: number[];
  /** Its files, relative to the output folder. */
  files: string[];
  error?: string;
}

export interface RunManifest {
  manifestVersion: 1;
  /** `emo`'s version. */
  version: string;
  startedAt: string;
  endedAt: string;
  /** complete: every input ended or failed by itself; stopped: Ctrl-C stopped at least one input before its end. */
  state: 'complete' | 'stopped';
  settings: Record<string, string | number | boolean>;
  inputs: ManifestInput[];
  /** Every file the run wrote, relative to the output folder, `run.json` included. */
  files: string[];
}

/** The output folder cannot be used: a usage error, found before any work. */
export class OutFolderError extends Error {}

/**
 * Makes the output folder ready before any work: creates it (and its parents) when missing, and
 * refuses, naming why, a path that cannot hold files (a part of it is a file, a read-only or special
 * file system, no permission) and a folder that holds an earlier run (its `run.json`) unless
 * `overwrite`: then that run's files are removed first, so no file of it stays beside the new ones.
 * Returns whether it created the folder (a run that writes nothing removes it again).
 */
export function prepareOutFolder(dir: string, options: { overwrite?: boolean } = {}): { created: boolean } {
  const missing: string[] = [];
  let existing = path.resolve(dir);
  while (!existsSync(existing)) {
    missing.unshift(existing);
    existing = path.dirname(existing);
  }
  if (!statSync(existing).isDirectory())
    throw new OutFolderError(`cannot write reports to --out ${dir}: ${existing} is a file, not a folder`);
  try {
    // One level at a time: Node's recursive mkdir never returns under /proc.
    for (const folder of missing) mkdirSync(folder);
    accessSync(dir, constants.W_OK);
  } catch (error) {
    throw new OutFolderError(`cannot write reports to --out ${dir}: ${why(error as NodeJS.ErrnoException)}`);
  }
  const previous = path.join(dir, RUN_MANIFEST);
  if (existsSync(previous)) {
    if (!options.overwrite) {
      throw new OutFolderError(
        `--out ${dir} holds the reports of an earlier run (${previous}): choose another folder, or add --overwrite to replace that run's files`,
      );
    }
    removeRun(dir, previous);
  }
  return { created: missing.length > 0 };
}

/** Removes the output folder when the run created it and wrote nothing into it. */
export function removeIfEmpty(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
}

/** Writes `<out>/run.json`; returns its path. */
export function writeRunManifest(outDir: string, manifest: RunManifest): string {
  const file = path.join(outDir, RUN_MANIFEST);
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return file;
}

/** Builds an input's entry: its files relative to the folder, URLs without credentials. */
export function manifestInput(
  outDir: string,
  entry: Omit<ManifestInput, 'files' | 'input'> & { input: string; files: string[] },
): ManifestInput {
  return { ...entry, input: redactUrl(entry.input), files: entry.files.map((file) => path.relative(outDir, file)) };
}

/** Removes the files an earlier run listed in its manifest (only plain files inside the folder), then the manifest. */
function removeRun(dir: string, manifestFile: string): void {
  let files: unknown;
  try {
    files = (JSON.parse(readFileSync(manifestFile, 'utf8')) as Partial<RunManifest>).files;
  } catch (error) {
    throw new OutFolderError(
      `--out ${dir}: its ${RUN_MANIFEST} cannot be read (${(error as Error).message}); remove the folder's files yourself`,
    );
  }
  const root = path.resolve(dir);
  for (const file of Array.isArray(files) ? files : []) {
    if (typeof file !== 'string') continue;
    const full = path.resolve(root, file);
    if (path.dirname(full) !== root && !full.startsWith(`${root}${path.sep}`)) continue;
    if (existsSync(full) && statSync(full).isFile()) rmSync(full);
  }
  rmSync(manifestFile, { force: true });
}

function why(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOENT':
      return 'the file system there does not let a folder be made';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return error.code ?? error.message;
  }
}

/** `<out>/run.json`: the inputs, the settings, each input's state and files, and every file written. */
export function writeManifest(
  options: RunOptions,
  inputs: RunInput[],
  summaries: InputSummary[],
  run: { startedAt: Date; settings: Pick<IngestSettings, 'liveSampleFps' | 'maxWidth'> },
): void {
  const stopped = summaries.some((s) => s.state === 'stopped');
  const manifestFile = path.join(options.outDir, RUN_MANIFEST);
  const files = [...new Set([...summaries.flatMap((s) => s.reports), manifestFile])].map((file) => path.relative(options.outDir, file));
  writeRunManifest(options.outDir, {
    manifestVersion: 1,
    version: emoVersion,
    startedAt: run.startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    state: stopped ? 'stopped' : 'complete',
    settings: {
      pack: options.pack,
      detectorPack: options.detectorPack,
      modelsDir: options.modelsDir,
      device: options.device ?? 'cpu',
      bus: options.kafkaBrokers ? 'kafka' : 'memory',
      liveFps: options.liveFps || run.settings.liveSampleFps,
      maxWidth: options.maxWidth || run.settings.maxWidth,
      features: Boolean(options.features),
      video: options.video !== false,
      perTrackCsv: Boolean(options.perTrackCsv),
      graceSeconds: (options.drainGraceMs ?? 10_000) / 1000,
    },
    inputs: summaries.map((s, i) =>
      manifestInput(options.outDir, {
        input: s.input,
        name: inputs[i]!.name,
        state: s.state,
        complete: s.state === 'ended' && !s.error,
        sampledFrames: s.sampledFrames,
        totalFrames: s.totalFrames,
        faces: s.faces,
        tracks: s.tracks,
        ...(s.tracksClosedAtStop?.length ? { tracksClosedAtStop: s.tracksClosedAtStop } : {}),
        files: s.reports,
        ...(s.error ? { error: s.error } : {}),
      }),
    ),
    files,
  });
}
