import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import Pipe2Jpeg from 'pipe2jpeg';
import { processSettings, StageError } from '@emostream/shared';
import { answerCapabilityChecks, ffmpegCapabilities, type FfmpegCapabilities } from './ffmpeg-capabilities.js';
import { SourceRefusedError } from './source-policy.js';
import { inputOptions, type Source } from './sources.js';

/** One sampled frame as ffmpeg encoded it. */
export interface SampledFrame {
  jpeg: Buffer;
  /** Files: the original 1-based frame number (the reference's numbering). Live: 1-based count of this session's frames. */
  frameNumber: number;
  /** Media time of the frame. */
  ptsMs: number;
  width: number;
  height: number;
  /** Size of the decoded frame before any scaling for transport: the pixel space of the face boxes. */
  sourceWidth: number;
  sourceHeight: number;
}

export interface VideoInfo {
  fps: number;
  width: number;
  height: number;
  /** Frames the container declares, when it does. */
  declaredFrames: number | undefined;
  /** Duration the container declares, when it does. */
  durationMs: number | undefined;
}

export type Sampling =
  /** Files: every k-th decoded frame, starting with the first (frames 1, 1+k, …). */
  | { kind: 'every'; step: number }
  /** Live sources: a fixed rate. */
  | { kind: 'rate'; fps: number };

export interface ReadOptions {
  sampling: Sampling;
  /** Wider frames are scaled down to this width (0 keeps the size): detection rarely needs more, and Kafka messages stay small. */
  maxWidth: number;
  /** JPEG quality, 1–100. */
  jpegQuality: number;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  signal?: AbortSignal;
  /** Every decoded frame also goes, raw, to another reader (emo run's annotated video): see RawFramesCopy. */
  rawFrames?: RawFramesCopy;
}

/**
 * Every decoded frame (sampled or not, `-fps_mode passthrough`) through `filter`, as raw yuv420p
 * into `path`: a FIFO its reader has opened (emo run's annotated video). The input is then decoded
 * once for the pipeline and the video. The reader must keep reading: a FIFO it stops reading holds
 * up the sampled frames too.
 */
export interface RawFramesCopy {
  path: string;
  filter: string;
}

/** What a finished read saw: every decoded frame is counted, sampled or not (the reports need the total). */
export interface ReadSummary {
  decodedFrames: number;
  lastPtsMs: number;
  /** Decoder complaints (corrupt packets, truncated data), for a clear error. */
  warnings: string[];
}

/** Asks ffprobe for the first video stream's frame rate, size (as decoded: upright) and declared length. */
export function probeVideo(source: Source, timeouts: { connectTimeoutMs: number; readTimeoutMs: number }): Promise<VideoInfo> {
  return new Promise((resolve, reject) => {
    ffmpeg.ffprobe(source.input, inputOptions(source, timeouts), (error: Error | null, data) => {
      if (error) {
        reject(
          formatRefusal(source, String(error.message)) ??
            // A live source that cannot be opened now may be back later (it reconnects); a file stays unreadable.
            new StageError(
              source.live ? 'SOURCE_FAILED' : 'SOURCE_UNREADABLE',
              `cannot open ${source.input}: ${withInstallHint(lastLine(String(error.message)))}`,
              {
                cause: error,
              },
            ),
        );
        return;
      }
      const video = data.streams.find((s) => s.codec_type === 'video');
      if (!video || !video.width || !video.height) {
        reject(new StageError('SOURCE_NO_VIDEO', `${source.input} has no video stream`));
        return;
      }
      const fps = parseRate(video.avg_frame_rate) ?? parseRate(video.r_frame_rate);
      if (!fps) {
        reject(new StageError('SOURCE_NO_FRAME_RATE', `${source.input}: ffprobe reports no frame rate`));
        return;
      }
      const declared = Number(video.nb_frames);
      // Streams often report "N/A"; the container's header (FLV metadata, MP4 moov) usually knows.
      const duration = [Number(video.duration), Number(data.format.duration)].find((d) => Number.isFinite(d) && d > 0);
      // ffmpeg turns a rotated video (a phone's display matrix) upright as it decodes: a quarter turn
      // swaps the sides of the frames everything downstream sees, the annotated video's included.
      const rotation = Number((video as { rotation?: unknown }).rotation ?? (video.tags as { rotate?: unknown } | undefined)?.rotate ?? 0);
      const quarterTurn = Math.abs(Math.round(rotation / 90)) % 2 === 1;
      resolve({
        fps,
        width: quarterTurn ? video.height : video.width,
        height: quarterTurn ? video.width : video.height,
        declaredFrames: Number.isFinite(declared) && declared > 0 ? declared : undefined,
        durationMs: duration === undefined ? undefined : duration * 1000,
      });
    });
  });
}

function parseRate(rate: string | undefined): number | undefined {
  if (!rate) return undefined;
  const [num, den] = rate.split('/').map(Number);
  const value = den ? num! / den : num!;
  return Number.isFinite(value) && value > 0 && value < 1000 ? value : undefined;
}

let program: string | undefined;

/**
 * The ffmpeg to run (FFMPEG_PATH, a process setting), told to fluent-ffmpeg once so that any question
 * it asks itself runs the same program as the frames do.
 */
function ffmpegProgram(): string {
  if (program === undefined) {
    program = processSettings().ffmpegPath;
    ffmpeg.setFfmpegPath(program);
  }
  return program;
}

/**
 * What every `readFrames` needs from ffmpeg first (the `showinfo` option, the formats and encoders
 * fluent-ffmpeg checks each command against: see FfmpegCapabilities), once a process. Read from the
 * cache on disk it takes a millisecond; asked (the first process after ffmpeg changed) it takes several
 * ffmpeg starts, so a process that is about to read calls this while it loads its models. Never
 * rejects: undefined when ffmpeg cannot answer, and the failure shows where the frames are read.
 */
export function warmUpFfmpeg(): Promise<FfmpegCapabilities | undefined> {
  capabilities ??= ffmpegCapabilities(ffmpegProgram());
  return capabilities;
}
let capabilities: Promise<FfmpegCapabilities | undefined> | undefined;

/**
 * Decodes `source` with ffmpeg and yields its sampled frames as JPEG, in order. The filter graph logs
 * every decoded frame (showinfo) before sampling, so each output JPEG is paired with its original frame
 * number and presentation time, and the summary counts all decoded frames. Ends when the source ends,
 * the signal aborts, or throws a StageError when ffmpeg fails.
 */
export async function* readFrames(source: Source, options: ReadOptions, summary?: ReadSummary): AsyncGenerator<SampledFrame> {
  const stats: ReadSummary = summary ?? { decodedFrames: 0, lastPtsMs: 0, warnings: [] };
  // Only wider frames are scaled (to an even height); others keep their exact size, odd or not.
  const w = options.maxWidth;
  const scale = w > 0 ? `,scale=w='min(iw,${w})':h='if(gt(iw,${w}),2*trunc(ih*${w}/iw/2),ih)'` : '';
  // Every answer fluent-ffmpeg checks the command against, known before it starts: a stream started
  // while the warm-up's questions were still out asked ffmpeg's formats a second time.
  const known = await warmUpFfmpeg();
  // The filter that numbers the decoded frames; plain where ffmpeg could not say (its command then fails anyway).
  const info = known?.showinfo ?? 'showinfo';
  const filter =
    options.sampling.kind === 'every'
      ? `${info},select='not(mod(n\\,${options.sampling.step}))'${scale}`
      : `fps=${options.sampling.fps},${info}${scale}`;

  const splitter = new Pipe2Jpeg();
  const jpegs: Buffer[] = [];
  const selected: { frameNumber: number; ptsMs: number; sourceWidth: number; sourceHeight: number }[] = [];
  let finished = false;
  let failure: Error | undefined;
  /** ffmpeg's line saying it refused the input's format (-format_whitelist) or certificate (-tls_verify), if it did. */
  let refusedFormat: string | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };

  const command = ffmpeg(source.input).inputOptions(inputOptions(source, options));
  if (known) answerCapabilityChecks(command, known);
  const raw = options.rawFrames;
  // With a raw copy the decoded frames are split: one branch sampled to JPEG, the other every frame
  // raw to the FIFO (fluent-ffmpeg gives the first output added the options set before it).
  if (raw) {
    command
      .complexFilter(`[0:v]split=2[sampled][every];[sampled]${filter}[jpeg];[every]${raw.filter}[raw]`)
      .outputOptions(['-map', '[raw]', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'yuv420p'])
      .output(raw.path);
  }
  const stdout = new PassThrough();
  command
    .output(stdout)
    .outputOptions([
      ...(raw ? ['-map', '[jpeg]'] : ['-vf', filter]),
      ...['-an', '-sn', '-dn', '-fps_mode', 'passthrough', '-q:v', String(qscale(options.jpegQuality))],
    ])
    .videoCodec('mjpeg')
    .format('image2pipe')
    .on('stderr', (line: string) => {
      const info = /Parsed_showinfo.*\bn:\s*(\d+)\s+pts:\s*-?\d+\s+pts_time:(-?[\d.]+).*\bs:(\d+)x(\d+)/.exec(line);
      if (info) {
        const n = Number(info[1]);
        // showinfo sits before the scale filter: this is the source's own frame size.
        const source = { sourceWidth: Number(info[3]), sourceHeight: Number(info[4]) };
        const ptsMs = Math.max(0, Math.round(Number(info[2]) * 1000));
        stats.decodedFrames = Math.max(stats.decodedFrames, n + 1);
        stats.lastPtsMs = ptsMs;
        if (options.sampling.kind === 'rate' || n % options.sampling.step === 0) selected.push({ frameNumber: n + 1, ptsMs, ...source });
        notify();
      } else if (/not on (the )?whitelist|certificate failed verification/i.test(line)) {
        refusedFormat = line.trim();
      } else if (/corrupt|truncat|invalid|error|end of .* stream/i.test(line) && stats.warnings.length < 20) {
        stats.warnings.push(line.trim());
      }
    })
    .on('error', (error: Error) => {
      // fluent-ffmpeg reports "Output stream closed" when ffmpeg's stdout closes before its exit event
      // arrives (a race under load); ffmpeg closes stdout only when it has written everything, so that
      // is an end, not a failure. A file cut short is still caught by the truncation check.
      if (!options.signal?.aborted && error.message !== 'Output stream closed') {
        failure =
          formatRefusal(source, refusedFormat ?? error.message) ??
          // A live source failing mid-stream reconnects; a file that fails part-way is broken for good.
          new StageError(
            source.live ? 'SOURCE_FAILED' : 'SOURCE_BROKEN',
            `ffmpeg failed on ${source.input}: ${withInstallHint(lastLine(error.message))}`,
            {
              cause: error,
            },
          );
      }
      finished = true;
      notify();
    })
    .on('end', () => {
      finished = true;
      notify();
    });

  // pipe2jpeg announces each complete image with a 'jpeg' event (its readable side only works with
  // old-style pipes), so ffmpeg's stdout is fed to it by hand, and paused for backpressure.
  splitter.on('jpeg', (jpeg: Buffer) => {
    jpegs.push(jpeg);
    // Stop reading ffmpeg's output (and so ffmpeg) while the consumer is behind.
    if (jpegs.length > 8) stdout.pause();
    notify();
  });
  // fluent-ffmpeg starts ffmpeg a moment after pipe() (it checks ffmpeg's capabilities first), and
  // kill() before then does nothing: a reader stopped in that window killed nothing, waited for an
  // end that never came (so did the stream's stop), and the ffmpeg started later read on unwatched.
  let started = false;
  let stopped = false;
  const stop = () => {
    stopped = true;
    if (started) command.kill('SIGKILL');
  };
  command.on('start', () => {
    started = true;
    if (stopped) command.kill('SIGKILL');
  });
  command.run();
  stdout.on('data', (chunk: Buffer) => splitter.write(chunk));
  const abort = () => {
    stop();
    notify();
  };
  options.signal?.addEventListener('abort', abort, { once: true });

  try {
    for (;;) {
      if (jpegs.length > 0 && selected.length > 0) {
        const jpeg = jpegs.shift()!;
        const { frameNumber, ptsMs, sourceWidth, sourceHeight } = selected.shift()!;
        if (jpegs.length <= 2) stdout.resume();
        const { width, height } = jpegSize(jpeg);
        yield { jpeg, frameNumber, ptsMs, width, height, sourceWidth, sourceHeight };
        continue;
      }
      if (finished && (jpegs.length === 0 || selected.length === 0)) break;
      if (options.signal?.aborted) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure) throw failure;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    if (!finished) stop();
  }
}

/** ffmpeg's MJPEG quantiser scale runs 2 (best) … 31 (worst); map quality 1–100 onto it. */
function qscale(quality: number): number {
  const q = Math.min(100, Math.max(1, quality));
  return Math.round(31 - ((q - 1) / 99) * 29);
}

/** Width and height from a baseline or progressive JPEG's SOF marker. */
export function jpegSize(jpeg: Buffer): { width: number; height: number } {
  let offset = 2;
  while (offset + 9 < jpeg.length) {
    if (jpeg[offset] !== 0xff) {
      offset += 1;
      continue;
    }
    const marker = jpeg[offset + 1]!;
    const length = jpeg.readUInt16BE(offset + 2);
    // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: jpeg.readUInt16BE(offset + 5), width: jpeg.readUInt16BE(offset + 7) };
    }
    offset += 2 + length;
  }
  throw new StageError('JPEG_NO_SIZE', 'JPEG without a frame header');
}

/**
 * ffmpeg refused the source's format (`-format_whitelist`): a playlist (HLS, DASH) or a list of other
 * URLs, whose segments could lie on any host, past the policy; or its certificate (`-tls_verify`).
 * Refused for good, not retried.
 */
function formatRefusal(source: Source, message: string): SourceRefusedError | undefined {
  if (/certificate failed verification/i.test(message)) {
    return new SourceRefusedError('TLS_NOT_VERIFIED', `${source.input}: the certificate does not verify (ffmpeg: ${lastLine(message)})`);
  }
  if (!/not on (the )?whitelist/i.test(message)) return undefined;
  const format = /\[(\w+) @/.exec(message)?.[1];
  return new SourceRefusedError(
    'FORMAT_NOT_ALLOWED',
    `${source.input} is ${format ? `in format ${format}, ` : ''}a playlist or another format ingest does not open from the network (HLS, DASH, concat…: its segments could be on any host); serve the video itself`,
  );
}

/**
 * fluent-ffmpeg's and spawn's words for an ffmpeg or ffprobe that is not there ("Cannot find
 * ffprobe", "spawn … ENOENT"), with what to do about it.
 */
function withInstallHint(message: string): string {
  return /Cannot find ff(mpeg|probe)|spawn \S+ ENOENT/.test(message)
    ? `${message} (ffmpeg and ffprobe are needed: scripts/install-system-deps.sh installs them; FFMPEG_PATH names another ffmpeg)`
    : message;
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-2).join(' | ') || text;
}
