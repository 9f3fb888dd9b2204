import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { KafkaBus, topicName, topics, type ConsumedRecord } from '../src/index.js';
import { decodeFaces, frameRecord } from './fixtures/frames.js';
import { collectTopic, kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor } from './helpers.js';

const relayMain = fileURLToPath(new URL('./fixtures/relay-stage.ts', import.meta.url));

interface StageProcess {
  child: ChildProcess;
  opsPort: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the relay stage as its own process, the way a service runs, against the test broker. */
function startRelay(env: Record<string, string>): StageProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', relayMain], {
    env: {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_OPS_PORT: '0',
      EMOSTREAM_OPS_HOST: '127.0.0.1',
      EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
      EMOSTREAM_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const opsPort = new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; opsPort?: number; level: number };
      if (entry.msg === 'ops server listening' && entry.opsPort) resolve(entry.opsPort);
      if (entry.level >= 50) process.stderr.write(`[relay] ${line}\n`);
    });
    void exited.then(({ code, signal }) => reject(new Error(`relay exited early (code ${code}, signal ${signal})`)));
  });
  opsPort.catch(() => {});
  return { child, opsPort, exited };
}

async function httpStatus(port: number, path: string): Promise<number | 'refused'> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return 'refused';
  }
}

/** The frame number of the markers sent behind each stream's 125 frames. */
const MARKER_SEQ = 126;

const outputKey = (r: ConsumedRecord) => {
  const ref = decodeFaces(r.value).ref!;
  return `${ref.streamId}#${ref.seq}`;
};

describe('A stage process on the real broker', () => {
  const bus = new KafkaBus(kafkaTestConfig('process-test'));
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await bus.close();
  });

  /** Feeds 1,000 frames of 8 streams, SIGKILLs the stage once a third of them are out, restarts it, and returns every output. */
  async function killHalfwayAndRestart(delivery: 'at-least-once' | 'exactly-once') {
    const prefix = randomPrefix(delivery === 'exactly-once' ? 'eos' : 'alo');
    const frames = topicName(topics.frames, prefix);
    await bus.createTopics([{ name: frames, partitions: 6 }]);
    const producer = await bus.producer();
    await producer.send(Array.from({ length: 1_000 }, (_, i) => frameRecord(frames, `cam-${i % 8}`, Math.floor(i / 8) + 1)));
    await producer.close();

    const env = {
      EMOSTREAM_TOPIC_PREFIX: prefix,
      EMOSTREAM_DELIVERY: delivery,
      EMOSTREAM_INSTANCE_ID: 'replica-0',
      EMOSTREAM_MAX_BATCH_SIZE: '20',
      RELAY_DELAY_MS: '4',
    };
    const first = startRelay(env);
    children.push(first.child);
    await first.opsPort;
    await bus.createTopics([{ name: topicName(topics.faces, prefix), partitions: 6 }]);
    const outputs = await collectTopic(bus, topicName(topics.faces, prefix));
    // The kill is triggered by a read_uncommitted reader: it sees a batch's outputs as soon as they are
    // written, before the stage commits their inputs, so the kill tends to land in that window — the
    // case where at-least-once duplicates and exactly-once must abort.
    const uncommitted = await collectTopic(bus, topicName(topics.faces, prefix), { readCommitted: false });
    await waitFor(
      () => {
        if (first.child.exitCode !== null) throw new Error(`the stage exited on its own with code ${first.child.exitCode}`);
        return uncommitted.records.length >= 300;
      },
      { timeoutMs: 60_000, message: () => `a third of the outputs (have ${uncommitted.records.length})` },
    );
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    assert.equal(killed.signal, 'SIGKILL');
    const atKill = new Set(outputs.records.map(outputKey)).size;
    assert.ok(atKill < 1_000, `the stage finished all 1,000 inputs before it was killed (${atKill})`);

    const second = startRelay(env);
    children.push(second.child);
    await waitFor(() => new Set(outputs.records.map(outputKey)).size === 1_000, {
      timeoutMs: 90_000,
      message: () => `an output for each of 1,000 inputs (have ${new Set(outputs.records.map(outputKey)).size})`,
    });
    // A marker per stream (frame 126, behind its 125): a partition is handled in order, so once every
    // marker is out, any late duplicate of the 1,000 inputs would be out too. Then count.
    const markers = await bus.producer();
    await markers.send(Array.from({ length: 8 }, (_, cam) => frameRecord(frames, `cam-${cam}`, MARKER_SEQ)));
    await markers.close();
    const isMarker = (r: ConsumedRecord) => decodeFaces(r.value).ref!.seq === MARKER_SEQ;
    await waitFor(() => outputs.records.filter(isMarker).length >= 8, {
      timeoutMs: 60_000,
      message: () => `the marker of each of 8 streams (have ${outputs.records.filter(isMarker).length})`,
    });
    second.child.kill('SIGTERM');
    await second.exited;
    await outputs.consumer.close();
    await uncommitted.consumer.close();
    const uncommittedInputs = uncommitted.records.filter((r) => !isMarker(r)).length;
    return { records: outputs.records.filter((r) => !isMarker(r)), atKill, uncommittedCount: uncommittedInputs };
  }

  it('at-least-once: a stage SIGKILLed halfway through 1,000 inputs and restarted loses none of them', async () => {
    const { records, atKill } = await killHalfwayAndRestart('at-least-once');
    const keys = records.map(outputKey);
    const unique = new Set(keys);
    for (let i = 0; i < 1_000; i += 1) assert.ok(unique.has(`cam-${i % 8}#${Math.floor(i / 8) + 1}`));
    console.log(`at-least-once: killed after ${atKill} outputs; ${keys.length} outputs in all, ${keys.length - unique.size} duplicates`);
  });

  it('exactly-once: a stage SIGKILLed halfway through 1,000 inputs and restarted commits exactly one output per input', async () => {
    const { records, atKill, uncommittedCount } = await killHalfwayAndRestart('exactly-once');
    const keys = records.map(outputKey);
    assert.equal(new Set(keys).size, 1_000);
    assert.equal(keys.length, 1_000, `a read_committed consumer saw ${keys.length - 1_000} duplicate outputs`);
    // Per stream, outputs keep the inputs' order.
    for (let cam = 0; cam < 8; cam += 1) {
      const seqs = records
        .map((r) => decodeFaces(r.value).ref!)
        .filter((ref) => ref.streamId === `cam-${cam}`)
        .map((ref) => ref.seq);
      assert.deepEqual(
        seqs,
        [...seqs].sort((a, b) => a - b),
      );
    }
    console.log(
      `exactly-once: killed after ${atKill} committed outputs; exactly 1,000 committed outputs; ` +
        `${uncommittedCount - 1_000} outputs of aborted transactions seen only by a read_uncommitted reader`,
    );
  });

  it('a consumer that crashes for good (kafkajs CRASH, non-retriable) turns /healthz to 503 and the process exits non-zero after the grace period', async () => {
    const prefix = randomPrefix('crash');
    const graceMs = 3_000;
    // The broker refuses a session timeout over its group.max.session.timeout.ms (30 min) with
    // INVALID_SESSION_TIMEOUT, which kafkajs does not retry: its consumer crashes and stays down.
    const stage = startRelay({
      EMOSTREAM_TOPIC_PREFIX: prefix,
      EMOSTREAM_SESSION_TIMEOUT_MS: String(31 * 60_000),
      EMOSTREAM_SHUTDOWN_GRACE_MS: String(graceMs),
    });
    children.push(stage.child);
    const port = await stage.opsPort;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void stage.exited.then((e) => (exit = e));
    const seen: (number | 'refused')[] = [];
    let unhealthyAt: number | undefined;
    while (!exit) {
      const status = await httpStatus(port, '/healthz');
      if (status === 503) unhealthyAt ??= Date.now();
      seen.push(status);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(unhealthyAt, `/healthz never answered 503 before the exit (saw ${[...new Set(seen)].join(', ')})`);
    assert.equal(exit.code, 1);
    assert.ok(
      Date.now() - unhealthyAt >= graceMs - 500,
      `exited ${Date.now() - unhealthyAt} ms after turning unhealthy, before the ${graceMs} ms grace period`,
    );
  });

  it('serves per-stage counters and latency histograms on /metrics, and on SIGTERM turns unready at once and exits within the grace period', async () => {
    const prefix = randomPrefix('ops');
    const frames = topicName(topics.frames, prefix);
    await bus.createTopics([{ name: frames, partitions: 1 }]);
    const producer = await bus.producer();
    await producer.send(Array.from({ length: 200 }, (_, i) => frameRecord(frames, 'cam', i + 1)));
    await producer.close();
    const graceMs = 8_000;
    // 100 ms a message in batches of 10: a batch is in flight for a second, long enough to watch the drain.
    const stage = startRelay({
      EMOSTREAM_TOPIC_PREFIX: prefix,
      EMOSTREAM_MAX_BATCH_SIZE: '10',
      RELAY_DELAY_MS: '100',
      EMOSTREAM_SHUTDOWN_GRACE_MS: String(graceMs),
    });
    children.push(stage.child);
    const port = await stage.opsPort;
    await waitFor(async () => (await httpStatus(port, '/readyz')) === 200, { message: '/readyz 200' });
    assert.equal(await httpStatus(port, '/healthz'), 200);
    await waitFor(
      async () =>
        /emostream_relay_messages_total\{outcome="processed"\} [1-9]/.test(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
      {
        message: 'processed messages in /metrics',
      },
    );
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of [
      'emostream_relay_messages_total',
      'emostream_relay_outputs_total',
      'emostream_relay_handle_seconds_bucket',
      'emostream_relay_process_latency_seconds_bucket',
      'emostream_relay_batch_size_bucket',
      'emostream_relay_ready 1',
      'process_cpu_seconds_total',
    ]) {
      assert.ok(metrics.includes(name), `/metrics lacks ${name}`);
    }

    const signalledAt = Date.now();
    stage.child.kill('SIGTERM');
    const seen = new Set<number | 'refused'>();
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    void stage.exited.then((e) => (exit = e));
    while (!exit) {
      seen.add(await httpStatus(port, '/readyz'));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const tookMs = Date.now() - signalledAt;
    assert.ok(seen.has(503), `/readyz never answered 503 while draining (saw ${[...seen].join(', ')})`);
    assert.equal(exit.code, 0);
    assert.ok(tookMs < graceMs, `shutdown took ${tookMs} ms, over the ${graceMs} ms grace period`);
  });
});
