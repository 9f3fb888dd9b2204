import net from 'node:net';
import tls from 'node:tls';

/**
 * A one-camera RTSP relay on loopback that ffmpeg connects to instead of the camera, because
 * ffmpeg's RTSP client does what no option turns off:
 * - it follows a `3xx Location: rtsp://<anywhere>` answer (the demuxer reconnects to the new host,
 *   past any check made before it started): the guard refuses any 3xx answer — the connection is
 *   cut before ffmpeg reads it, so ffmpeg never learns the Location;
 * - it resolves the camera's name again (a DNS answer that changed since the check): the guard
 *   connects to the address that was checked;
 * - for rtsps:// it does not verify the server's certificate (ffmpeg 5 passes no TLS options to
 *   the RTSP connection): the guard makes the TLS connection itself, verified against the system CAs
 *   plus a configured bundle, unless the host is explicitly exempt.
 * ffmpeg talks plain RTSP over TCP (interleaved RTP) to the guard on 127.0.0.1, which copies the
 * bytes both ways and reads the server's side message by message.
 */
export interface RtspGuardOptions {
  /** The host name the URL named: TLS server name and certificate check. */
  host: string;
  /** The addresses to connect to, tried in order (those the source policy checked). */
  addresses: readonly string[];
  port: number;
  /** rtsps://: TLS to the camera. */
  tls?: { ca?: readonly (string | Buffer)[]; verify: boolean };
  connectTimeoutMs: number;
  /** Called once per refused connection (a redirect, a certificate that does not verify, a malformed answer). */
  onRefused?: (refusal: RtspGuardRefusal) => void;
}

export interface RtspGuardRefusal {
  reason: 'REDIRECT_NOT_ALLOWED' | 'TLS_NOT_VERIFIED' | 'MALFORMED_ANSWER';
  message: string;
}

/** Largest RTSP header block read before the answer counts as malformed. */
const MAX_HEADER_BYTES = 64 * 1024;

export class RtspGuard {
  /** Refusals so far (the last one says why ffmpeg's connection was cut). */
  readonly refusals: RtspGuardRefusal[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly options: RtspGuardOptions,
  ) {
    server.on('connection', (client) => this.relay(client));
  }

  /** Starts a guard on 127.0.0.1 (an ephemeral port). */
  static async open(options: RtspGuardOptions): Promise<RtspGuard> {
    const server = net.createServer();
    const guard = new RtspGuard(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return guard;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `rtsp://[userinfo@]127.0.0.1:<guard port><path and query>` for ffmpeg, from the camera's (rebuilt) URL. */
  urlFor(url: URL): string {
    const userinfo = url.username || url.password ? `${url.username}${url.password ? `:${url.password}` : ''}@` : '';
    return `rtsp://${userinfo}127.0.0.1:${this.port}${url.pathname}${url.search}`;
  }

  close(): void {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private refuse(refusal: RtspGuardRefusal, ...sockets: net.Socket[]): void {
    this.refusals.push(refusal);
    this.options.onRefused?.(refusal);
    for (const socket of sockets) socket.destroy();
  }

  private relay(client: net.Socket): void {
    const { host, port } = this.options;
    this.sockets.add(client);
    client.pause();
    client.on('error', () => client.destroy());
    client.on('close', () => this.sockets.delete(client));
    this.connectUpstream().then(
      (upstream) => {
        this.sockets.add(upstream);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => {
          client.destroy();
          this.sockets.delete(upstream);
        });
        client.on('data', (chunk: Buffer) => upstream.write(chunk));
        const scanner = new RtspAnswerScanner();
        upstream.on('data', (chunk: Buffer) => {
          const { forward, refusal } = scanner.push(chunk);
          if (refusal) {
            const message =
              refusal.reason === 'REDIRECT_NOT_ALLOWED'
                ? `rtsp${this.options.tls ? 's' : ''}://${host}:${port} ${refusal.message}`
                : refusal.message;
            this.refuse({ ...refusal, message }, client, upstream);
            return;
          }
          if (forward.length > 0) client.write(forward);
        });
        client.resume();
      },
      (error: NodeJS.ErrnoException) => {
        if (this.options.tls && isCertificateError(error)) {
          this.refuse(
            { reason: 'TLS_NOT_VERIFIED', message: `rtsps://${host}:${port}: the certificate does not verify (${error.message})` },
            client,
          );
        }
        client.destroy();
      },
    );
  }

  /** A connection to the first checked address that answers (TLS: verified). */
  private async connectUpstream(): Promise<net.Socket> {
    let last: Error = new Error('no address to connect to');
    for (const address of this.options.addresses) {
      try {
        return await this.connectTo(address);
      } catch (error) {
        last = error as Error;
        // A certificate that does not verify is not a reason to try another address.
        if (isCertificateError(last)) throw last;
      }
    }
    throw last;
  }

  private connectTo(address: string): Promise<net.Socket> {
    const { host, port, connectTimeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const socket: net.Socket = this.options.tls
        ? tls.connect({
            host: address,
            port,
            ...(net.isIP(host) ? {} : { servername: host }),
            ca: [...tls.rootCertificates, ...(this.options.tls.ca ?? [])],
            rejectUnauthorized: this.options.tls.verify,
            // The certificate names the host the URL named, not the address connected to.
            checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
          })
        : net.connect({ host: address, port });
      const fail = (error: Error) => {
        socket.destroy();
        reject(error);
      };
      socket.setTimeout(connectTimeoutMs, () => fail(new Error(`no connection to ${address}:${port} within ${connectTimeoutMs} ms`)));
      socket.once('error', fail);
      socket.once(this.options.tls ? 'secureConnect' : 'connect', () => {
        socket.setTimeout(0);
        socket.removeListener('error', fail);
        resolve(socket);
      });
    });
  }
}

function isCertificateError(error: NodeJS.ErrnoException): boolean {
  return /CERT|SELF_SIGNED|VERIFY|ALTNAME/i.test(error.code ?? '') || /certificate/i.test(error.message);
}

/**
 * Reads the server's side of an RTSP connection: interleaved binary frames (`$`, channel, length)
 * and RTSP messages (header block, then Content-Length bytes of body). Hands back only whole
 * messages, so a refused answer never reaches the client, not even in part.
 */
export class RtspAnswerScanner {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { forward: Buffer; refusal?: { reason: 'REDIRECT_NOT_ALLOWED' | 'MALFORMED_ANSWER'; message: string } } {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const rest = this.buffer.length - offset;
      if (rest === 0) break;
      if (this.buffer[offset] === 0x24) {
        if (rest < 4) break;
        const length = this.buffer.readUInt16BE(offset + 2);
        if (rest < 4 + length) break;
        offset += 4 + length;
        continue;
      }
      const end = this.buffer.indexOf('\r\n\r\n', offset, 'latin1');
      if (end === -1) {
        if (rest > MAX_HEADER_BYTES)
          return { forward: Buffer.alloc(0), refusal: { reason: 'MALFORMED_ANSWER', message: 'an RTSP header block over 64 KiB' } };
        break;
      }
      const head = this.buffer.subarray(offset, end).toString('latin1');
      const status = /^RTSP\/\d\.\d\s+(\d{3})/.exec(head);
      if (status && status[1]!.startsWith('3')) {
        const location = /^location:\s*(\S+)/im.exec(head)?.[1];
        return {
          forward: Buffer.alloc(0),
          refusal: {
            reason: 'REDIRECT_NOT_ALLOWED',
            message: `answered ${status[1]}${location ? ` redirecting to ${location.slice(0, 200)}` : ''}: RTSP redirects are refused`,
          },
        };
      }
      const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
      if (this.buffer.length < end + 4 + length) break;
      offset = end + 4 + length;
    }
    const forward = this.buffer.subarray(0, offset);
    this.buffer = this.buffer.subarray(offset);
    return { forward };
  }
}
