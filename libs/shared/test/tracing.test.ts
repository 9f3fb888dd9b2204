import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { endSpan, headersFromContext, startMessageSpan, startTracing, stopTracing } from '../src/index.js';

describe('tracing with an OTLP exporter (the SDK loaded on demand)', () => {
  it('exports the spans of processed messages to the configured endpoint, and carries their trace id on', async () => {
    const posts: { url: string; bytes: number }[] = [];
    const server = createServer((request, response) => {
      let bytes = 0;
      request.on('data', (chunk: Buffer) => (bytes += chunk.length));
      request.on('end', () => {
        posts.push({ url: request.url ?? '', bytes });
        response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      await startTracing({ serviceName: 'tracing-test', exporter: 'otlp', endpoint: `http://127.0.0.1:${port}/v1/traces` });
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const { span, context } = startMessageSpan('test', 'frames', { traceparent });
      const out = headersFromContext(context);
      endSpan(span);
      // A recorded span of its own: same trace, a new span id.
      assert.match(out.traceparent ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
      assert.notEqual(out.traceparent, traceparent);
      await stopTracing(); // flushes the batch
      assert.ok(
        posts.some((p) => p.url === '/v1/traces' && p.bytes > 0),
        `spans posted to the endpoint: ${JSON.stringify(posts)}`,
      );
    } finally {
      server.close();
    }
  });
});
