/**
 * `node scripts/kafka/kafka.mjs start`, the development broker of the README, as a developer runs it:
 * its control URL takes the broker away and brings it back (README, "The Kafka broker for development
 * and tests"), and SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { KafkaBus } from '@emostream/shared';
import { waitFor } from '@emostream/shared/testing';

const script = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'kafka', 'kafka.mjs');

describe('scripts/kafka/kafka.mjs start', () => {
  it('survives POST /kill, so that POST /restart brings the broker back, and stops on SIGTERM', async () => {
    // Its output to a file, as from a terminal or `> kafka.log &`: a pipe to this test would keep
    // Node alive by itself and hide the bug below.
    const log = path.join(mkdtempSync(path.join(tmpdir(), 'kafka-script-')), 'out.log');
    const fd = openSync(log, 'w');
    // Not as a test's child: NODE_TEST_CONTEXT, inherited from the test runner, would keep it alive too.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [script, 'start'], { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    const stdout = () => readFileSync(log, 'utf8');
    const printed = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(stdout())?.[1];
    try {
      await waitFor(() => printed('KAFKA_CONTROL_URL') !== undefined || child.exitCode !== null, {
        timeoutMs: 120_000,
        message: () => `the broker's addresses (output: ${stdout()})`,
      });
      const control = printed('KAFKA_CONTROL_URL')!;
      const brokers = printed('KAFKA_BROKERS')!;

      assert.equal((await fetch(`${control}/kill`, { method: 'POST' })).status, 200);
      assert.equal(await (await fetch(`${control}/status`)).text(), 'down\n');
      // Regression: the script ended with its broker (nothing else held Node), taking /restart with it,
      // within a second of the kill. It must still be there 3 s later.
      const deadline = Date.now() + 3_000;
      while (Date.now() < deadline && child.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(child.exitCode, null, `the script outlives its broker's kill (output: ${stdout()})`);
      const restarted = await fetch(`${control}/restart`, { method: 'POST' });
      assert.equal(restarted.status, 200, await restarted.text());
      assert.equal(child.exitCode, null, 'the script still runs');

      const bus = new KafkaBus({
        brokers,
        clientId: 'kafka-script-test',
        ssl: { enabled: false, rejectUnauthorized: true },
        sasl: { mechanism: 'none' },
      });
      try {
        await bus.createTopics([{ name: `kafka-script-${process.pid}`, partitions: 1 }]);
      } finally {
        await bus.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, `a clean stop on SIGTERM (output: ${stdout()})`);
    }
  });
});
