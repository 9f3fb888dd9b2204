/** Where frames come from. Files have a known frame rate and end; the others are live. */
export type SourceKind = 'file' | 'rtsp' | 'http' | 'webcam';
export interface Source {
    kind: SourceKind;
    /** What ffmpeg opens: a path, a URL or a V4L2 device. */
    input: string;
    live: boolean;
}
/**
 * Reads a stream URL: `rtsp://…`, `http(s)://…`, `webcam` / `webcam:/dev/videoN`, `file:///…` or a
 * plain path. Throws a non-retriable StageError for anything else, so a typo fails loudly.
 */
export declare function parseSource(url: string): Source;
/** Fails early, with a clear message, for a file that is not there (ffmpeg's own message is cryptic). */
export declare function assertReadable(source: Source): void;
/** ffmpeg input options per source kind: transports and timeouts that keep a dead camera from hanging ingest. */
export declare function inputOptions(source: Source, timeouts: {
    connectTimeoutMs: number;
    readTimeoutMs: number;
}): string[];
