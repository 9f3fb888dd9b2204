import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  EMOTION_LABELS,
  FACE_EVENT,
  moduleLogger,
  packageDir,
  StageError,
  TRACK_SUMMARY_EVENT,
  type EmotionEvent,
  type FaceEmotionEvent,
  type Logger,
} from '@emostream/shared';
import { checkSocketAccess, isLoopbackHost } from './access.js';
import { RtspRelay } from './rtsp-relay.js';
import { faceOf, StreamViews, type Shown, type StreamViewsOptions } from './streams.js';

// The page's files stay in src/ (the compiler copies no assets): found from the package, compiled or not.
const staticDir = path.join(packageDir(import.meta.url), 'src', 'live-view', 'static');
// The JSMpeg player (MPEG-1 decoder in JS) from npm, served from this server: the page needs no CDN.
const jsmpegFile = path.join(path.dirname(createRequire(import.meta.url).resolve('@cycjimmy/jsmpeg-player')), 'jsmpeg-player.umd.min.js');

const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: path.join(staticDir, 'index.html'), type: 'text/html; charset=utf-8' },
  '/live-view.js': { file: path.join(staticDir, 'live-view.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/jsmpeg.min.js': { file: jsmpegFile, type: 'text/javascript; charset=utf-8' },
};

export interface LiveViewOptions extends StreamViewsOptions {
  port: number;
  /** SINK_LIVE_VIEW_HOST (loopback by default: the page shows camera pictures); beyond loopback (e.g. '0.0.0.0' in a pod) it needs a token. */
  host: string;
  /**
   * Required on the page's sockets (`/?token=…` in the page's address). Must be set when `host` is
   * not loopback: the server refuses to start without it (see access.ts for all the checks).
   */
  token?: string;
  /** A page whose socket has more than this unsent is skipped for pictures until it catches up (default 8 MiB). */
  maxBufferedBytes?: number;
  ffmpegPath?: string;
  logger?: Logger;
}

/**
 * The live view: a small web page with every stream's latest picture, its faces (box, "Label: NN.NN%",
 * track id) and a per-track emotion timeline, kept current over one WebSocket (`/ws`). RTSP sources
 * can also be relayed as live video (`/relay/<streamId>`, MPEG-1 for the JSMpeg player).
 *
 * Fed by `frame()` (pictures from the frames topic) and `event()` (the public events); see
 * `liveViewFeed` for the bus wiring and `StreamViews` for which picture is shown when.
 */
export class LiveView {
  private readonly views: StreamViews;
  private readonly server: Server;
  private readonly pages = new WebSocketServer({ noServer: true });
  private readonly relaySockets = new WebSocketServer({ noServer: true });
  private readonly relays = new Map<string, RtspRelay>();
  private readonly pending = new Map<string, { seq: number; events: FaceEmotionEvent[] }>();
  private flushScheduled = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly logger: Logger;
  private readonly killRelays = () => this.relays.forEach((relay) => relay.stop());
  /** Pictures not sent to a page that was behind (counted, never queued without bound). */
  skippedFrames = 0;

  constructor(private readonly options: LiveViewOptions) {
    this.views = new StreamViews(options);
    this.logger = options.logger ?? moduleLogger('live-view');
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.pages.on('connection', (ws) => this.welcome(ws));
  }

  async start(): Promise<{ url: string; port: number }> {
    const { host } = this.options;
    if (!isLoopbackHost(host) && !this.options.token) {
      throw new StageError(
        'LIVE_VIEW_TOKEN_REQUIRED',
        `the live view would listen on ${host}, beyond loopback, without a token: set one (SINK_LIVE_VIEW_TOKEN) or listen on 127.0.0.1`,
      );
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, host, () => resolve());
    });
    this.timers.push(
      setInterval(() => this.showDue(), 100),
      setInterval(() => this.expire(), 5_000),
    );
    process.once('exit', this.killRelays);
    const { port } = this.server.address() as { port: number };
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/${this.options.token ? `?token=${encodeURIComponent(this.options.token)}` : ''}`;
    this.logger.info({ url }, 'live view listening');
    return { url, port };
  }

  async close(): Promise<void> {
    this.timers.forEach(clearInterval);
    this.timers = [];
    this.killRelays();
    this.relays.clear();
    process.removeListener('exit', this.killRelays);
    for (const ws of [...this.pages.clients, ...this.relaySockets.clients]) ws.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
  }

  /** A frame of a stream (JPEG, in the frame's pixels, as the frames topic carries it). */
  frame(streamId: string, frame: { seq: number; ptsMs?: number; width: number; height: number; jpeg: Uint8Array }): void {
    if (this.views.frame(streamId, { ptsMs: 0, ...frame })) this.broadcastStream(streamId);
  }

  /** A public event: face events become boxes and timeline points, summaries close a track's timeline. */
  event(event: EmotionEvent): void {
    if (event.schema === TRACK_SUMMARY_EVENT) {
      this.flush();
      this.views.summary(event);
      this.broadcast({
        type: 'summary',
        streamId: event.streamId,
        trackId: event.trackId,
        meanEmotion: event.meanEmotion,
        durationMs: event.durationMs,
        frames: event.frames,
      });
      return;
    }
    if (event.schema !== FACE_EVENT) return;
    // The faces of one frame arrive together (one Emotions message becomes consecutive events): group them.
    const pending = this.pending.get(event.streamId);
    if (pending && pending.seq !== event.seq) this.flushStream(event.streamId);
    const group = this.pending.get(event.streamId) ?? { seq: event.seq, events: [] };
    group.events.push(event);
    this.pending.set(event.streamId, group);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Relays an RTSP source as live video on the stream's card (ffmpeg → MPEG-1 →
   * the page's JSMpeg player). Boxes from the events are drawn over it while they are fresh; they lag
   * the video by the pipeline's delay. Stopped by `removeRtspSource` or `close`; the same URL again
   * keeps the running relay.
   */
  addRtspSource(streamId: string, rtspUrl: string): void {
    if (this.relays.get(streamId)?.url === rtspUrl) return;
    this.removeRtspSource(streamId);
    const relay = new RtspRelay(streamId, rtspUrl, (chunk) => this.relayChunk(streamId, chunk), {
      logger: this.logger,
      ...(this.options.ffmpegPath ? { ffmpegPath: this.options.ffmpegPath } : {}),
    });
    this.relays.set(streamId, relay);
    this.views.touch(streamId);
    this.broadcastStream(streamId);
  }

  removeRtspSource(streamId: string): void {
    this.relays.get(streamId)?.stop();
    if (!this.relays.delete(streamId)) return;
    for (const ws of this.relaySockets.clients) if ((ws as RelaySocket).streamId === streamId) ws.close();
    this.broadcastStream(streamId);
  }

  /** The process id of the ffmpeg relaying an RTSP source now, if one runs. */
  relayPid(streamId: string): number | undefined {
    return this.relays.get(streamId)?.pid;
  }

  /** Bytes relayed for an RTSP source so far. */
  relayedBytes(streamId: string): number {
    return this.relays.get(streamId)?.bytes ?? 0;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const streamId of [...this.pending.keys()]) this.flushStream(streamId);
  }

  private flushStream(streamId: string): void {
    const group = this.pending.get(streamId);
    if (!group) return;
    this.pending.delete(streamId);
    const first = group.events[0]!;
    const isNew = this.views.touch(streamId);
    const shown = this.views.faces(streamId, group.seq, group.events);
    const faces = group.events.map(faceOf);
    if (isNew) this.broadcastStream(streamId);
    this.broadcast({ type: 'faces', streamId, seq: group.seq, ptsMs: first.ptsMs, faces });
    if (shown) this.broadcastPicture(shown);
  }

  private showDue(): void {
    for (const shown of this.views.due()) this.broadcastPicture(shown);
  }

  private expire(): void {
    const dropped = this.views.expire();
    for (const { streamId, trackId } of dropped.tracks) this.broadcast({ type: 'dropTrack', streamId, trackId });
    for (const streamId of dropped.streams) {
      if (this.relays.has(streamId)) this.views.touch(streamId);
      else this.broadcast({ type: 'dropStream', streamId });
    }
  }

  private streamMessage(streamId: string) {
    return {
      type: 'stream',
      streamId,
      ...(this.views.size(streamId) ?? {}),
      relay: this.relays.has(streamId) ? `/relay/${encodeURIComponent(streamId)}` : null,
    };
  }

  private broadcastStream(streamId: string): void {
    this.broadcast(this.streamMessage(streamId));
  }

  private broadcast(message: object): void {
    const text = JSON.stringify(message);
    for (const ws of this.pages.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
  }

  private broadcastPicture(shown: Shown): void {
    const bytes = pictureMessage(shown);
    for (const ws of this.pages.clients) this.sendPicture(ws, bytes);
  }

  private sendPicture(ws: WebSocket, bytes: Buffer): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > (this.options.maxBufferedBytes ?? 8 * 1024 * 1024)) {
      this.skippedFrames += 1;
      return;
    }
    ws.send(bytes);
  }

  /** A page connected: what is known so far, then it follows the broadcasts. */
  private welcome(ws: WebSocket): void {
    ws.send(JSON.stringify({ type: 'hello', labels: EMOTION_LABELS }));
    for (const streamId of this.views.streamIds()) {
      ws.send(JSON.stringify(this.streamMessage(streamId)));
      for (const track of this.views.tracks(streamId)) {
        ws.send(JSON.stringify({ type: 'track', streamId, trackId: track.trackId, points: track.points, summary: track.summary ?? null }));
      }
      const shown = this.views.shown(streamId);
      if (shown) this.sendPicture(ws, pictureMessage(shown));
    }
  }

  private relayChunk(streamId: string, chunk: Buffer): void {
    for (const ws of this.relaySockets.clients) {
      // A viewer far behind misses chunks (JSMpeg resyncs on the next picture) rather than buffering without bound.
      if ((ws as RelaySocket).streamId === streamId && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4 * 1024 * 1024)
        ws.send(chunk);
    }
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const access = checkSocketAccess(req, {
      host: this.options.host,
      ...(this.options.token ? { token: this.options.token } : {}),
    });
    if (!access.allowed) {
      this.logger.warn({ status: access.status, reason: access.reason }, 'live view socket refused');
      socket.end(
        `HTTP/1.1 ${access.status} ${access.status === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    const { pathname } = new URL(req.url ?? '/', 'http://live-view');
    if (pathname === '/ws') {
      this.pages.handleUpgrade(req, socket, head, (ws) => this.pages.emit('connection', ws, req));
      return;
    }
    const relay = /^\/relay\/(.+)$/.exec(pathname);
    const streamId = relay ? decodeURIComponent(relay[1]!) : undefined;
    if (streamId !== undefined && this.relays.has(streamId)) {
      this.relaySockets.handleUpgrade(req, socket, head, (ws) => void ((ws as RelaySocket).streamId = streamId));
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://live-view');
    const asset = ASSETS[pathname === '/index.html' ? '/' : pathname];
    if (req.method !== 'GET' || !asset) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    try {
      const body = await readFile(asset.file);
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' }).end(body);
    } catch (error) {
      this.logger.error({ err: error, file: asset.file }, 'live view asset missing');
      res.writeHead(500, { 'content-type': 'text/plain' }).end('asset missing\n');
    }
  }
}

type RelaySocket = WebSocket & { streamId?: string };

/** A picture on the page socket: 4-byte big-endian header length, the JSON header, then the JPEG. */
function pictureMessage(shown: Shown): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      type: 'picture',
      streamId: shown.streamId,
      seq: shown.seq,
      ptsMs: shown.ptsMs,
      width: shown.width,
      height: shown.height,
      faces: shown.faces,
    }),
    'utf8',
  );
  const length = Buffer.alloc(4);
  length.writeUInt32BE(header.length);
  return Buffer.concat([length, header, shown.jpeg]);
}
