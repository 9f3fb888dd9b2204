/**
 * Exactly-once against a "zombie": a replica that lost its partition (it held a batch past the
 * rebalance timeout: a long GC pause, a stalled VM) and then tries to deliver that batch after the
 * new owner has. Real broker. kafkajs cannot send the group generation with a transaction's offsets
 * (KIP-447), so only fencing by transactional id can refuse the late transaction.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { KafkaBus, runtimeConfigSchema, StageRunner, topicName, topics, type StageDefinition } from '../src/index.js';
import { decodeFaces, frameRecord } from './fixtures/frames.js';
import { relayStage } from './fixtures/relay-stage.js';
import { assertStaysTrue, collectTopic, kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor, wrapBus } from './helpers.js';

describe('exactly-once with a replica that lost its partition while it held a batch (a zombie)', () => {
  const bus = new KafkaBus(kafkaTestConfig('zombie'));
  const runners: StageRunner[] = [];
  let release = () => {};
  after(async () => {
    release();
    await Promise.all(runners.map((r) => r.stop()));
    await bus.close();
  });

  it('writes the batch once: the new owner fences the old one, whose late transaction is refused', { timeout: 120_000 }, async () => {
    const prefix = randomPrefix('zombie');
    const frames = topicName(topics.frames, prefix);
    const faces = topicName(topics.faces, prefix);
    await bus.createTopics([
      { name: frames, partitions: 1 },
      { name: faces, partitions: 1 },
    ]);
    const config = runtimeConfigSchema.parse({
      bus: 'kafka',
      kafka: { brokers: kafkaBrokers() },
      topicPrefix: prefix,
      delivery: 'exactly-once',
      instanceId: 'replica-a',
      sessionTimeoutMs: 6_000,
    });
    // Replica A's first batch waits until the test lets it go: long after it lost the partition.
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const relay = relayStage();
    const stalling: StageDefinition<typeof topics.frames.schema> = {
      ...relay,
      async handle(input, context) {
        if (!held) {
          held = true;
          await gate;
        }
        return relay.handle!(input, context);
      },
    };
    // Replica A's transactions, watched: the positive control is its late one having been tried and settled.
    let releasedAt: number | undefined;
    let lateTransactionsSettled = 0;
    const watched = wrapBus(bus, {
      producer: (producer) => ({
        send: (records) => producer.send(records),
        async sendInTransaction(records, commit) {
          const late = releasedAt !== undefined;
          try {
            await producer.sendInTransaction(records, commit);
          } finally {
            if (late) lateTransactionsSettled += 1;
          }
        },
        settle: () => producer.settle(),
        close: () => producer.close(),
      }),
    });
    const a = new StageRunner(stalling, { bus: watched, config, registry: new Registry() });
    runners.push(a);
    await a.start();
    const outputs = await collectTopic(bus, faces);
    const producer = await bus.producer();
    await producer.send([frameRecord(frames, 'cam', 1)]);
    await producer.close();
    await waitFor(() => held, { message: 'replica A to hold the batch', timeoutMs: 30_000 });

    // Replica B joins; A, stuck in its batch, misses the rebalance and B takes the partition.
    const b = new StageRunner(relayStage(), { bus, config: { ...config, instanceId: 'replica-b' }, registry: new Registry() });
    runners.push(b);
    await b.start();
    await waitFor(() => outputs.records.length >= 1, { message: 'replica B to deliver the frame', timeoutMs: 60_000 });

    // A wakes up and tries to deliver the same batch.
    releasedAt = Date.now();
    release();
    await waitFor(() => lateTransactionsSettled >= 1, { message: "replica A's late transaction to be tried", timeoutMs: 60_000 });
    // Then a marker behind it (frame 2): read_committed in offset order, so once its output is out, a
    // late output of frame 1 that the broker took would be out before it.
    const producer2 = await bus.producer();
    await producer2.send([frameRecord(frames, 'cam', 2)]);
    await producer2.close();
    const seqs = () => outputs.records.map((r) => decodeFaces(r.value).ref!.seq);
    await assertStaysTrue(() => seqs().filter((seq) => seq === 1).length === 1, {
      forMs: 100,
      provenPossible: () => seqs().includes(2),
      message: () => `the frame is delivered once (outputs: ${seqs().join(', ')})`,
      provenMessage: 'the marker frame 2 came out behind the late transaction',
      timeoutMs: 60_000,
    });
    await outputs.consumer.close();
    assert.deepEqual(seqs(), [1, 2], 'the frame once, then the marker');
  });
});
