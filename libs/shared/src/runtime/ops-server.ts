import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthSource {
  readonly ready: boolean;
  readonly healthy: boolean;
  readonly state: string;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves the operational endpoints of a process: /metrics (Prometheus text), /healthz (200 unless a
 * stage failed: the liveness probe), /readyz (200 only while every stage is RUNNING: the readiness probe).
 */
export async function startOpsServer(options: {
  port: number;
  host?: string;
  registry: Registry;
  health: () => HealthSource[];
}): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const states = options.health();
    const body = (code: number, text: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(code, { 'content-type': type });
      response.end(text);
    };
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => body(200, text, options.registry.contentType))
        .catch((error: Error) => body(500, `metrics failed: ${error.message}\n`));
    } else if (path === '/healthz') {
      const ok = states.every((s) => s.healthy);
      body(ok ? 200 : 503, `${states.map((s) => s.state).join(',')}\n`);
    } else if (path === '/readyz') {
      const ok = states.length > 0 && states.every((s) => s.ready);
      body(ok ? 200 : 503, `${states.map((s) => s.state).join(',')}\n`);
    } else {
      body(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
