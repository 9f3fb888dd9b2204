import { existsSync } from 'node:fs';
import path from 'node:path';
import { StageError } from '@emostream/shared';
/**
 * Reads a stream URL: `rtsp://…`, `http(s)://…`, `webcam` / `webcam:/dev/videoN`, `file:///…` or a
 * plain path. Throws a non-retriable StageError for anything else, so a typo fails loudly.
 */
export function parseSource(url) {
    const trimmed = url.trim();
    if (/^rtsps?:\/\//i.test(trimmed))
        return { kind: 'rtsp', input: trimmed, live: true };
    if (/^https?:\/\//i.test(trimmed))
        return { kind: 'http', input: trimmed, live: true };
    if (/^webcam(:|$)/i.test(trimmed)) {
        const device = trimmed.slice('webcam'.length).replace(/^:/, '') || '/dev/video0';
        return { kind: 'webcam', input: device, live: true };
    }
    if (/^file:\/\//i.test(trimmed))
        return { kind: 'file', input: decodeURIComponent(new URL(trimmed).pathname), live: false };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
        throw new StageError('SOURCE_UNSUPPORTED', `unsupported stream URL scheme in "${trimmed}": use a file path, rtsp://, http(s):// or webcam:/dev/videoN`);
    }
    if (trimmed === '')
        throw new StageError('SOURCE_UNSUPPORTED', 'empty stream URL');
    return { kind: 'file', input: path.resolve(trimmed), live: false };
}
/** Fails early, with a clear message, for a file that is not there (ffmpeg's own message is cryptic). */
export function assertReadable(source) {
    if (source.kind === 'file' && !existsSync(source.input)) {
        throw new StageError('SOURCE_NOT_FOUND', `no such file: ${source.input}`);
    }
    if (source.kind === 'webcam' && !existsSync(source.input)) {
        throw new StageError('SOURCE_NOT_FOUND', `no such video device: ${source.input}`, { retriable: true });
    }
}
/** ffmpeg input options per source kind: transports and timeouts that keep a dead camera from hanging ingest. */
export function inputOptions(source, timeouts) {
    const micros = (ms) => String(ms * 1000);
    switch (source.kind) {
        case 'rtsp':
            // TCP: UDP loses packets (and frames) on busy networks; -timeout bounds connect and reads.
            return ['-rtsp_transport', 'tcp', '-timeout', micros(timeouts.readTimeoutMs)];
        case 'http':
            return ['-rw_timeout', micros(timeouts.readTimeoutMs), '-reconnect', '0'];
        case 'webcam':
            return ['-f', 'video4linux2'];
        case 'file':
            return [];
    }
}
//# sourceMappingURL=sources.js.map