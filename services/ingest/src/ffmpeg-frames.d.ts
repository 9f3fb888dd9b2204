import { type Source } from './sources.js';
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
{
    kind: 'every';
    step: number;
}
/** Live sources: a fixed rate. */
 | {
    kind: 'rate';
    fps: number;
};
export interface ReadOptions {
    sampling: Sampling;
    /** Wider frames are scaled down to this width (0 keeps the size): detection rarely needs more, and Kafka messages stay small. */
    maxWidth: number;
    /** JPEG quality, 1–100. */
    jpegQuality: number;
    connectTimeoutMs: number;
    readTimeoutMs: number;
    signal?: AbortSignal;
}
/** What a finished read saw: every decoded frame is counted, sampled or not (the reports need the total). */
export interface ReadSummary {
    decodedFrames: number;
    lastPtsMs: number;
    /** Decoder complaints (corrupt packets, truncated data), for a clear error. */
    warnings: string[];
}
/** Asks ffprobe for the first video stream's frame rate, size and declared length. */
export declare function probeVideo(source: Source, timeouts: {
    connectTimeoutMs: number;
    readTimeoutMs: number;
}): Promise<VideoInfo>;
/**
 * Decodes `source` with ffmpeg and yields its sampled frames as JPEG, in order. The filter graph logs
 * every decoded frame (showinfo) before sampling, so each output JPEG is paired with its original frame
 * number and presentation time, and the summary counts all decoded frames. Ends when the source ends,
 * the signal aborts, or throws a StageError when ffmpeg fails.
 */
export declare function readFrames(source: Source, options: ReadOptions, summary?: ReadSummary): AsyncGenerator<SampledFrame>;
/** Width and height from a baseline or progressive JPEG's SOF marker. */
export declare function jpegSize(jpeg: Buffer): {
    width: number;
    height: number;
};
