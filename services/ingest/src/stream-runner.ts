import { BusError, makeMessage, moduleLogger, samplingStep, StageError, toStageError, topics, type Logger } from '@emostream/shared';
import type { IngestSettings } from './config.js';
import { probeVideo, readFrames, type RawFramesCopy, type ReadSummary, type SampledFrame, type VideoInfo } from './ffmpeg-frames.js';
import type { IngestMetrics } from './metrics.js';
import { assertReadable, parseSource, type Source } from './sources.js';

/** The transported frame's size and its source's (before ingest scaled it down). */
type FrameSize = Pick<SampledFrame, 'width' | 'height' | 'sourceWidth' | 'sourceHeight'>;

export type FrameMessage = ReturnType<typeof makeMessage<typeof topics.frames.schema>>;

export interface StreamDefinition {
  streamId: string;
  url: string;
  /** Frames per second for live sources; 0 = the ingest default. Files always use the reference's sampling. */
  sampleFps: number;
  /** 0 = the ingest default. */
  maxWidth: number;
  /**
   * Frames up to this number were already published by an earlier run of this stream (on this or
   * another replica: ingest's progress topic says so). Files: they are decoded but not published
   * again. Live sources: numbering continues after it, the first frame marked as after a gap.
   */
  resumeAfter?: number;
  /**
   * A stop ends the stream for good: an end-of-stream marker follows the last frame, so downstream
   * stages close its tracks and reports (emo run's Ctrl-C). Services leave it unset: there a stop is
   * a rebalance and another replica carries on with the stream.
   */
  endOnStop?: boolean;
  /** Live sources only: reconnect when the source ends or fails (default). Off, the end of the source ends the stream. */
  reconnect?: boolean;
}

/** A file's sampling: every k-th frame, k from its frame rate as the reference takes it. */
export function fileSampleStep(fps: number): number {
  // The reference cannot sample videos under 3 fps (its k is 0); ingest takes every frame of those.
  return fps < 3 ? 1 : samplingStep(fps);
}

export type StreamOutcome =
  | { state: 'ended'; frames: number; decodedFrames: number }
  | { state: 'failed'; frames: number; error: StageError }
  | { state: 'stopped'; frames: number };

export interface StreamRunnerDeps {
  /**
   * Writes one frame downstream; resolves once it is safe (acknowledged). It waits out a bus that is
   * away; `signal` (the runner's stop) ends the wait with a rejection.
   */
  publish(frame: FrameMessage, signal: AbortSignal): Promise<void>;
  metrics: IngestMetrics;
  settings: IngestSettings;
  logger?: Logger;
  now?: () => number;
  random?: () => number;
  /**
   * Before every connection: what ffmpeg opens (the source policy's check, credential references
   * resolved, HTTP redirects followed and checked). Throws to refuse. Unset: the source as parsed (emo run).
   */
  prepareSource?: (source: Source, signal: AbortSignal) => Promise<Source>;
  /**
   * Files: what ffprobe already said of this source, when the caller asked it (`emo run` does, for its
   * progress bar and annotated video), so it is not asked twice. Unset: the runner probes the file.
   */
  probed?: VideoInfo;
  /**
   * Files: every decoded frame also goes, raw, to this FIFO (`emo run`'s annotated video), so the
   * file is decoded once for both. Unset: only the sampled frames are made.
   */
  rawFrames?: RawFramesCopy;
  /**
   * Whether the failure that ends the stream is logged (default true). `emo run` prints it in the
   * input's summary instead, so the user reads each error once.
   */
  logFinalFailure?: boolean;
  /**
   * Told of each frame published and each reconnect, for the stream's status (ingest's
   * stream-status topic); the outcome itself is `done`. Must not throw or block. Unset: not told (emo run).
   */
  onEvent?: (event: StreamEvent) => void;
}

/** What a runner tells `onEvent` while it runs. */
export type StreamEvent = { kind: 'frame'; frames: number } | { kind: 'reconnecting'; attempt: number; error: StageError };

/**
 * Reads one stream until it ends, fails for good, or is stopped.
 * - Files: the reference's sampling (frames 1, 1+k, …), original frame numbers as `seq`, and an
 *   end-of-stream marker after the last frame. A file that cannot be opened fails at once.
 * - Live sources: sampled at a fixed rate; on any failure or disconnect they reconnect with
 *   exponential back-off and jitter, forever, counting each attempt; the first frame after a
 *   reconnect carries `gapBefore` (the gap marker).
 * Failures are logged and counted for this stream only; other streams never notice.
 */
export class StreamRunner {
  readonly done: Promise<StreamOutcome>;
  private readonly abort = new AbortController();
  private readonly logger: Logger;
  private published = 0;
  /** Number of the last frame published (files: the original frame number). */
  lastPublishedSeq = 0;

  constructor(
    readonly definition: StreamDefinition,
    private readonly deps: StreamRunnerDeps,
  ) {
    this.logger = deps.logger ?? moduleLogger('ingest', { stream: definition.streamId });
    this.done = this.run();
  }

  /** Stops reading (ffmpeg is killed) and resolves when the runner has finished. */
  async stop(): Promise<StreamOutcome> {
    this.abort.abort();
    return this.done;
  }

  private async run(): Promise<StreamOutcome> {
    const { streamId } = this.definition;
    let source: Source;
    try {
      source = parseSource(this.definition.url);
    } catch (error) {
      return this.fail(toStageError(error));
    }
    this.deps.metrics.running.inc();
    try {
      return source.live ? await this.runLive(source) : await this.runFile(source);
    } finally {
      this.deps.metrics.running.dec();
      this.logger.info({ streamId, frames: this.published }, 'stream runner finished');
    }
  }

  private async runFile(parsed: Source): Promise<StreamOutcome> {
    const { settings } = this.deps;
    const summary: ReadSummary = { decodedFrames: 0, lastPtsMs: 0, warnings: [] };
    let lastFrame: FrameMessage | undefined;
    try {
      const source = await this.prepare(parsed);
      assertReadable(source);
      const info = this.deps.probed ?? (await probeVideo(source, settings));
      const step = fileSampleStep(info.fps);
      this.logger.info({ file: source.input, fps: info.fps, step, width: info.width, height: info.height }, 'reading file');
      const options = { ...this.readOptions({ kind: 'every', step }), ...(this.deps.rawFrames ? { rawFrames: this.deps.rawFrames } : {}) };
      for await (const frame of readFrames(source, options, summary)) {
        if (frame.frameNumber <= (this.definition.resumeAfter ?? 0)) continue;
        lastFrame = (await this.publishFrame(frame.frameNumber, frame.ptsMs, frame, frame.jpeg, false)) ?? lastFrame;
      }
      if (this.abort.signal.aborted) return await this.stopped(lastFrame, summary);
      const truncation = describeTruncation(info.durationMs, info.fps, summary);
      if (truncation) this.reportError(new StageError('SOURCE_TRUNCATED', truncation));
      await this.publishEndOfStream(lastFrame, summary);
      return { state: 'ended', frames: this.published, decodedFrames: summary.decodedFrames };
    } catch (error) {
      if (this.abort.signal.aborted) return await this.stopped(lastFrame, summary);
      const failure = toStageError(error);
      // The bus refused the frames for good (publishing waits out any outage): no end marker can
      // go out either, and the stream is not finished — the replica fails (see IngestWorker).
      if (failure instanceof BusError) return this.fail(failure);
      // Whatever was published before the failure is followed by an end marker, so downstream
      // stages can still close the stream's tracks and reports.
      if (this.published > 0) await this.publishEndOfStream(lastFrame, summary);
      return this.fail(failure);
    }
  }

  private async runLive(parsed: Source): Promise<StreamOutcome> {
    const { settings, metrics } = this.deps;
    const now = this.deps.now ?? Date.now;
    const startedAt = now();
    let failures = 0;
    const seqBase = this.definition.resumeAfter ?? 0;
    let gapPending = seqBase > 0;
    let sessionFrames = 0;
    let lastFrame: FrameMessage | undefined;
    let lastError: StageError | undefined;
    const noDecoding: ReadSummary = { decodedFrames: 0, lastPtsMs: 0, warnings: [] };
    const fps = this.definition.sampleFps > 0 ? this.definition.sampleFps : settings.liveSampleFps;
    while (!this.abort.signal.aborted) {
      sessionFrames = 0;
      try {
        const source = await this.prepare(parsed);
        try {
          assertReadable(source);
          for await (const frame of readFrames(source, this.readOptions({ kind: 'rate', fps }))) {
            // Live media time restarts with every connection; wall-clock time since the stream started stays monotonic.
            const published = await this.publishFrame(seqBase + this.published + 1, now() - startedAt, frame, frame.jpeg, gapPending);
            if (!published) continue;
            lastFrame = published;
            gapPending = false;
            sessionFrames += 1;
            failures = 0;
          }
        } catch (error) {
          // ffmpeg failed because the guard cut its connection: the guard's reason, not ffmpeg's.
          throw source.refusal?.() ?? error;
        } finally {
          source.release?.();
        }
        const refusal = source.refusal?.();
        if (refusal) throw refusal;
        if (this.abort.signal.aborted) break;
        if (this.definition.reconnect === false) {
          if (this.published > 0) await this.publishEndOfStream(lastFrame, noDecoding);
          return { state: 'ended', frames: this.published, decodedFrames: this.published };
        }
        this.logger.warn({ url: this.definition.url, sessionFrames }, 'live source ended; reconnecting');
        lastError = new StageError('SOURCE_ENDED', `the live source ended after ${sessionFrames} frames`);
      } catch (error) {
        if (this.abort.signal.aborted) break;
        const failure = toStageError(error);
        if (this.definition.reconnect === false || !failure.retriable) {
          if (this.published > 0) await this.publishEndOfStream(lastFrame, noDecoding);
          return this.fail(failure);
        }
        this.reportError(failure);
        lastError = failure;
      }
      gapPending = gapPending || this.published > 0;
      failures += 1;
      metrics.reconnects.inc({ stream: this.definition.streamId });
      this.deps.onEvent?.({ kind: 'reconnecting', attempt: failures, error: lastError });
      const delay = backoffMs(failures, settings.reconnectInitialMs, settings.reconnectMaxMs, this.deps.random ?? Math.random);
      this.logger.info({ attempt: failures, delayMs: delay }, 'reconnecting');
      await abortableSleep(delay, this.abort.signal);
    }
    return this.stopped(lastFrame, noDecoding);
  }

  private prepare(source: Source): Promise<Source> {
    return this.deps.prepareSource ? this.deps.prepareSource(source, this.abort.signal) : Promise.resolve(source);
  }

  private async stopped(lastFrame: FrameMessage | undefined, summary: ReadSummary): Promise<StreamOutcome> {
    if (this.definition.endOnStop && this.published > 0) await this.publishEndOfStream(lastFrame, summary);
    return { state: 'stopped', frames: this.published };
  }

  private readOptions(sampling: { kind: 'every'; step: number } | { kind: 'rate'; fps: number }) {
    const { settings } = this.deps;
    return {
      sampling,
      maxWidth: this.definition.maxWidth > 0 ? this.definition.maxWidth : settings.maxWidth,
      jpegQuality: settings.jpegQuality,
      connectTimeoutMs: settings.connectTimeoutMs,
      readTimeoutMs: settings.readTimeoutMs,
      signal: this.abort.signal,
    };
  }

  /**
   * Publishes one frame; resolves to it, or to undefined when the frame was dropped (counted):
   * over INGEST_MAX_FRAME_BYTES, or refused by the broker as too large. Only that frame is lost:
   * the stream goes on, and other streams' frames never share its fate (see TransactionalPublisher).
   */
  private async publishFrame(
    seq: number,
    ptsMs: number,
    size: FrameSize,
    jpeg: Buffer,
    gapBefore: boolean,
  ): Promise<FrameMessage | undefined> {
    const { width, height, sourceWidth, sourceHeight } = size;
    const drop = (reason: 'too_large' | 'refused_by_broker', why: string) => {
      this.deps.metrics.framesDropped.inc({ stream: this.definition.streamId, reason });
      this.logger.warn({ seq, bytes: jpeg.length, width, height, reason, why }, 'frame dropped: too large to publish');
      return undefined;
    };
    if (jpeg.length > this.deps.settings.maxFrameBytes) {
      return drop('too_large', `${jpeg.length} bytes, over INGEST_MAX_FRAME_BYTES (${this.deps.settings.maxFrameBytes})`);
    }
    const frame = makeMessage(topics.frames, {
      ref: {
        streamId: this.definition.streamId,
        seq,
        ptsMs,
        capturedAtMs: (this.deps.now ?? Date.now)(),
        width,
        height,
        sourceWidth,
        sourceHeight,
        gapBefore,
      },
      jpeg,
    });
    try {
      await this.deps.publish(frame, this.abort.signal);
    } catch (error) {
      if (error instanceof BusError && error.code === 'RECORD_TOO_LARGE') return drop('refused_by_broker', error.message);
      throw error;
    }
    this.published += 1;
    this.lastPublishedSeq = seq;
    this.deps.metrics.frames.inc({ stream: this.definition.streamId });
    this.deps.onEvent?.({ kind: 'frame', frames: this.published });
    return frame;
  }

  /** A frame without picture that says "this stream ended", numbered after the last decoded frame. */
  private async publishEndOfStream(last: FrameMessage | undefined, summary: ReadSummary): Promise<void> {
    const ref = last?.ref;
    await this.deps.publish(
      makeMessage(topics.frames, {
        ref: {
          streamId: this.definition.streamId,
          seq: Math.max(summary.decodedFrames, ref?.seq ?? 0) + 1,
          ptsMs: summary.lastPtsMs,
          capturedAtMs: (this.deps.now ?? Date.now)(),
          width: ref?.width ?? 0,
          height: ref?.height ?? 0,
          sourceWidth: ref?.sourceWidth ?? 0,
          sourceHeight: ref?.sourceHeight ?? 0,
          endOfStream: true,
        },
      }),
      this.abort.signal,
    );
  }

  private reportError(error: StageError, code = error.code): void {
    this.deps.metrics.errors.inc({ stream: this.definition.streamId, reason: code });
    this.logger.error({ url: this.definition.url, code, reason: error.message }, 'stream error');
  }

  private fail(error: StageError): StreamOutcome {
    if (this.deps.logFinalFailure === false) this.deps.metrics.errors.inc({ stream: this.definition.streamId, reason: error.code });
    else this.reportError(error);
    return { state: 'failed', frames: this.published, error };
  }
}

/** A file whose decoded frames stop well before its declared duration was cut short. */
function describeTruncation(durationMs: number | undefined, fps: number, summary: ReadSummary): string | undefined {
  if (!durationMs) return undefined;
  const decodedMs = (summary.decodedFrames / fps) * 1000;
  if (decodedMs >= durationMs - 3 * (1000 / fps)) return undefined;
  const details = summary.warnings.length > 0 ? `; ffmpeg: ${summary.warnings.slice(0, 2).join(' | ')}` : '';
  return `file looks truncated: decoded ${summary.decodedFrames} frames (${(decodedMs / 1000).toFixed(2)} s) of a declared ${(durationMs / 1000).toFixed(2)} s${details}`;
}

/** Exponential back-off with "full jitter": spreads reconnects of many cameras after a network blip. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
