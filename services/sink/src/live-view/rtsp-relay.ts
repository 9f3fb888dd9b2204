import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Logger } from '@emostream/shared';

/** node-rtsp-stream's ffmpeg wrapper (the package ships no types): spawns `ffmpeg -i <url> -f mpegts -codec:v mpeg1video <options> -`. */
interface Mpeg1Muxer extends EventEmitter {
  readonly stream: ChildProcess;
  on(event: 'mpeg1data' | 'ffmpegStderr', listener: (data: Buffer) => void): this;
}
type Mpeg1MuxerClass = new (options: { url: string; ffmpegPath: string; ffmpegOptions?: Record<string, string> }) => Mpeg1Muxer;
const Mpeg1Muxer = createRequire(import.meta.url)('node-rtsp-stream/mpeg1muxer.js') as Mpeg1MuxerClass;

/**
 * One RTSP source relayed as MPEG-1 in MPEG-TS, the format the page's JSMpeg player decodes: the
 * ffmpeg process is started by node-rtsp-stream's `Mpeg1Muxer`. node-rtsp-stream's own `VideoStream`
 * is not used: it opens a WebSocket server of its own on a separate port on every interface, writes
 * ffmpeg's log to our stderr and prefixes the stream with a header only the 2013 jsmpeg understood.
 * The bytes go to the live view's own WebSocket (`/relay/<streamId>`) instead.
 *
 * ffmpeg restarts (after `restartMs`) when it exits, e.g. when the camera drops, until `stop()`.
 */
export class RtspRelay {
  private muxer: Mpeg1Muxer | undefined;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Bytes relayed so far (all runs of ffmpeg). */
  bytes = 0;

  constructor(
    readonly streamId: string,
    readonly url: string,
    private readonly onData: (chunk: Buffer) => void,
    private readonly options: { logger: Logger; ffmpegPath?: string; restartMs?: number; bitrate?: string },
  ) {
    this.spawn();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    this.muxer?.stream.kill('SIGKILL');
  }

  private spawn(): void {
    const muxer = new Mpeg1Muxer({
      url: this.url,
      ffmpegPath: this.options.ffmpegPath ?? 'ffmpeg',
      // Output options (node-rtsp-stream puts them after the input): no audio, a bitrate that keeps
      // faces readable, 25 fps (MPEG-1 allows only standard rates), quiet.
      ffmpegOptions: { '-an': '', '-b:v': this.options.bitrate ?? '1500k', '-r': '25', '-bf': '0', '-loglevel': 'error', '-nostats': '' },
    });
    this.muxer = muxer;
    muxer.on('mpeg1data', (data) => {
      this.bytes += data.length;
      this.onData(data);
    });
    let stderr = '';
    muxer.on('ffmpegStderr', (data) => void (stderr = (stderr + data.toString()).slice(-2000)));
    muxer.stream.on('error', (error) =>
      this.options.logger.warn({ err: error, streamId: this.streamId }, 'cannot start ffmpeg for the RTSP relay'),
    );
    muxer.stream.on('exit', (code, signal) => {
      if (this.stopped) return;
      this.options.logger.warn({ streamId: this.streamId, code, signal, stderr: stderr.trim() }, 'RTSP relay ffmpeg exited; restarting');
      this.restartTimer = setTimeout(() => this.spawn(), this.options.restartMs ?? 2_000);
    });
  }
}
