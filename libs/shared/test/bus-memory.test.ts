import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryBus } from '../src/index.js';
import { busContract } from './bus-contract.js';
import { assertStaysTrue, bytes, waitFor } from './helpers.js';

busContract('InMemoryBus', () => new InMemoryBus({ retryBackoffMs: 50 }));

describe('InMemoryBus backpressure', () => {
  it('makes a producer wait while a partition holds maxQueuedPerPartition uncommitted records, and resumes it as the consumer commits', async () => {
    const bus = new InMemoryBus({ maxQueuedPerPartition: 10 });
    await bus.createTopics([
      { name: 'frames', partitions: 1 },
      { name: 'elsewhere', partitions: 1 },
    ]);
    const consumer = await bus.consumer({ groupId: 'slow', topics: ['frames'], fromBeginning: true, maxBatchRecords: 1 });
    let release!: () => void;
    let gate = new Promise<void>((resolve) => (release = resolve));
    let consumed = 0;
    await consumer.run({
      eachBatch: async (batch) => {
        await gate;
        consumed += batch.records.length;
        await consumer.commit([{ topic: 'frames', partition: 0, offset: String(Number(batch.records[0]!.offset) + 1) }]);
      },
    });
    const producer = await bus.producer();
    let sent = 0;
    const sending = (async () => {
      for (let i = 0; i < 30; i += 1) {
        await producer.send([{ topic: 'frames', key: 'cam', value: bytes(String(i)) }]);
        sent += 1;
      }
    })();
    await waitFor(() => sent === 10);
    // The control: sends to a partition with room go through meanwhile, one after another, so the bus
    // and the event loop were free to take the eleventh record had the cap let it through.
    const other = await bus.producer();
    let sentElsewhere = 0;
    const sendingElsewhere = (async () => {
      for (let i = 0; i < 5; i += 1) {
        await other.send([{ topic: 'elsewhere', key: 'k', value: bytes(String(i)) }]);
        sentElsewhere += 1;
      }
    })();
    await assertStaysTrue(() => sent === 10, {
      forMs: 100,
      provenPossible: () => sentElsewhere === 5,
      message: () => `the producer waits at 10 records while the consumer commits nothing (sent ${sent})`,
      provenMessage: 'five sends to a partition with room went through',
    });
    await sendingElsewhere;
    release();
    await sending;
    await waitFor(() => consumed === 30);
    await bus.close();
    gate = Promise.resolve();
  });
});

describe('InMemoryBus consumer close', () => {
  it('closes at once even when the close comes while the consumer is busy with other news (regression: each stop waited 1 s)', async () => {
    const bus = new InMemoryBus();
    await bus.createTopics([
      { name: 'in', partitions: 6 },
      { name: 'elsewhere', partitions: 1 },
    ]);
    const producer = await bus.producer();
    const slowest: number[] = [];
    // The close lands a few microtask turns after the news: one of them finds the loop between waking and waiting again.
    for (let turns = 0; turns < 12; turns += 1) {
      const consumer = await bus.consumer({ groupId: `g${turns}`, topics: ['in'], fromBeginning: true, partitionsConcurrently: 4 });
      await consumer.run({ eachBatch: async () => {} });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const sent = producer.send([{ topic: 'elsewhere', key: 'k', value: bytes(String(turns)) }]);
      for (let turn = 0; turn < turns; turn += 1) await Promise.resolve();
      const started = performance.now();
      await consumer.close();
      slowest.push(performance.now() - started);
      await sent;
    }
    await bus.close();
    assert.ok(Math.max(...slowest) < 300, `close took ${slowest.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  });
});
