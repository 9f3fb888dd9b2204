/**
 * Issue 27, the ways past the source policy that the audit found, attacked for real: an ingest
 * worker on the real broker, real ffmpeg, and loopback servers. Each canary listens on 127.0.0.2
 * (loopback, so refused by the policy unless allowed) or on an allowed port a credential is not
 * bound to, and counts its own connections: through ingest it must see none. Each test also shows
 * that the canary is reached without the control (plain ffmpeg on the same URL, or a case the
 * control allows), so no test passes because the attack never worked.
 */
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { decodeStreamStatus, KafkaBus, redactUrlsIn, type StreamStatus } from '@emostream/shared';
import { kafkaTestConfig, sharedData, waitFor } from '@emostream/shared/testing';
import {
  IngestMetrics,
  IngestWorker,
  ingestSettingsSchema,
  parseSource,
  putStream,
  SourcePolicy,
  SourceRefusedError,
  StreamStatusWriter,
} from '../src/index.js';

const SECRET = 'door-secret-7f3a9c';

/** A TCP server that counts connections and what they sent. */
interface Listener {
  port: number;
  connections: number;
  received: string;
  close(): Promise<void>;
}

async function listenTcp(host: string, onSocket: (socket: net.Socket, listener: Listener) => void = (s) => s.destroy()): Promise<Listener> {
  const server = net.createServer();
  const listener: Listener = {
    port: 0,
    connections: 0,
    received: '',
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  server.on('connection', (socket) => {
    listener.connections += 1;
    socket.on('data', (chunk: Buffer) => (listener.received += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    onSocket(socket, listener);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  listener.port = (server.address() as net.AddressInfo).port;
  return listener;
}

async function listenHttp(host: string, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Listener> {
  const server = createHttpServer(handler);
  const listener: Listener = {
    port: 0,
    connections: 0,
    received: '',
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => (listener.connections += 1));
  server.on('request', (request: IncomingMessage) => {
    const hosts = request.rawHeaders.filter((_value, i) => i % 2 === 0 && /^host$/i.test(request.rawHeaders[i]!)).length;
    listener.received += `${request.headers.host} (${hosts} Host) ${request.url}\n`;
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  listener.port = (server.address() as net.AddressInfo).port;
  return listener;
}

/** Answers every RTSP request with `answer(cseq)`. */
function rtspAnswers(answer: (cseq: string, request: string) => string) {
  return (socket: net.Socket) => {
    let buffer = '';
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n\r\n'); end !== -1; end = buffer.indexOf('\r\n\r\n')) {
        const request = buffer.slice(0, end);
        buffer = buffer.slice(end + 4);
        socket.write(answer(/^cseq:\s*(\d+)/im.exec(request)?.[1] ?? '1', request));
      }
    });
  };
}

/** Plain ffmpeg on `url` (no controls): the positive control. Resolves once `reached()` holds or ffmpeg exits (bounded). */
async function plainFfmpeg(args: string[], reached: () => boolean): Promise<void> {
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', ...args, '-frames:v', '1', '-f', 'null', '-'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await waitFor(() => reached() || child.exitCode !== null || child.signalCode !== null, { timeoutMs: 20_000, message: 'plain ffmpeg' });
  child.kill('SIGKILL');
  await exited;
}

describe('the source policy holds against what ffmpeg opens next (issue 27; running worker, real broker, real ffmpeg)', () => {
  const prefix = `bypass-${process.pid}-${Date.now()}`;
  const cleanup: (() => unknown)[] = [];
  let bus: KafkaBus;
  let worker: IngestWorker;
  let registry: Registry;
  // Servers on allowed 127.0.0.1 ports (the attacker's, or a camera).
  let playlist: Listener;
  let redirector: Listener;
  let camera: Listener;
  let elsewhere: Listener;
  let pathCamera: Listener;
  let impostor: Listener;
  let impostorOptedOut: Listener;
  let httpsImpostor: Listener;
  let httpsImpostorOptedOut: Listener;
  // Canaries on 127.0.0.2: refused by the policy (loopback, not allowed).
  let hlsCanary: Listener;
  let rtspCanary: Listener;
  let parserCanary: Listener;

  const refused = async (reason: string) =>
    (await registry.getSingleMetric('emostream_ingest_streams_refused_total')!.get()).values.find((v) => v.labels.reason === reason)
      ?.value ?? 0;
  const put = (streamId: string, url: string) => putStream(bus, prefix, { streamId, url, sampleFps: 0, maxWidth: 0 });
  // Every stream status the worker wrote, read from the topic as `emo streams list` reads it.
  const statuses: StreamStatus[] = [];
  let markers: StreamStatusWriter;
  /** The refused statuses of `streamId`: all of them, once a marker written after the refusal was read back. */
  const refusedStatusesOf = async (streamId: string) => {
    await waitFor(() => statuses.some((s) => s.streamId === streamId && s.state === 'refused'), {
      timeoutMs: 30_000,
      message: `${streamId}'s refused status`,
    });
    // Same key, so the same partition: read after every status the worker wrote before it.
    const marker = `marker-${Date.now()}`;
    await markers.write({ streamId, state: 'starting', instanceId: marker, atMs: Date.now() });
    await waitFor(() => statuses.some((s) => s.instanceId === marker), { timeoutMs: 30_000, message: 'the marker status' });
    return statuses.filter((s) => s.streamId === streamId && s.state === 'refused');
  };
  const refusalOf = async (streamId: string) => {
    await waitFor(() => worker.outcomes.get(streamId)?.state === 'failed', {
      timeoutMs: 60_000,
      message: () => `${streamId} to fail (outcome: ${JSON.stringify(worker.outcomes.get(streamId))})`,
    });
    const outcome = worker.outcomes.get(streamId)!;
    assert.ok(outcome.state === 'failed' && outcome.error instanceof SourceRefusedError, `${streamId}: ${JSON.stringify(outcome)}`);
    return outcome.error;
  };

  before(async () => {
    process.env.INGEST_CREDENTIAL_DOOR = SECRET;
    hlsCanary = await listenTcp('127.0.0.2');
    rtspCanary = await listenTcp('127.0.0.2');
    parserCanary = await listenTcp('127.0.0.2');
    // An allowed host serving an HLS playlist whose segment lies on the canary.
    playlist = await listenHttp('127.0.0.1', (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
      response.end(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://127.0.0.2:${hlsCanary.port}/seg.ts\n#EXT-X-ENDLIST\n`);
    });
    // An allowed RTSP server that redirects everything to the canary.
    redirector = await listenTcp(
      '127.0.0.1',
      rtspAnswers(
        (cseq) => `RTSP/1.0 302 Moved Temporarily\r\nCSeq: ${cseq}\r\nLocation: rtsp://127.0.0.2:${rtspCanary.port}/live\r\n\r\n`,
      ),
    );
    // The camera the credential is bound to: serves a clip.
    const clip = readFileSync(sharedData('labelled/cremad_1001_DFA_neutral.flv'));
    const serveClip = (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(200, { 'content-type': 'video/x-flv', 'content-length': clip.length });
      response.end(clip);
    };
    camera = await listenHttp('127.0.0.1', serveClip);
    // Allowed hosts the credential is not bound to (elsewhere), or bound to but named in a path (pathCamera).
    elsewhere = await listenHttp('127.0.0.1', serveClip);
    pathCamera = await listenHttp('127.0.0.1', serveClip);
    // rtsps impostors with a self-signed certificate; they ask for Basic credentials and record them.
    const dir = mkdtempSync(path.join(tmpdir(), 'impostor-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    const tlsOptions = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
    const tlsImpostor = async (): Promise<Listener> => {
      const server = tls.createServer(tlsOptions, (socket) => {
        // Counted once the TLS handshake is done: a connection that reaches the RTSP conversation.
        listener.connections += 1;
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => (listener.received += chunk.toString('latin1')));
        rtspAnswers((cseq) => `RTSP/1.0 401 Unauthorized\r\nCSeq: ${cseq}\r\nWWW-Authenticate: Basic realm="camera"\r\n\r\n`)(socket);
      });
      server.on('tlsClientError', () => undefined);
      const listener: Listener = {
        port: 0,
        connections: 0,
        received: '',
        close: () => new Promise((resolve) => server.close(() => resolve())),
      };
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      listener.port = (server.address() as net.AddressInfo).port;
      return listener;
    };
    impostor = await tlsImpostor();
    impostorOptedOut = await tlsImpostor();
    const httpsImpostorServer = async (): Promise<Listener> => {
      const server = createHttpsServer(tlsOptions, (request, response) => {
        listener.received += `${request.url}\n`;
        response.writeHead(404);
        response.end();
      });
      // Counted once the TLS handshake is done: a connection that could carry a request.
      server.on('secureConnection', () => (listener.connections += 1));
      server.on('tlsClientError', () => undefined);
      const listener: Listener = {
        port: 0,
        connections: 0,
        received: '',
        close: () =>
          new Promise((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
          }),
      };
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      listener.port = (server.address() as net.AddressInfo).port;
      return listener;
    };
    httpsImpostor = await httpsImpostorServer();
    httpsImpostorOptedOut = await httpsImpostorServer();
    for (const listener of [
      hlsCanary,
      rtspCanary,
      parserCanary,
      playlist,
      redirector,
      camera,
      elsewhere,
      pathCamera,
      impostor,
      impostorOptedOut,
      httpsImpostor,
      httpsImpostorOptedOut,
    ])
      cleanup.push(() => listener.close());

    bus = new KafkaBus(kafkaTestConfig('bypass-test'));
    cleanup.push(() => bus.close());
    registry = new Registry();
    const allowed = [
      playlist,
      redirector,
      camera,
      elsewhere,
      pathCamera,
      impostor,
      impostorOptedOut,
      httpsImpostor,
      httpsImpostorOptedOut,
    ].map((l) => `127.0.0.1:${l.port}`);
    allowed.push(`localhost:${camera.port}`);
    worker = new IngestWorker({
      bus,
      topicPrefix: prefix,
      metrics: new IngestMetrics(registry),
      settings: ingestSettingsSchema.parse({
        allowHosts: allowed,
        credentialsScope: [
          `env:INGEST_CREDENTIAL_DOOR=http://127.0.0.1:${camera.port}`,
          `env:INGEST_CREDENTIAL_DOOR=http://127.0.0.1:${pathCamera.port}`,
          `env:INGEST_CREDENTIAL_DOOR=rtsps://127.0.0.1:${impostor.port}`,
          `env:INGEST_CREDENTIAL_DOOR=rtsps://127.0.0.1:${impostorOptedOut.port}`,
          `env:INGEST_CREDENTIAL_DOOR=https://127.0.0.1:${httpsImpostor.port}`,
          `env:INGEST_CREDENTIAL_DOOR=https://127.0.0.1:${httpsImpostorOptedOut.port}`,
        ],
        tlsInsecureHosts: [`127.0.0.1:${impostorOptedOut.port}`, `127.0.0.1:${httpsImpostorOptedOut.port}`],
        reconnectInitialMs: 200,
        reconnectMaxMs: 1_000,
        connectTimeoutMs: 3_000,
        readTimeoutMs: 3_000,
      }),
    });
    await worker.start();
    cleanup.push(() => worker.stop());
    markers = new StreamStatusWriter(bus, prefix);
    await markers.start();
    cleanup.push(() => markers.close());
    const reader = await bus.consumer({ groupId: `${prefix}-status-reader`, topics: [markers.topic], fromBeginning: true });
    cleanup.push(() => reader.close());
    await reader.run({
      eachBatch: (batch) => {
        for (const record of batch.records) if (record.value) statuses.push(decodeStreamStatus(record.value)!);
        return Promise.resolve();
      },
    });
  });

  after(async () => {
    for (const step of cleanup.reverse()) await step();
    delete process.env.INGEST_CREDENTIAL_DOOR;
  });

  it('refuses an HLS playlist on an allowed host whose segment lies on a disallowed one: the segment host gets no connection (plain ffmpeg fetches it)', async () => {
    const url = `http://127.0.0.1:${playlist.port}/live.m3u8`;
    await put('hls', url);
    const error = await refusalOf('hls');
    assert.equal(error.reason, 'FORMAT_NOT_ALLOWED');
    assert.ok(playlist.connections >= 1, 'ingest did fetch the playlist (so the refusal is about what it lists)');
    assert.equal(hlsCanary.connections, 0, 'the segment host was connected to through ingest');
    assert.ok((await refused('FORMAT_NOT_ALLOWED')) >= 1);
    // One refusal, one status record (the guard counted it, the stream's reporter wrote it).
    assert.deepEqual(
      (await refusedStatusesOf('hls')).map((s) => s.reason),
      ['FORMAT_NOT_ALLOWED'],
    );
    // Without the control, ffmpeg goes to the segment's host.
    await plainFfmpeg(['-i', url], () => hlsCanary.connections > 0);
    assert.ok(hlsCanary.connections > 0, 'plain ffmpeg did not reach the segment host: the attack was not real');
  });

  it("refuses an RTSP server's 302 to a disallowed host: ffmpeg never learns the Location, the target gets no connection (plain ffmpeg follows it)", async () => {
    const url = `rtsp://127.0.0.1:${redirector.port}/live`;
    await put('rtsp-redirect', url);
    const error = await refusalOf('rtsp-redirect');
    assert.equal(error.reason, 'REDIRECT_NOT_ALLOWED');
    assert.match(error.message, new RegExp(`answered 302 redirecting to rtsp://127\\.0\\.0\\.2:${rtspCanary.port}/live`));
    assert.ok(redirector.connections >= 1, 'ingest did connect to the allowed server');
    assert.equal(rtspCanary.connections, 0, 'the redirect target was connected to through ingest');
    assert.deepEqual(
      (await refusedStatusesOf('rtsp-redirect')).map((s) => s.reason),
      ['REDIRECT_NOT_ALLOWED'],
    );
    // Without the guard, ffmpeg follows the redirect.
    await plainFfmpeg(['-rtsp_transport', 'tcp', '-i', url], () => rtspCanary.connections > 0);
    assert.ok(rtspCanary.connections > 0, 'plain ffmpeg did not follow the redirect: the attack was not real');
  });

  it('refuses http://allowed:p\\@disallowed:q/, which the policy and ffmpeg read as different hosts: the other host gets no connection (plain ffmpeg goes there)', async () => {
    const url = `http://127.0.0.1:${camera.port}\\@127.0.0.2:${parserCanary.port}/`;
    // The policy alone reads the allowed host and lets it pass: the attack is real against it.
    const policy = new SourcePolicy({ schemes: ['http'], allowHosts: [`127.0.0.1:${camera.port}`], denyHosts: [], mediaRoots: [] });
    assert.deepEqual(await policy.check(parseSource(url)), ['127.0.0.1']);
    const before = await refused('INVALID_URL');
    await put('parser-differential', url);
    await waitFor(async () => (await refused('INVALID_URL')) > before, {
      timeoutMs: 60_000,
      message: 'the differential URL to be refused',
    });
    assert.equal(parserCanary.connections, 0, 'the host ffmpeg reads was connected to through ingest');
    assert.equal(worker.outcomes.get('parser-differential'), undefined, 'no stream ran');
    // ffmpeg, given the spec's string, connects to the other host.
    await plainFfmpeg(['-i', url], () => parserCanary.connections > 0);
    assert.ok(parserCanary.connections > 0, 'plain ffmpeg did not go to the other host: the attack was not real');
  });

  it('sends a camera credential only to the host it is bound to: another allowed host gets no connection, the bound camera gets it', async () => {
    const before = await refused('CREDENTIAL_NOT_BOUND');
    await put('cred-elsewhere', `http://127.0.0.1:${elsewhere.port}/x?t=\${env:INGEST_CREDENTIAL_DOOR}`);
    await waitFor(async () => (await refused('CREDENTIAL_NOT_BOUND')) > before, {
      timeoutMs: 60_000,
      message: 'the unbound credential to be refused',
    });
    // The same spec, to the camera the credential is bound to: it goes out (so the control is what stopped the other).
    await put('cred-bound', `http://127.0.0.1:${camera.port}/live.flv?t=\${env:INGEST_CREDENTIAL_DOOR}`);
    await waitFor(() => camera.received.includes(`t=${SECRET}`), { timeoutMs: 60_000, message: 'the bound camera to get its credential' });
    assert.equal(elsewhere.connections, 0, 'the host the credential is not bound to was connected to');
    assert.ok(!elsewhere.received.includes(SECRET));
  });

  it('refuses a credential in a URL path (nothing redacts it there): the camera gets no connection with it; in a query value it goes, and is redacted by value anywhere', async () => {
    const before = await refused('CREDENTIAL_MISPLACED');
    await put('cred-path', `http://127.0.0.1:${pathCamera.port}/s/\${env:INGEST_CREDENTIAL_DOOR}`);
    await waitFor(async () => (await refused('CREDENTIAL_MISPLACED')) > before, {
      timeoutMs: 60_000,
      message: 'the credential in a path to be refused',
    });
    assert.equal(pathCamera.connections, 0, 'the camera was connected to with the credential in the path');
    // The control: the same camera, the credential in a query value, is fetched.
    await put('cred-query', `http://127.0.0.1:${pathCamera.port}/s/live.flv?t=\${env:INGEST_CREDENTIAL_DOOR}`);
    await waitFor(() => pathCamera.received.includes(`t=${SECRET}`), {
      timeoutMs: 60_000,
      message: 'the camera to get the credential in the query',
    });
    // Once resolved, the secret is redacted by value wherever it appears (ffmpeg's messages quote paths too).
    assert.equal(
      redactUrlsIn(`ffmpeg failed on http://127.0.0.1:1/s/${SECRET}: 404; ${encodeURIComponent(SECRET)}`),
      'ffmpeg failed on http://127.0.0.1:1/s/***: 404; ***',
    );
  });

  it('reaches an HTTP camera named by host name at the address it checked, with the name (once) in the Host header', async () => {
    await put('by-name', `http://localhost:${camera.port}/named.flv`);
    await waitFor(() => camera.received.includes(`localhost:${camera.port} (1 Host) /named.flv`), {
      timeoutMs: 60_000,
      message: () => `the camera to be asked for /named.flv as localhost (it saw: ${camera.received})`,
    });
    await putStream(bus, prefix, { streamId: 'by-name', url: '', sampleFps: 0, maxWidth: 0 }, true);
  });

  it('verifies rtsps:// certificates: a self-signed impostor never gets the RTSP conversation nor the Basic credentials (the logged per-host opt-out does)', async () => {
    await put('impostor', `rtsps://viewer:\${env:INGEST_CREDENTIAL_DOOR}@127.0.0.1:${impostor.port}/live`);
    const error = await refusalOf('impostor');
    assert.equal(error.reason, 'TLS_NOT_VERIFIED');
    assert.equal(impostor.connections, 0, 'the impostor completed a TLS handshake with ingest');
    assert.ok(!impostor.received.includes('Authorization'));
    // The control: the same impostor, on a host in INGEST_TLS_INSECURE_HOSTS, gets the camera's user and password.
    await put('impostor-opted-out', `rtsps://viewer:\${env:INGEST_CREDENTIAL_DOOR}@127.0.0.1:${impostorOptedOut.port}/live`);
    const basic = `Authorization: Basic ${Buffer.from(`viewer:${SECRET}`).toString('base64')}`;
    await waitFor(() => impostorOptedOut.received.includes(basic), {
      timeoutMs: 60_000,
      message: 'the opted-out impostor to get the credentials',
    });
    await putStream(bus, prefix, { streamId: 'impostor-opted-out', url: '', sampleFps: 0, maxWidth: 0 }, true);
  });

  it('verifies https:// certificates: a self-signed impostor never gets a request nor the token (the logged per-host opt-out does)', async () => {
    await put('https-impostor', `https://127.0.0.1:${httpsImpostor.port}/live.flv?t=\${env:INGEST_CREDENTIAL_DOOR}`);
    const error = await refusalOf('https-impostor');
    assert.equal(error.reason, 'TLS_NOT_VERIFIED');
    assert.equal(httpsImpostor.connections, 0, 'the impostor completed a TLS handshake with ingest');
    assert.ok(!httpsImpostor.received.includes(SECRET));
    // The control: on a host in INGEST_TLS_INSECURE_HOSTS the same impostor gets the request, token included.
    await put('https-impostor-opted-out', `https://127.0.0.1:${httpsImpostorOptedOut.port}/live.flv?t=\${env:INGEST_CREDENTIAL_DOOR}`);
    await waitFor(() => httpsImpostorOptedOut.received.includes(`t=${SECRET}`), {
      timeoutMs: 60_000,
      message: 'the opted-out impostor to get the request',
    });
    await putStream(bus, prefix, { streamId: 'https-impostor-opted-out', url: '', sampleFps: 0, maxWidth: 0 }, true);
  });
});
