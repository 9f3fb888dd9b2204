import { existsSync } from 'node:fs';
import path from 'node:path';
import { StageError } from '@emostream/shared';

/** Where frames come from. Files have a known frame rate and end; the others are live. */
export type SourceKind = 'file' | 'rtsp' | 'http' | 'webcam';

export interface Source {
  kind: SourceKind;
  /** What ffmpeg opens: a path, a URL or a V4L2 device. */
  input: string;
  live: boolean;
  /**
   * HTTP: the redirects were followed and checked by the source policy already; ffmpeg must follow
   * none itself (a later redirect could lead where the policy refuses).
   */
  redirectsChecked?: boolean;
  /**
   * More ffmpeg input options, set by the source guard: the Host header of an HTTP source that
   * ffmpeg reaches at its checked address, TLS verification of an HTTPS one.
   */
  extraInputOptions?: string[];
  /** Called once ffmpeg is done with this source (the source guard's RTSP relay closes). */
  release?: () => void;
  /** Why the source guard cut ffmpeg's connection (an RTSP redirect, a certificate that does not verify), if it did. */
  refusal?: () => Error | undefined;
}

/**
 * Demuxers an HTTP(S) source from the streams topic may use (the source guard sets
 * `-format_whitelist`): containers and raw streams a camera serves. Not playlists (hls, dash), concat
 * or image sequences: those open further URLs (segments on any host) that only ffmpeg would see, past
 * the source policy. ffmpeg refuses any other format ("Format not on whitelist"). `emo run` opens
 * what its user names, playlists included.
 */
export const HTTP_DEMUXERS = [
  'mov',
  'mp4',
  'm4a',
  '3gp',
  '3g2',
  'mj2',
  'matroska',
  'webm',
  'flv',
  'live_flv',
  'avi',
  'mpegts',
  'mpeg',
  'mpjpeg',
  'mjpeg',
  'jpeg_pipe',
  'h264',
  'hevc',
  'ogg',
  'asf',
  'gif',
  'nut',
];

/**
 * Reads a stream URL: `rtsp://…`, `http(s)://…`, `webcam` / `webcam:/dev/videoN`, `file:///…` or a
 * plain path. Throws a non-retriable StageError for anything else, so a typo fails loudly.
 */
export function parseSource(url: string): Source {
  const trimmed = url.trim();
  if (/^rtsps?:\/\//i.test(trimmed)) return { kind: 'rtsp', input: trimmed, live: true };
  if (/^https?:\/\//i.test(trimmed)) return { kind: 'http', input: trimmed, live: true };
  if (/^webcam(:|$)/i.test(trimmed)) {
    const device = trimmed.slice('webcam'.length).replace(/^:/, '') || '/dev/video0';
    return { kind: 'webcam', input: device, live: true };
  }
  if (/^file:\/\//i.test(trimmed)) return { kind: 'file', input: decodeURIComponent(new URL(trimmed).pathname), live: false };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new StageError(
      'SOURCE_UNSUPPORTED',
      `unsupported stream URL scheme in "${trimmed}": use a file path, rtsp://, http(s):// or webcam:/dev/videoN`,
    );
  }
  if (trimmed === '') throw new StageError('SOURCE_UNSUPPORTED', 'empty stream URL');
  return { kind: 'file', input: path.resolve(trimmed), live: false };
}

/** Fails early, with a clear message, for a file that is not there (ffmpeg's own message is cryptic). */
export function assertReadable(source: Source): void {
  if (source.kind === 'file' && !existsSync(source.input)) {
    throw new StageError('SOURCE_NOT_FOUND', `no such file: ${source.input}`);
  }
  if (source.kind === 'webcam' && !existsSync(source.input)) {
    // A camera may be plugged in later: a live source's failure, which reconnects.
    throw new StageError('SOURCE_FAILED', `no such video device: ${source.input}`);
  }
}

/**
 * ffmpeg input options per source kind: transports and timeouts that keep a dead camera from hanging
 * ingest, and what ffmpeg may open beyond the source itself: the protocols per scheme
 * (`-protocol_whitelist`, inherited by everything the input opens) and the demuxer (RTSP: `-f rtsp`,
 * webcams: `-f video4linux2`; HTTP from the streams topic: see HTTP_DEMUXERS).
 */
export function inputOptions(source: Source, timeouts: { connectTimeoutMs: number; readTimeoutMs: number }): string[] {
  const micros = (ms: number) => String(ms * 1000);
  const extra = source.extraInputOptions ?? [];
  switch (source.kind) {
    case 'rtsp': {
      // TCP: UDP loses packets (and frames) on busy networks, and opens ports; -timeout bounds connect and reads.
      const tls = /^rtsps:/i.test(source.input);
      return [
        '-rtsp_transport',
        'tcp',
        '-timeout',
        micros(timeouts.readTimeoutMs),
        '-protocol_whitelist',
        tls ? 'rtsp,rtsps,tcp,tls' : 'rtsp,tcp',
        '-f',
        'rtsp',
        ...extra,
      ];
    }
    case 'http': {
      const tls = /^https:/i.test(source.input);
      return [
        '-rw_timeout',
        micros(timeouts.readTimeoutMs),
        '-reconnect',
        '0',
        '-protocol_whitelist',
        tls ? 'https,tls,tcp' : 'http,tcp',
        ...(source.redirectsChecked ? ['-max_redirects', '0'] : []),
        ...extra,
      ];
    }
    case 'webcam':
      return ['-f', 'video4linux2', ...extra];
    case 'file':
      return extra;
  }
}
