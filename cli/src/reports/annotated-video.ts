import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import sharp from 'sharp';
import { EMOTION_LABELS, processSettings, usableCpus, type FaceEmotionEvent } from '@emostream/shared';
import { frameSignatureYuv420, SceneCutDetector } from '@emostream/vision';
import { FifoFrames } from './fifo-frames.js';

/** What the annotated video draws: the faces of each sampled frame, and which frames were sampled. */
export interface Annotations {
  faces: FaceEmotionEvent[];
  /** Every frame the pipeline processed (with a face or not), ascending: a face is drawn until the next one. */
  sampledSeqs: number[];
}

export interface VideoShape {
  width: number;
  height: number;
  fps: number;
}

/**
 * x264's speed/size trade-off for the annotated video, a preview beside the reports. On the 720p demo
 * clip (150 frames, yuv420p in): "ultrafast" at CRF 28 took 0.9 CPU-s for 1.3 MB, "superfast" 1.6 CPU-s
 * for 0.75 MB, "veryfast" 2.0 CPU-s for 0.46 MB; the labels stay legible at CRF 28.
 */
const X264_OPTIONS = ['-preset', 'ultrafast', '-crf', '28'];

/**
 * Threads of the video's decoder and encoder: half the usable CPUs (cores, or a container's quota). They share the machine with the
 * pipeline, which keeps the cores busy; on 2 cores x264 on one thread encoded the demo clip with
 * 0.56 CPU-s where its default threads took 0.72–0.96 (their hand-offs), and `emo run` used 0.38 CPU-s
 * less (issue 29). One thread encodes 720p "ultrafast" at ~270 frames/s, far ahead of the pipeline.
 */
const VIDEO_THREADS = String(Math.max(1, Math.floor(usableCpus() / 2)));

/**
 * Sharing ingest's decode, the frames the FIFO may hold ahead of the drawing. That decoder makes the
 * pipeline's sampled frames and the video's frames together, so the video's read-ahead is how far
 * ingest may run ahead of the sink: too short and the stages starve. On the demo clip (2 cores, 6
 * interleaved rounds each) `emo run` took 5.02 s with 2 sampling intervals ahead against 4.55 s with
 * 8, and 16 were no faster (5.28 s against 5.05 s). Plus a margin of frames for the decoder's own
 * buffering; never more bytes than SHARED_DECODE_BYTES.
 */
function sharedDecodeReadAhead(sampleStep: number): number {
  return SAMPLES_AHEAD * sampleStep + 4;
}
const SAMPLES_AHEAD = 8;
/** The most memory a shared decode's frames may hold; a larger video (4K) decodes on its own instead. */
const SHARED_DECODE_BYTES = 128 * 2 ** 20;
/**
 * See AnnotatedVideo.untilSampled. A lost sampled frame does not need it: the next one covers its
 * frames, and the read-ahead holds 8 intervals. Long, because a healthy pipeline may take seconds
 * for one crowded frame (a ResNet50 backbone on the CPU, ~0.1 CPU-s a face): only one that has
 * reported nothing for a minute while ingest waits is taken as stuck.
 */
const STALLED_MS = 60_000;

/** Whether a video of this shape can share ingest's decode within SHARED_DECODE_BYTES (`sampleStep`: frames between sampled frames). */
export function canShareDecode(video: VideoShape, sampleStep: number): boolean {
  return sharedDecodeReadAhead(sampleStep) * yuv420FrameBytes(video) <= SHARED_DECODE_BYTES;
}

/** A frame's bytes in yuv420p at the video's size padded to even sides (H.264 in 4:2:0). */
function yuv420FrameBytes({ width, height }: Pick<VideoShape, 'width' | 'height'>): number {
  return (width + (width % 2)) * (height + (height % 2)) * 1.5;
}

/**
 * `<name>.annotated.mp4`, written while the pipeline runs: every frame of the input (`inputArgs`:
 * ffmpeg's input options, e.g. `['-i', file]`) with each face's box, "Label: NN.NN%" above it (as the
 * reference draws), its track id, and a small bar chart of the seven probabilities.
 *
 * A face is drawn on the frames its observation covers: from its sampled frame until the next sampled
 * frame (with faces or not), and never past a hard cut. So a frame is drawn once the sink has reported
 * a sampled frame at or after it (`sampled`), or once the input is over (`finish`); until then the
 * decoder waits (the FIFO's back-pressure), a frame or two ahead, or sharing ingest's decode as far
 * ahead as ingest may run (sharedDecodeReadAhead). Boxes are in the source
 * frame's pixels (`event.frame`), scaled to the video's size. An odd width or height is padded by one
 * pixel at the right or bottom (H.264 in 4:2:0 needs even sizes).
 *
 * Cheap by construction: frames travel as yuv420p (what the decoder makes and the encoder takes: no
 * colour conversion, half the bytes of RGB), each frame is read straight into a reused buffer (FifoFrames),
 * the file is decoded once for the pipeline and the video where the read-ahead fits in memory, the overlay of
 * a sampled frame is rendered once (only the region it covers) and alpha-blended onto each frame it covers.
 */
export class AnnotatedVideo {
  /** Frames up to this one may be drawn: the sink has reported a sampled frame at or after it. */
  private known = 0;
  /** The last frame to write (set by `finish`). */
  private last = Number.POSITIVE_INFINITY;
  /** The sampled frames reported so far, ascending, and the first one not yet drawn. */
  private readonly samples: { seq: number; faces: FaceEmotionEvent[] }[] = [];
  private next = 0;
  private wake: (() => void) | undefined;
  private aborted = false;
  /** The video's own decoder; undefined when another ffmpeg writes the frames (`sharedDecode`). */
  private readonly decoder: ChildProcess | undefined;
  private readonly encoder: ChildProcessWithoutNullStreams;
  private readonly frames: FifoFrames;
  private readonly frame: { width: number; height: number; paddedWidth: number; paddedHeight: number };
  /** Resolves to the number of frames written once the video is complete. */
  readonly done: Promise<number>;
  private readonly startedAt = performance.now();
  private endedAt: number | undefined;
  /** Time the writer spent waiting for the pipeline's sampled frames (not working on the video). */
  private waitedMs = 0;
  /** When the sink last reported a sampled frame (or the video started). */
  private lastSampleAt = performance.now();

  /**
   * A video that decodes its input itself (`inputArgs`: ffmpeg's input options, e.g. `['-i', file]`).
   * `AnnotatedVideo.sharingDecode` makes one whose frames another ffmpeg writes.
   */
  constructor(
    inputArgs: string[] | undefined,
    private readonly output: string,
    video: VideoShape,
    /** Sharing a decode: at most this many frames between two sampled frames. */
    sampleStep = 1,
    /** Sharing a decode: see untilSampled. */
    private readonly stalledMs = STALLED_MS,
  ) {
    const { width, height, fps } = video;
    const paddedWidth = width + (width % 2);
    const paddedHeight = height + (height % 2);
    this.frame = { width, height, paddedWidth, paddedHeight };
    // Its own decoder waits for the writer (a frame or two ahead is enough). Another ffmpeg writing
    // the frames also makes the pipeline's sampled frames: it must be able to run ahead of the drawing
    // by the frames the pipeline holds, or neither would move (see sharedDecodeReadAhead).
    this.frames = new FifoFrames(yuv420FrameBytes(video), inputArgs ? 2 : sharedDecodeReadAhead(sampleStep), () => this.wake?.());
    // Their own process group: a Ctrl-C at the terminal stops the run's reading, and the video is then
    // finished up to the last frame processed; a SIGINT reaching these ffmpegs would cut it short.
    // (Should this process die, they end too: the encoder at the end of its input, the decoder on EPIPE.)
    const spawnOptions = { detached: true };
    if (inputArgs) {
      // passthrough: every decoded frame once (no frames duplicated or dropped to keep a constant rate).
      this.decoder = spawn(
        processSettings().ffmpegPath,
        [
          ...['-hide_banner', '-loglevel', 'error', '-y', '-threads', VIDEO_THREADS, ...inputArgs, '-an', '-fps_mode', 'passthrough'],
          ...['-vf', this.rawFilter, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', this.frames.path],
        ],
        { ...spawnOptions, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      // Ended (or failed to start, or before opening the FIFO): what it wrote is all there will be.
      this.decoder.on('close', () => this.frames.writerGone());
      this.decoder.on('error', () => this.frames.writerGone());
      this.decoder.stderr!.resume();
    }
    this.encoder = spawn(
      processSettings().ffmpegPath,
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'yuv420p',
        '-s',
        `${paddedWidth}x${paddedHeight}`,
        '-r',
        String(fps),
        '-i',
        'pipe:0',
        '-c:v',
        'libx264',
        ...X264_OPTIONS,
        '-threads',
        VIDEO_THREADS,
        '-pix_fmt',
        'yuv420p',
        output,
      ],
      spawnOptions,
    );
    this.done = this.write();
    // Whoever awaits `finish` sees a failure; an abandoned video must not be an unhandled rejection.
    this.done.catch(() => undefined);
  }

  /**
   * A video whose frames another ffmpeg decoding the same input writes (`rawFrames`: ingest's, which
   * then decodes the input once for the pipeline and the video). `sampleStep`: the most frames between
   * two sampled frames.
   */
  static sharingDecode(output: string, video: VideoShape, sampleStep: number, stalledMs = STALLED_MS): AnnotatedVideo {
    return new AnnotatedVideo(undefined, output, video, sampleStep, stalledMs);
  }

  /**
   * Sharing a decode: where and how the other ffmpeg writes this video's frames (every decoded frame,
   * `-fps_mode passthrough`, through `filter`, as raw yuv420p into the FIFO at `path`). Undefined when
   * the video decodes its input itself: its FIFO has a writer already.
   */
  get rawFrames(): { path: string; filter: string } | undefined {
    return this.decoder ? undefined : { path: this.frames.path, filter: this.rawFilter };
  }

  /** The video's size, padded to even sides (H.264 in 4:2:0). */
  private get rawFilter(): string {
    const { width, height, paddedWidth, paddedHeight } = this.frame;
    return `scale=${width}:${height},pad=${paddedWidth}:${paddedHeight}`;
  }

  /**
   * Seconds this video's writer worked (decoding, drawing, encoding, its ffmpegs' pipes) from its start
   * to its end (or now), less the time it waited for the pipeline's sampled frames: its share of the
   * run's wall time, as `emo run --json` reports it.
   */
  get workedSeconds(): number {
    return ((this.endedAt ?? performance.now()) - this.startedAt - this.waitedMs) / 1000;
  }

  /** A sampled frame reached the sink with these faces (maybe none): it covers the frames from it on. */
  sampled(seq: number, faces: FaceEmotionEvent[]): void {
    let at = this.samples.length - 1;
    while (at >= 0 && this.samples[at]!.seq > seq) at -= 1;
    if (this.samples[at]?.seq === seq) this.samples[at] = { seq, faces };
    else {
      this.samples.splice(at + 1, 0, { seq, faces });
      // Frames come in order; one that did not and whose frames are written already is too late to draw.
      if (at + 1 < this.next) this.next += 1;
    }
    this.known = Math.max(this.known, seq);
    this.lastSampleAt = performance.now();
    this.wake?.();
  }

  /** The input is over: draws what is left, up to frame `frames` (all decoded frames when not given). */
  finish(frames?: number): Promise<number> {
    this.last = frames ?? Number.POSITIVE_INFINITY;
    this.known = Number.POSITIVE_INFINITY;
    this.wake?.();
    // A shared decoder has ended with the input: if it never opened the FIFO, nothing else would end it.
    if (!this.decoder) this.frames.writerGone();
    return this.done;
  }

  /** Gives the video up (the input had no frame): stops its ffmpegs and removes what was written. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.known = Number.POSITIVE_INFINITY;
    this.wake?.();
    if (this.decoder) this.decoder.kill('SIGKILL');
    else this.frames.writerGone();
    this.encoder.kill('SIGKILL');
    await this.done.catch(() => undefined);
    rmSync(this.output, { force: true });
  }

  private async write(): Promise<number> {
    const { width, height, paddedWidth, paddedHeight } = this.frame;
    const encoderError = collect(this.encoder.stderr);
    // An encoder that cannot start (no ffmpeg at FFMPEG_PATH) emits 'error' and never 'exit'.
    const encoderDone = new Promise<number | string | null>((resolve) => {
      this.encoder.once('exit', (code) => resolve(code));
      this.encoder.once('error', (error) => resolve(`cannot start: ${error.message}`));
    });
    // An encoder that ended early (failed) takes no more frames: nothing waits for samples for it.
    let encoderEnded = false;
    void encoderDone.then(() => {
      encoderEnded = true;
      this.wake?.();
    });
    // A failed encoder closes its input: stop feeding it and report its own message below.
    this.encoder.stdin.on('error', () => this.decoder?.kill('SIGKILL'));
    const over = () => this.aborted || encoderEnded || this.encoder.stdin.destroyed;
    const cuts = new SceneCutDetector();
    let frameNumber = 0;
    let current: FaceEmotionEvent[] = [];
    let overlay: Promise<Overlay> | undefined;
    try {
      for (let frame = await this.frames.next(); frame; frame = await this.frames.next()) {
        frameNumber += 1;
        if (this.known < frameNumber) await this.untilSampled(frameNumber, over);
        if (over() || frameNumber > this.last) break;
        // A new shot ends what was drawn; a sampled frame replaces it with its own faces (maybe none).
        if (cuts.next(frameSignatureYuv420({ data: frame, width, height, stride: paddedWidth, paddedHeight }))) current = [];
        while (this.next < this.samples.length && this.samples[this.next]!.seq <= frameNumber) {
          current = this.samples[this.next++]!.faces;
          overlay = undefined;
        }
        if (current.length > 0) {
          overlay ??= renderOverlay(current, this.frame);
          blend(frame, await overlay);
        }
        // The pipe holds the frame until it is written; then it is free for the next one.
        const written = frame;
        if (!this.encoder.stdin.write(written, () => this.frames.release(written)))
          await Promise.race([once(this.encoder.stdin, 'drain'), encoderDone]);
      }
    } finally {
      // Its own decoder may still hold frames past the last one wanted (a stopped run): not needed.
      // A shared decoder also makes the pipeline's frames: whatever it writes past the last frame
      // drawn (an encoder or a drawing that failed) is read to its end, never left blocking it or
      // cut off (a closed FIFO would fail the input itself).
      if (this.decoder) this.decoder.kill('SIGKILL');
      else await this.readToEnd();
      this.frames.close();
    }
    this.encoder.stdin.end();
    const code = await encoderDone;
    this.endedAt = performance.now();
    if (this.aborted) throw new Error('the annotated video was abandoned');
    if (typeof code === 'string') throw new Error(`ffmpeg could not write ${this.output}: ${code}`);
    if (code !== 0)
      throw new Error(
        `ffmpeg could not write ${this.output} (exit code ${String(code)}): ${(await encoderError).trim().split('\n').slice(-2).join(' | ')}`,
      );
    return Math.min(frameNumber, this.last);
  }

  /** Reads and drops the frames left in the FIFO until its writer ends (a read that fails ends it too). */
  private async readToEnd(): Promise<void> {
    try {
      for (let frame = await this.frames.next(); frame; frame = await this.frames.next()) this.frames.release(frame);
    } catch {
      // The FIFO failed: nothing is left to read from it.
    }
  }

  /**
   * Waits until the sink has reported a sampled frame at or after `frameNumber`, or the video is
   * `over` (aborted, its encoder gone). A shared decoder
   * waits meanwhile once the FIFO holds its read-ahead, and the pipeline waits for the decoder: should
   * no sampled frame come for `stalledMs` (STALLED_MS) then (frames the pipeline lost, dead-lettered), the frame is
   * drawn with what is known rather than the run standing still.
   */
  private async untilSampled(frameNumber: number, over: () => boolean): Promise<void> {
    const since = performance.now();
    while (this.known < frameNumber && !over()) {
      const heldUp = !this.decoder && this.frames.full;
      if (heldUp && performance.now() - this.lastSampleAt >= this.stalledMs) break;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        if (heldUp) timer = setTimeout(resolve, this.stalledMs);
      });
      clearTimeout(timer);
    }
    this.waitedMs += performance.now() - since;
  }
}

/**
 * Writes `<name>.annotated.mp4` when every annotation is known beforehand (a live input's recorded
 * pictures): see AnnotatedVideo.
 */
export async function writeAnnotatedVideo(
  inputArgs: string[],
  output: string,
  video: VideoShape,
  annotations: Annotations,
): Promise<number> {
  const writer = new AnnotatedVideo(inputArgs, output, video);
  const bySeq = new Map<number, FaceEmotionEvent[]>();
  for (const face of annotations.faces) bySeq.set(face.seq, [...(bySeq.get(face.seq) ?? []), face]);
  for (const seq of new Set([...annotations.sampledSeqs, ...bySeq.keys()])) writer.sampled(seq, bySeq.get(seq) ?? []);
  return writer.finish();
}

/**
 * One sampled frame's drawing as the yuv420p samples it changes: for each drawn pixel (alpha > 0) of
 * the luma plane and of the two chroma planes, its offset in the frame, its value and its alpha. Blending
 * then touches only what is drawn, not the empty space between faces.
 */
interface Overlay {
  luma: DrawnSamples;
  /** Chroma at half resolution: alpha-weighted means of each 2 × 2 block, with that block's mean alpha. */
  u: DrawnSamples;
  v: DrawnSamples;
}

interface DrawnSamples {
  offsets: Int32Array;
  values: Uint8Array;
  alphas: Uint8Array;
}

type Region = { x: number; y: number; width: number; height: number };

/**
 * Renders the faces' drawing once (an SVG per face, only the region it covers), as the samples it
 * changes in a yuv420p frame `paddedWidth` × `paddedHeight`. Faces are drawn in order, as in one SVG.
 */
async function renderOverlay(
  faces: FaceEmotionEvent[],
  frame: { width: number; height: number; paddedWidth: number; paddedHeight: number },
): Promise<Overlay> {
  const parts = await Promise.all(
    faces.map(async (face) => {
      const region = overlayRegion(face, frame.width, frame.height);
      if (region.width <= 0 || region.height <= 0) return undefined;
      const { x, y, width, height } = region;
      const svg =
        `<svg width="${width}" height="${height}" viewBox="${x} ${y} ${width} ${height}" xmlns="http://www.w3.org/2000/svg">` +
        `${faceSvg(face, frame.width, frame.height)}</svg>`;
      return toYuvSamples(await sharp(Buffer.from(svg)).ensureAlpha().raw().toBuffer(), region, frame.paddedWidth, frame.paddedHeight);
    }),
  );
  const drawn = parts.filter((part): part is Overlay => part !== undefined);
  return { luma: joined(drawn.map((d) => d.luma)), u: joined(drawn.map((d) => d.u)), v: joined(drawn.map((d) => d.v)) };
}

/** The even-aligned rectangle, inside the (padded) frame, that holds everything `faceSvg` draws for a face. */
function overlayRegion(face: FaceEmotionEvent, frameWidth: number, frameHeight: number): Region {
  const layout = faceLayout(face, frameWidth, frameHeight);
  const { x, y, width, height } = layout.box;
  // The label's text may run a little past its backing rectangle: a font size of slack.
  const left = Math.min(x, layout.chartX - 2);
  const right = Math.max(x + width, x + layout.labelWidth + layout.font, layout.chartX - 2 + CHART_WIDTH);
  const top = Math.min(layout.labelY, y - 2);
  const bottom = Math.max(y + height, y - 2 + CHART_HEIGHT);
  // Stroke width 2 reaches a pixel outside the box; round out to even coordinates for the chroma planes.
  const x0 = Math.max(0, Math.floor((left - 2) / 2) * 2);
  const y0 = Math.max(0, Math.floor((top - 2) / 2) * 2);
  const x1 = Math.min(frameWidth + (frameWidth % 2), Math.ceil((right + 2) / 2) * 2);
  const y1 = Math.min(frameHeight + (frameHeight % 2), Math.ceil((bottom + 2) / 2) * 2);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** RGBA (straight alpha) of a region to the yuv420p samples it changes, BT.601 limited range: what ffmpeg assumes for untagged video. */
function toYuvSamples(rgba: Buffer, region: Region, paddedWidth: number, paddedHeight: number): Overlay {
  const { x, y, width, height } = region;
  const chromaWidth = width / 2;
  const uSum = new Float64Array(chromaWidth * (height / 2));
  const vSum = new Float64Array(uSum.length);
  const aSum = new Float64Array(uSum.length);
  let drawnPixels = 0;
  for (let p = 3; p < rgba.length; p += 4) if (rgba[p] !== 0) drawnPixels++;
  // Typed arrays sized up front: this runs per face per sampled frame, and growing arrays cost GC.
  const luma = samplesOf(drawnPixels);
  let n = 0;
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const p = (row * width + col) * 4;
      const a = rgba[p + 3]!;
      if (a === 0) continue;
      const r = rgba[p]!;
      const g = rgba[p + 1]!;
      const b = rgba[p + 2]!;
      luma.offsets[n] = (y + row) * paddedWidth + x + col;
      luma.values[n] = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
      luma.alphas[n++] = a;
      const c = (row >> 1) * chromaWidth + (col >> 1);
      uSum[c]! += a * (128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
      vSum[c]! += a * (128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
      aSum[c]! += a;
    }
  }
  let drawnBlocks = 0;
  for (let c = 0; c < aSum.length; c++) if (aSum[c] !== 0) drawnBlocks++;
  const u = samplesOf(drawnBlocks);
  const v = samplesOf(drawnBlocks);
  const chromaStride = paddedWidth / 2;
  const uPlane = paddedWidth * paddedHeight;
  const vPlane = uPlane + chromaStride * (paddedHeight / 2);
  n = 0;
  for (let c = 0; c < aSum.length; c++) {
    if (aSum[c] === 0) continue;
    const at = (y / 2 + Math.floor(c / chromaWidth)) * chromaStride + x / 2 + (c % chromaWidth);
    const alpha = Math.round(aSum[c]! / 4);
    u.offsets[n] = uPlane + at;
    u.values[n] = Math.round(uSum[c]! / aSum[c]!);
    u.alphas[n] = alpha;
    v.offsets[n] = vPlane + at;
    v.values[n] = Math.round(vSum[c]! / aSum[c]!);
    v.alphas[n++] = alpha;
  }
  return { luma, u, v };
}

function samplesOf(length: number): DrawnSamples {
  return { offsets: new Int32Array(length), values: new Uint8Array(length), alphas: new Uint8Array(length) };
}

function joined(parts: DrawnSamples[]): DrawnSamples {
  const join = <T extends Int32Array | Uint8Array>(arrays: T[], make: (length: number) => T): T => {
    const out = make(arrays.reduce((n, a) => n + a.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  return {
    offsets: join(
      parts.map((p) => p.offsets),
      (n) => new Int32Array(n),
    ),
    values: join(
      parts.map((p) => p.values),
      (n) => new Uint8Array(n),
    ),
    alphas: join(
      parts.map((p) => p.alphas),
      (n) => new Uint8Array(n),
    ),
  };
}

/**
 * Alpha-blends an overlay's samples onto a yuv420p frame, in place: ⌊(x·(255 − a) + v·a + 127) / 255⌋,
 * in integers (n + 1 + (n >> 8)) >> 8, which is ⌊n / 255⌋ for every n below 65,535, and this n is at
 * most 65,152. It runs on every drawn sample of every frame with faces.
 */
function blend(frame: Buffer, overlay: Overlay): void {
  for (const { offsets, values, alphas } of [overlay.luma, overlay.u, overlay.v]) {
    for (let i = 0; i < offsets.length; i++) {
      const at = offsets[i]!;
      const a = alphas[i]!;
      const n = frame[at]! * (255 - a) + values[i]! * a + 127;
      frame[at] = (n + 1 + (n >> 8)) >> 8;
    }
  }
}

/**
 * Writes an annotated copy of an image (JPEG): its faces drawn as on the annotated video. The image is
 * read as ffmpeg read it for the pipeline (no EXIF rotation), so the boxes fall where they were found.
 */
export async function writeAnnotatedImage(image: string, output: string, faces: FaceEmotionEvent[]): Promise<string> {
  const { data, info } = await sharp(image).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const drawn = faces.length === 0 ? data : await overlayImage(data, info.width, info.height, faces);
  await sharp(drawn, { raw: { width: info.width, height: info.height, channels: 3 } })
    .jpeg({ quality: 92 })
    .toFile(output);
  return output;
}

function collect(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  stream.on('data', (chunk) => (text += String(chunk)));
  return once(stream, 'end').then(
    () => text,
    () => text,
  );
}

async function overlayImage(frame: Buffer, width: number, height: number, faces: FaceEmotionEvent[]): Promise<Buffer> {
  const svg = `<svg width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">${faces.map((f) => faceSvg(f, width, height)).join('')}</svg>`;
  return sharp(frame, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg) }])
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** The face's box (source frame pixels) in a picture of the given size. */
export function boxInPicture(
  face: Pick<FaceEmotionEvent, 'box' | 'frame'>,
  width: number,
  height: number,
): { x: number; y: number; width: number; height: number } {
  const sx = width / face.frame.width;
  const sy = height / face.frame.height;
  return { x: face.box.x * sx, y: face.box.y * sy, width: face.box.width * sx, height: face.box.height * sy };
}

const BAR_LABELS = EMOTION_LABELS.map((l) => l.slice(0, 3));
const CHART_WIDTH = 90;
const CHART_HEIGHT = 7 * 13 + 4;

/** Where a face's drawing goes: its box, the label above it and the probability chart beside it. */
function faceLayout(face: FaceEmotionEvent, frameWidth: number, frameHeight: number) {
  const box = boxInPicture(face, frameWidth, frameHeight);
  const font = Math.max(11, Math.round(box.width / 7));
  const text = `${face.label}: ${(face.confidence * 100).toFixed(2)}%`;
  // The bar chart sits right of the box, or left of it when the box touches the right edge.
  const chartX = box.x + box.width + 6 + CHART_WIDTH < frameWidth ? box.x + box.width + 6 : Math.max(0, box.x - CHART_WIDTH - 6);
  return { box, font, text, labelY: Math.max(0, box.y - font - 8), labelWidth: Math.round(text.length * font * 0.62), chartX };
}

function faceSvg(face: FaceEmotionEvent, frameWidth: number, frameHeight: number): string {
  const { box, font, text, labelY, labelWidth, chartX } = faceLayout(face, frameWidth, frameHeight);
  const { x, y, width, height } = box;
  const bars = EMOTION_LABELS.map((label, i) => {
    const p = face.probabilities[label];
    const rowY = y + i * 13;
    return (
      `<text x="${chartX}" y="${rowY + 10}" font-family="DejaVu Sans, sans-serif" font-size="10" fill="white">${BAR_LABELS[i]}</text>` +
      `<rect x="${chartX + 26}" y="${rowY + 2}" width="${(p * (CHART_WIDTH - 28)).toFixed(1)}" height="9" fill="${label === face.label ? '#00e676' : '#90caf9'}"/>`
    );
  }).join('');
  return (
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" fill="none" stroke="#00e676" stroke-width="2"/>` +
    `<rect x="${x}" y="${labelY}" width="${labelWidth}" height="${font + 6}" fill="black" fill-opacity="0.6"/>` +
    `<text x="${x + 2}" y="${Math.max(font, y - 6)}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="white">${text}</text>` +
    `<text x="${x + 3}" y="${y + height - 4}" font-family="DejaVu Sans, sans-serif" font-size="${Math.max(10, font - 2)}" fill="yellow">#${face.trackId}</text>` +
    `<rect x="${chartX - 2}" y="${y - 2}" width="${CHART_WIDTH}" height="${CHART_HEIGHT}" fill="black" fill-opacity="0.55"/>` +
    bars
  );
}
