import { spawn, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { processSettings, RtspGuard, type Logger } from '@emostream/shared';

/**
 * One RTSP source relayed as MPEG-1 in MPEG-TS, the format the page's JSMpeg player decodes, by an
 * ffmpeg process of its own (`ffmpeg … -i <url> -f mpegts -codec:v mpeg1video -`, as node-rtsp-stream's
 * `Mpeg1Muxer` ran it, which put `-i` first and so could take no input options). The bytes go to the
 * live view's own WebSocket (`/relay/<streamId>`).
 *
 * ffmpeg opens what ingest's source policy admitted, and nothing further (issue 27): the URL is
 * parsed once and rebuilt (characters two parsers read differently are refused), ffmpeg may use only
 * RTSP over TCP (`-rtsp_transport tcp -protocol_whitelist rtsp,tcp -f rtsp`), and it talks to the
 * camera through an RtspGuard: redirects refused (ffmpeg would follow a `302 Location: rtsp://<any
 * host>`), rtsps certificates verified against the system CAs. A refused relay stops for good.
 *
 * ffmpeg restarts (after `restartMs`) when it exits, e.g. when the camera drops, until `stop()`.
 */
export class RtspRelay {
  private child: ChildProcess | undefined;
  private guard: RtspGuard | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Bytes relayed so far (all runs of ffmpeg). */
  bytes = 0;
  /** Why the relay stopped for good (a redirect, a certificate that does not verify, an unusable URL), if it did. */
  refusal: string | undefined;

  constructor(
    readonly streamId: string,
    readonly url: string,
    private readonly onData: (chunk: Buffer) => void,
    private readonly options: { logger: Logger; ffmpegPath?: string; restartMs?: number; bitrate?: string; connectTimeoutMs?: number },
  ) {
    void this.spawn();
  }

  /** The running ffmpeg's process id, if one runs (and was not told to stop). */
  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null && !child.killed ? child.pid : undefined;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.child?.kill('SIGKILL');
    this.guard?.close();
  }

  private refuse(why: string): void {
    this.refusal ??= why;
    this.options.logger.warn({ streamId: this.streamId, why }, 'RTSP relay refused: not relayed');
    this.stop();
  }

  private async spawn(): Promise<void> {
    const url = parseRtspUrl(this.url);
    if (typeof url === 'string') return this.refuse(url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    let addresses = [host];
    try {
      if (!isIP(host)) addresses = (await lookup(host, { all: true })).map((a) => a.address);
    } catch (error) {
      this.options.logger.warn({ err: error, streamId: this.streamId }, 'RTSP relay: the camera name does not resolve; retrying');
      return this.restartLater();
    }
    if (this.stopped) return;
    const guard = await RtspGuard.open({
      host,
      addresses,
      port: Number(url.port) || (url.protocol === 'rtsps:' ? 322 : 554),
      ...(url.protocol === 'rtsps:' ? { tls: { verify: true } } : {}),
      connectTimeoutMs: this.options.connectTimeoutMs ?? 10_000,
      onRefused: (refusal) => this.refuse(`${refusal.reason}: ${refusal.message}`),
    });
    if (this.stopped) return guard.close();
    this.guard = guard;
    const child = spawn(
      this.options.ffmpegPath ?? processSettings().ffmpegPath,
      [
        '-rtsp_transport',
        'tcp',
        '-protocol_whitelist',
        'rtsp,tcp',
        '-f',
        'rtsp',
        '-i',
        guard.urlFor(url),
        '-f',
        'mpegts',
        '-codec:v',
        'mpeg1video',
        // No audio, a bitrate that keeps faces readable, 25 fps (MPEG-1 allows only standard rates), quiet.
        '-an',
        '-b:v',
        this.options.bitrate ?? '1500k',
        '-r',
        '25',
        '-bf',
        '0',
        '-loglevel',
        'error',
        '-nostats',
        '-',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout.on('data', (data: Buffer) => {
      this.bytes += data.length;
      this.onData(data);
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => void (stderr = (stderr + data.toString()).slice(-2000)));
    child.on('error', (error) =>
      this.options.logger.warn({ err: error, streamId: this.streamId }, 'cannot start ffmpeg for the RTSP relay'),
    );
    child.on('exit', (code, signal) => {
      guard.close();
      if (this.stopped) return;
      this.options.logger.warn({ streamId: this.streamId, code, signal, stderr: stderr.trim() }, 'RTSP relay ffmpeg exited; restarting');
      this.restartLater();
    });
  }

  private restartLater(): void {
    if (this.stopped) return;
    this.restartTimer = setTimeout(() => void this.spawn(), this.options.restartMs ?? 2_000);
  }
}

/** The URL parsed once (WHATWG), or why it is refused: not rtsp(s), or characters URL parsers read differently. */
function parseRtspUrl(text: string): URL | string {
  if (/[\\\s\u0000-\u001f\u007f-\uffff]/.test(text)) return 'the URL holds a backslash, whitespace, a control or a non-ASCII character';
  try {
    const url = new URL(text);
    if (url.protocol !== 'rtsp:' && url.protocol !== 'rtsps:') return `not an RTSP URL (${url.protocol})`;
    if (url.hostname === '') return 'the URL names no host';
    return url;
  } catch {
    return 'not a valid URL';
  }
}
