/**
 * Issue 27: the live view's RTSP relay ran `ffmpeg -i <spec URL>`, which follows an RTSP server's
 * `302 Location: rtsp://<any host>` — connections from the sink to a host ingest's policy never
 * admitted. The relay now talks to the camera through an RtspGuard that refuses redirects.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { moduleLogger } from '@emostream/shared';
import { waitFor } from '@emostream/shared/testing';
import { RtspRelay } from '../src/live-view/rtsp-relay.js';

async function listen(host: string, onSocket: (socket: net.Socket) => void) {
  const counter = { connections: 0, port: 0, server: net.createServer() };
  counter.server.on('connection', (socket) => {
    counter.connections += 1;
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => counter.server.listen(0, host, resolve));
  counter.port = (counter.server.address() as net.AddressInfo).port;
  return counter;
}

describe('live-view RTSP relay (issue 27)', () => {
  const cleanup: (() => unknown)[] = [];
  after(() => {
    for (const step of cleanup.reverse()) step();
  });

  it("refuses an RTSP server's 302 to another host: the target gets no connection from the relay (node-rtsp-stream's plain ffmpeg followed it)", async () => {
    const canary = await listen('127.0.0.2', (socket) => socket.destroy());
    const redirector = await listen('127.0.0.1', (socket) => {
      socket.on('data', (chunk: Buffer) => {
        const cseq = /^cseq:\s*(\d+)/im.exec(chunk.toString('latin1'))?.[1] ?? '1';
        socket.write(`RTSP/1.0 302 Found\r\nCSeq: ${cseq}\r\nLocation: rtsp://127.0.0.2:${canary.port}/live\r\n\r\n`);
      });
    });
    cleanup.push(
      () => canary.server.close(),
      () => redirector.server.close(),
    );
    const url = `rtsp://127.0.0.1:${redirector.port}/live`;

    const relay = new RtspRelay('door', url, () => undefined, { logger: moduleLogger('test'), restartMs: 100 });
    cleanup.push(() => relay.stop());
    await waitFor(() => relay.refusal !== undefined, { timeoutMs: 20_000, message: 'the relay to refuse the redirect' });
    assert.match(relay.refusal!, new RegExp(`REDIRECT_NOT_ALLOWED: .*302 redirecting to rtsp://127\\.0\\.0\\.2:${canary.port}/live`));
    assert.ok(redirector.connections >= 1, 'the relay did connect to the admitted camera');
    assert.equal(canary.connections, 0, 'the relay connected to the redirect target');
    assert.equal(relay.pid, undefined, 'a refused relay stops for good');

    // The control: ffmpeg as node-rtsp-stream ran it (`-i <url>` first) follows the redirect.
    const child = spawn('ffmpeg', ['-i', url, '-f', 'mpegts', '-codec:v', 'mpeg1video', '-'], { stdio: 'ignore' });
    await waitFor(() => canary.connections > 0 || child.exitCode !== null, { timeoutMs: 20_000, message: 'plain ffmpeg' });
    child.kill('SIGKILL');
    assert.ok(canary.connections > 0, 'plain ffmpeg did not follow the redirect: the attack was not real');
  });
});
