import { makeMessage, StageError, topics, type Logger } from '@emostream/shared';
import type { IngestSettings } from './config.js';
import type { IngestMetrics } from './metrics.js';
export type FrameMessage = ReturnType<typeof makeMessage<typeof topics.frames.schema>>;
export interface StreamDefinition {
    streamId: string;
    url: string;
    /** Frames per second for live sources; 0 = the ingest default. Files always use the reference's sampling. */
    sampleFps: number;
    /** 0 = the ingest default. */
    maxWidth: number;
    /**
     * Files only: frames up to this number were already published by an earlier run of this stream on
     * this replica (stopped by a rebalance); they are decoded but not published again.
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
export type StreamOutcome = {
    state: 'ended';
    frames: number;
    decodedFrames: number;
} | {
    state: 'failed';
    frames: number;
    error: StageError;
} | {
    state: 'stopped';
    frames: number;
};
export interface StreamRunnerDeps {
    /** Writes one frame downstream; resolves once it is safe (acknowledged). */
    publish(frame: FrameMessage): Promise<void>;
    metrics: IngestMetrics;
    settings: IngestSettings;
    logger?: Logger;
    now?: () => number;
    random?: () => number;
}
/**
 * Reads one stream until it ends, fails for good, or is stopped.
 * - Files: the reference's sampling (frames 1, 1+k, …), original frame numbers as `seq`, and an
 *   end-of-stream marker after the last frame. A file that cannot be opened fails at once.
 * - Live sources: sampled at a fixed rate; on any failure or disconnect they reconnect with
 *   exponential back-off and jitter, forever, counting each attempt; the first frame after a
 *   reconnect carries `gapBefore` (the gap marker).
 * Failures are logged and counted for this stream only; other streams never notice.
 */
export declare class StreamRunner {
    readonly definition: StreamDefinition;
    private readonly deps;
    readonly done: Promise<StreamOutcome>;
    private readonly abort;
    private readonly logger;
    private published;
    /** Number of the last frame published (files: the original frame number). */
    lastPublishedSeq: number;
    constructor(definition: StreamDefinition, deps: StreamRunnerDeps);
    /** Stops reading (ffmpeg is killed) and resolves when the runner has finished. */
    stop(): Promise<StreamOutcome>;
    private run;
    private runFile;
    private runLive;
    private stopped;
    private readOptions;
    private publishFrame;
    /** A frame without picture that says "this stream ended", numbered after the last decoded frame. */
    private publishEndOfStream;
    private reportError;
    private fail;
}
/** Exponential back-off with "full jitter": spreads reconnects of many cameras after a network blip. */
export declare function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number): number;
