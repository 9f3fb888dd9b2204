/**
 * Issue 11: a web page the operator happens to open must not get the live view's pictures and
 * emotions, and beyond loopback nobody gets them without the token.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { freePort } from '@emostream/shared/testing';
import { LiveView } from '../src/index.js';
import { checkSocketAccess } from '../src/live-view/access.js';

/**
 * Opens a socket; resolves with the HTTP status of a refusal, or 101 and the messages up to the first
 * for which `until` holds (by default the first message: the server's hello).
 */
function connect(
  url: string,
  headers: Record<string, string> = {},
  origin?: string,
  until: (message: string) => boolean = () => true,
): Promise<{ status: number; messages: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...(origin ? { origin } : {}) });
    const messages: string[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${url}: open, but the awaited message never came (got ${messages.length}: ${messages.join(' | ').slice(0, 500)})`));
    }, 10_000);
    ws.on('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      resolve({ status: response.statusCode ?? 0, messages });
      ws.terminate();
    });
    ws.on('message', (data) => {
      const message = (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data).toString(
        'latin1',
      );
      messages.push(message);
      if (!until(message)) return;
      clearTimeout(timer);
      ws.close();
      resolve({ status: 101, messages });
    });
    ws.on('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

describe('live view access', () => {
  const views: LiveView[] = [];
  after(async () => {
    for (const view of views) await view.close();
  });

  it("refuses a WebSocket from a foreign Origin (403) and from a DNS-rebinding Host, and serves its own page's socket", async () => {
    const view = new LiveView({ port: 0, host: '127.0.0.1' });
    views.push(view);
    const { port } = await view.start();
    const ws = `ws://127.0.0.1:${port}/ws`;
    assert.equal((await connect(ws, {}, 'http://evil.example')).status, 403);
    assert.equal((await connect(ws, {}, `http://127.0.0.1:${port + 1}`)).status, 403, 'another port is another origin');
    // A page on evil.example whose name was rebound to 127.0.0.1: its Origin matches its Host, but the Host is not loopback.
    assert.equal((await connect(ws, { host: `evil.example:${port}` }, `http://evil.example:${port}`)).status, 403);
    const own = await connect(ws, {}, `http://127.0.0.1:${port}`);
    assert.equal(own.status, 101);
    assert.match(own.messages[0] ?? '', /"type":"hello"/);
    assert.equal((await connect(`ws://localhost:${port}/ws`, {}, `http://localhost:${port}`)).status, 101);
  });

  it('asks for the token whenever one is set, and will not listen beyond loopback without one', async () => {
    await assert.rejects(new LiveView({ port: await freePort(), host: '0.0.0.0' }).start(), /beyond loopback, without a token/);
    const token = 'a-long-random-token-0123456789';
    const view = new LiveView({ port: 0, host: '127.0.0.1', token });
    views.push(view);
    const { port, url } = await view.start();
    assert.equal(url, `http://127.0.0.1:${port}/?token=${token}`, 'the address to open carries the token');
    const origin = `http://127.0.0.1:${port}`;
    assert.equal((await connect(`ws://127.0.0.1:${port}/ws`, {}, origin)).status, 401);
    assert.equal((await connect(`ws://127.0.0.1:${port}/ws?token=wrong`, {}, origin)).status, 401);
    assert.equal((await connect(`ws://127.0.0.1:${port}/ws?token=${token}`, {}, origin)).status, 101);
  });

  it('bound beyond loopback: any Host name, but never without the token', () => {
    const request = (url: string, headers: Record<string, string>) => ({ url, headers }) as unknown as IncomingMessage;
    const options = { host: '0.0.0.0', token: 'a-long-random-token-0123456789' };
    assert.deepEqual(checkSocketAccess(request('/ws', { host: 'sink.example:8080' }), options), {
      allowed: false,
      status: 401,
      reason: 'no token',
    });
    assert.equal(
      checkSocketAccess(
        request('/ws?token=a-long-random-token-0123456789', { host: 'sink.example:8080', origin: 'http://evil.example' }),
        options,
      ).allowed,
      false,
    );
    assert.equal(
      checkSocketAccess(
        request('/ws?token=a-long-random-token-0123456789', { host: 'sink.example:8080', origin: 'http://sink.example:8080' }),
        options,
      ).allowed,
      true,
    );
  });

  it("never sends a stream URL's credentials to the page", async () => {
    const view = new LiveView({ port: 0, host: '127.0.0.1' });
    views.push(view);
    const { port } = await view.start();
    // A relay of a camera with inline credentials (nothing listens there: ffmpeg fails and retries).
    view.addRtspSource('door', `rtsp://viewer:secret@127.0.0.1:${await freePort()}/live?token=secret`);
    view.frame('door', { seq: 1, width: 4, height: 4, jpeg: Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]) });
    const { status, messages } = await connect(`ws://127.0.0.1:${port}/ws`, {}, `http://127.0.0.1:${port}`, (m) =>
      m.includes('"streamId":"door"'),
    );
    assert.equal(status, 101);
    assert.ok(messages.some((m) => m.includes('"streamId":"door"')));
    assert.ok(!messages.some((m) => m.includes('secret')), 'a message carried the credential');
  });
});
