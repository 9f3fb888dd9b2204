import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseSource, type Source, type SourceKind } from '@emostream/ingest';

/** One thing `emo run` reads: a video file, or a live source (RTSP, HTTP, webcam). */
export interface RunInput {
  /** What the user typed (or the file found in a folder they named). */
  input: string;
  /** Stream id, and the base name of the input's reports. */
  name: string;
  kind: SourceKind;
  live: boolean;
  /** A still image: its faces go to a table of faces (`<group>.faces.csv`) and an annotated copy, not a video report. */
  image?: boolean;
  /** The images of one folder share one table of faces, named after the folder (a lone image: after itself). */
  group?: string;
  /** Known before reading to make no report (a folder without media, an empty file): its summary names it. */
  problem?: string;
}

/** Containers ffmpeg reads that people keep video in; a folder input takes every such file in it. */
const VIDEO_EXTENSIONS = new Set([
  '.mp4',
  '.m4v',
  '.mov',
  '.mkv',
  '.webm',
  '.avi',
  '.flv',
  '.wmv',
  '.mpg',
  '.mpeg',
  '.ts',
  '.mts',
  '.3gp',
  '.gif',
]);
/** Still images (ffmpeg reads them as one-frame videos). */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff']);

export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(file).toLowerCase());
}

export class InputError extends Error {}

/**
 * Turns the command line's inputs into streams: a folder becomes every video and image file directly in
 * it (sorted, like the reference's `run.py --path_video`; its images share one table of faces), URLs and `webcam[:/dev/videoN]` stay live
 * sources, anything else is a file (a missing one is reported when it is read, with the others
 * still running). A folder without media and an empty file are inputs with a `problem`: they fail on
 * their own, like a missing file. Fails (a usage error) for an unsupported URL scheme.
 */
export function expandInputs(args: string[]): RunInput[] {
  const expanded = args.flatMap((arg): { input: string; source: Source; group?: string; problem?: string }[] => {
    let source: Source;
    try {
      source = parseSource(arg);
    } catch (error) {
      throw new InputError((error as Error).message);
    }
    if (source.kind === 'file' && isDirectory(source.input)) {
      const media = readdirSync(source.input)
        .filter((file) => VIDEO_EXTENSIONS.has(path.extname(file).toLowerCase()) || isImageFile(file))
        .sort()
        .map((file) => path.join(arg, file));
      if (media.length === 0)
        return [
          {
            input: arg,
            source,
            problem: `no video or image files in folder (looked for ${[...VIDEO_EXTENSIONS, ...IMAGE_EXTENSIONS].join(' ')})`,
          },
        ];
      const group = baseName(source);
      return media.map((input) => ({ input, source: parseSource(input), ...(isImageFile(input) ? { group } : {}) }));
    }
    // ffmpeg would say "moov atom not found" or "Invalid data" of a file with nothing in it.
    if (source.kind === 'file' && isEmptyFile(source.input)) return [{ input: arg, source, problem: 'empty file (0 bytes)' }];
    return [{ input: arg, source }];
  });
  // Inputs sharing a name get their position appended, so their reports never overwrite each other.
  const names = expanded.map((item) => baseName(item.source));
  return expanded.map(({ input, source, group, problem }, index) => {
    const name = names.filter((n) => n === names[index]).length > 1 ? `${names[index]}-${index + 1}` : names[index]!;
    const image = source.kind === 'file' && isImageFile(source.input);
    return {
      input,
      kind: source.kind,
      live: source.live,
      name,
      ...(image ? { image, group: group ?? name } : {}),
      ...(problem ? { problem } : {}),
    };
  });
}

function isEmptyFile(file: string): boolean {
  try {
    const stat = statSync(file);
    return stat.isFile() && stat.size === 0;
  } catch {
    return false;
  }
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** A readable name for an input: the file's name without extension, a URL's host, port and path, the webcam's device. */
function baseName(source: Source): string {
  const raw =
    source.kind === 'file'
      ? path.basename(source.input).replace(/\.[^.]+$/, '')
      : source.kind === 'webcam'
        ? `webcam-${path.basename(source.input)}`
        : urlName(source.input);
  return raw.replace(/[^A-Za-z0-9._-]/g, '_') || 'input';
}

function urlName(url: string): string {
  const parsed = new URL(url);
  const file = path.basename(parsed.pathname).replace(/\.[^.]+$/, '');
  return [parsed.hostname, parsed.port, file].filter(Boolean).join('-');
}
