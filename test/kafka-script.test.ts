/**
 * `node scripts/kafka/kafka.mjs start`, the development broker of the README, as a developer runs it:
 * its control URL takes the broker away and brings it back (README, "The Kafka broker for development
 * and tests"), and SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { KafkaBus } from '@emostream/shared';
import { assertStaysTrue, waitFor } from '@emostream/shared/testing';

/** Whether a Kafka broker (a java process running kafka.Kafka) runs below process `root`. */
function brokerBelow(root: number): boolean {
  const parents = new Map<number, number>();
  const brokers: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(/^\d+ \(.*\) \S+ (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'))![1]));
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes('kafka.Kafka')) brokers.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return brokers.some((pid) => {
    for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) if (at === root) return true;
    return false;
  });
}

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

      // The control below must see the broker's process, or its absence after the kill would prove nothing.
      assert.ok(brokerBelow(child.pid!), 'no broker process (java kafka.Kafka) found below the script');
      assert.equal((await fetch(`${control}/kill`, { method: 'POST' })).status, 200);
      assert.equal(await (await fetch(`${control}/status`)).text(), 'down\n');
      // Regression: the script ended with its broker (nothing else held Node), taking /restart with it,
      // within a second of the kill. It must still be there 3 s later, and a while after its broker's
      // process is gone (the positive control: then nothing but the script's own hold keeps it up).
      await assertStaysTrue(() => child.exitCode === null, {
        forMs: 3_000,
        provenPossible: () => !brokerBelow(child.pid!),
        message: () => `the script outlives its broker's kill (output: ${stdout()})`,
        provenMessage: "the broker's process below the script is gone",
        intervalMs: 100,
      });
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
