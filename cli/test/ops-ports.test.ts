/**
 * Issue 24 item 6 / issue 26: two stages started side by side with their default settings both
 * start. They shared the default ops port 9400, so the second died with EADDRINUSE 127.0.0.1:9400;
 * each stage now has its own (ingest 9401 … sink 9405), and EMOSTREAM_OPS_PORT still wins.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { DEFAULT_OPS_PORTS } from '@emostream/shared';
import { kafkaBrokers, randomPrefix, waitFor } from '@emostream/shared/testing';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

function healthz(port: number): Promise<number> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

describe('ops ports', () => {
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('starts ingest and sink side by side with default settings, each serving /healthz on its own port', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: randomPrefix('ops-ports'),
      EMOSTREAM_LOG_LEVEL: 'info',
    };
    delete env.EMOSTREAM_OPS_PORT;
    delete env.EMOSTREAM_CONFIG;
    const stages = ['ingest', 'sink'] as const;
    // Fixed ports are the point of this test: say so plainly if something else holds one.
    for (const stage of stages)
      assert.equal(await healthz(DEFAULT_OPS_PORTS[stage]!), 0, `port ${DEFAULT_OPS_PORTS[stage]} is already in use on this host`);
    const outputs = new Map<string, string>();
    for (const stage of stages) {
      const child = spawn(process.execPath, [emo, 'serve', stage], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      outputs.set(stage, '');
      const collect = (chunk: Buffer) => outputs.set(stage, outputs.get(stage)! + chunk.toString());
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      children.push(child);
    }
    for (const [i, stage] of stages.entries()) {
      const port = DEFAULT_OPS_PORTS[stage]!;
      await waitFor(async () => children[i]!.exitCode !== null || (await healthz(port)) === 200, {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: () => `${stage} to serve /healthz on ${port}; its output:\n${outputs.get(stage)!.slice(-2000)}`,
      });
      assert.equal(children[i]!.exitCode, null, `${stage} exited:\n${outputs.get(stage)!.slice(-2000)}`);
      assert.match(outputs.get(stage)!, new RegExp(`"opsPort":${port}\\b.*"msg":"ops server listening"`));
    }
    assert.notEqual(DEFAULT_OPS_PORTS.ingest, DEFAULT_OPS_PORTS.sink);
    for (const output of outputs.values()) assert.doesNotMatch(output, /EADDRINUSE/);
  });
});
