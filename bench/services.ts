/**
 * The five `emo serve` processes for a benchmark: started with one environment, waited for until
 * every `/readyz` answers 200, read through their `/metrics`, and stopped. Shared by bench:pipeline
 * and bench:capacity.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVICE_NODE_FLAGS } from '@emostream/shared';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
export const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;
export type StageName = (typeof STAGES)[number];

export interface RunningServices {
  /** Each stage's ops port (/readyz, /metrics). */
  ports: Map<StageName, number>;
  /** The sum of a metric's samples (all label sets) on one stage. */
  metric(stage: StageName, name: string): Promise<number>;
  stop(): Promise<void>;
}

/** Starts the five stages with `env` (ops ports chosen by the system) and waits until all are ready. */
export async function startServices(env: Record<string, string>): Promise<RunningServices> {
  const children = new Map<StageName, ChildProcess>();
  const stop = async () => {
    for (const child of children.values()) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
  };
  try {
    const ports = new Map<StageName, number>();
    const opsPorts = STAGES.map((stage) => {
      const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, emo, 'serve', stage], {
        env: { ...process.env, ...env, EMOSTREAM_OPS_PORT: '0', EMOSTREAM_INSTANCE_ID: `${stage}-0`, EMOSTREAM_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.set(stage, child);
      return new Promise<[StageName, number]>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          try {
            const entry = JSON.parse(line) as { msg?: string; opsPort?: number; level?: number };
            if (entry.msg === 'ops server listening' && entry.opsPort) resolve([stage, entry.opsPort]);
            if ((entry.level ?? 0) >= 50) process.stderr.write(`[${stage}] ${line}\n`);
          } catch {
            process.stderr.write(`[${stage}] ${line}\n`);
          }
        });
        child.once('exit', (code) => reject(new Error(`${stage} exited with code ${code} before serving its ops port`)));
      });
    });
    for (const [stage, port] of await Promise.all(opsPorts)) ports.set(stage, port);
    const deadline = Date.now() + 300_000;
    for (const [stage, port] of ports) {
      while ((await status(port, '/readyz')) !== 200) {
        if (children.get(stage)!.exitCode !== null) throw new Error(`${stage} exited before it was ready`);
        if (Date.now() > deadline) throw new Error(`${stage} was not ready within 5 minutes`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return {
      ports,
      metric: async (stage, name) => {
        const text = await (await fetch(`http://127.0.0.1:${ports.get(stage)!}/metrics`)).text();
        return text
          .split('\n')
          .filter((l) => (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) && !l.startsWith('#'))
          .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function status(port: number, route: string): Promise<number> {
  return fetch(`http://127.0.0.1:${port}${route}`)
    .then((r) => r.status)
    .catch(() => 0);
}
