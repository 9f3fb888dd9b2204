import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MAX_MESSAGE_BYTES, type Bus, type BusConsumer, type ConsumedRecord, type TopicPartition } from '../src/index.js';
import { assertStaysTrue, bytes, randomPrefix, text, waitFor } from './helpers.js';

/**
 * The behaviour every Bus implementation must have. bus-memory.test.ts and bus-kafka.test.ts run it
 * against InMemoryBus and KafkaBus; the stage runtime relies on nothing else.
 */
export function busContract(name: string, makeBus: () => Bus): void {
  describe(`Bus contract: ${name}`, () => {
    const bus = makeBus();
    const consumers: BusConsumer[] = [];
    after(async () => {
      await Promise.all(consumers.map((c) => c.close()));
      await bus.close();
    });

    async function topic(partitions: number): Promise<string> {
      const topicName = `${randomPrefix('contract')}.data`;
      await bus.createTopics([{ name: topicName, partitions }]);
      return topicName;
    }

    /** Starts a consumer that records everything it is given and commits after each batch. */
    async function collector(groupId: string, topics: string[], options: { commit?: boolean; fromBeginning?: boolean } = {}) {
      const seen: ConsumedRecord[] = [];
      const assigned: TopicPartition[] = [];
      const consumer = await bus.consumer({ groupId, topics, fromBeginning: options.fromBeginning ?? true, sessionTimeoutMs: 6_000 });
      consumers.push(consumer);
      await consumer.run({
        onAssigned: (parts) => {
          assigned.push(...parts);
          return Promise.resolve();
        },
        onRevoked: (parts) => {
          for (const p of parts)
            assigned.splice(
              assigned.findIndex((a) => a.topic === p.topic && a.partition === p.partition),
              1,
            );
          return Promise.resolve();
        },
        eachBatch: async (batch) => {
          seen.push(...batch.records);
          if (options.commit ?? true) {
            const last = batch.records[batch.records.length - 1]!;
            await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) }]);
          }
        },
      });
      return { consumer, seen, assigned };
    }

    it('creates topics with the asked partition count, and leaves existing topics alone', async () => {
      const name = await topic(3);
      assert.equal(await bus.partitionCount(name), 3);
      await bus.createTopics([{ name, partitions: 5 }]);
      assert.equal(await bus.partitionCount(name), 3);
      assert.equal(await bus.partitionCount(`${name}.missing`), undefined);
    });

    it('reports the offsets a group committed, and none for partitions it never committed', async () => {
      const name = await topic(2);
      const group = randomPrefix('g');
      assert.deepEqual(await bus.committedOffsets(group, name), []);
      const producer = await bus.producer({ transactionalId: randomPrefix('tx') });
      await producer.sendInTransaction([], { groupId: group, offsets: [{ topic: name, partition: 1, offset: '3' }] });
      // Kafka shows a transaction's offsets once it has written the commit markers, just after the commit returns.
      let shown = await bus.committedOffsets(group, name);
      await waitFor(async () => (shown = await bus.committedOffsets(group, name)).length > 0, {
        timeoutMs: 5_000,
        message: 'the committed offset',
      });
      assert.deepEqual(shown, [{ topic: name, partition: 1, offset: '3' }]);
      assert.deepEqual(
        (await bus.startOffsets(name)).map((o) => o.offset),
        ['0', '0'],
      );
      await producer.close();
    });

    it('commits transactions of offsets alone back to back (a batch without outputs)', async () => {
      // Kafka refuses a transaction's first request with CONCURRENT_TRANSACTIONS until the previous
      // one's markers are written; kafkajs retries that when partitions are added, not offsets.
      const name = await topic(1);
      const group = randomPrefix('g');
      const producer = await bus.producer({ transactionalId: randomPrefix('tx') });
      try {
        for (let offset = 1; offset <= 40; offset += 1)
          await producer.sendInTransaction([], { groupId: group, offsets: [{ topic: name, partition: 0, offset: String(offset) }] });
      } finally {
        await producer.close();
      }
    });

    it("reports each partition's end offset", async () => {
      const name = await topic(2);
      const producer = await bus.producer();
      await producer.send(Array.from({ length: 6 }, (_, i) => ({ topic: name, key: `k${i}`, value: bytes(String(i)) })));
      const ends = await bus.endOffsets(name);
      assert.deepEqual(ends.map((e) => e.partition).sort(), [0, 1]);
      assert.equal(
        ends.reduce((sum, e) => sum + Number(e.offset), 0),
        6,
      );
      await producer.close();
    });

    it('keeps each key in order across a multi-partition topic and delivers every record once', async () => {
      const name = await topic(3);
      const producer = await bus.producer();
      const keys = ['cam-a', 'cam-b', 'cam-c', 'cam-d', 'cam-e'];
      const records = Array.from({ length: 200 }, (_, i) => ({ topic: name, key: keys[i % keys.length]!, value: bytes(String(i)) }));
      await producer.send(records.slice(0, 100));
      await producer.send(records.slice(100));
      const { seen } = await collector(randomPrefix('g'), [name]);
      await waitFor(() => seen.length >= 200, { message: () => `200 records, saw ${seen.length}` });
      assert.equal(seen.length, 200);
      for (const key of keys) {
        const values = seen.filter((r) => r.key === key).map((r) => Number(text(r.value)));
        assert.deepEqual(
          values,
          [...values].sort((a, b) => a - b),
          `records of ${key} out of order`,
        );
        assert.equal(new Set(seen.filter((r) => r.key === key).map((r) => r.partition)).size, 1, `${key} spread over partitions`);
      }
      await producer.close();
    });

    it('carries headers and tombstones through', async () => {
      const name = await topic(1);
      const producer = await bus.producer();
      await producer.send([
        { topic: name, key: 'k', value: bytes('v'), headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
        { topic: name, key: 'k', value: null },
      ]);
      const { seen } = await collector(randomPrefix('g'), [name]);
      await waitFor(() => seen.length === 2);
      assert.equal(seen[0]!.headers.traceparent, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      assert.equal(seen[1]!.value, null);
      await producer.close();
    });

    it('shares partitions among the members of a group, each partition to one member', async () => {
      const name = await topic(4);
      const group = randomPrefix('g');
      const a = await collector(group, [name]);
      const b = await collector(group, [name]);
      await waitFor(() => a.assigned.length + b.assigned.length === 4 && a.assigned.length > 0 && b.assigned.length > 0, {
        message: () => `4 partitions over 2 members (a=${a.assigned.length}, b=${b.assigned.length})`,
      });
      const producer = await bus.producer();
      await producer.send(Array.from({ length: 100 }, (_, i) => ({ topic: name, key: `cam-${i % 10}`, value: bytes(String(i)) })));
      await waitFor(() => a.seen.length + b.seen.length >= 100, { message: () => `100 records, saw ${a.seen.length + b.seen.length}` });
      const aParts = new Set(a.seen.map((r) => r.partition));
      const bParts = new Set(b.seen.map((r) => r.partition));
      assert.equal([...aParts].filter((p) => bParts.has(p)).length, 0, 'a partition was consumed by both members');
      assert.equal(a.seen.length + b.seen.length, 100);
      await producer.close();
    });

    it('resumes a group from its committed offset after its member closes', async () => {
      const name = await topic(1);
      const group = randomPrefix('g');
      const producer = await bus.producer();
      await producer.send(Array.from({ length: 10 }, (_, i) => ({ topic: name, key: 'k', value: bytes(String(i)) })));
      const first = await collector(group, [name]);
      await waitFor(() => first.seen.length === 10);
      await first.consumer.close();
      await producer.send(Array.from({ length: 5 }, (_, i) => ({ topic: name, key: 'k', value: bytes(String(10 + i)) })));
      const second = await collector(group, [name]);
      await waitFor(() => second.seen.length === 5, { message: () => `5 new records, saw ${second.seen.length}` });
      assert.deepEqual(
        second.seen.map((r) => text(r.value)),
        ['10', '11', '12', '13', '14'],
      );
      await producer.close();
    });

    it('redelivers a batch whose handler threw, from the committed offset', async () => {
      const name = await topic(1);
      const producer = await bus.producer();
      await producer.send(Array.from({ length: 3 }, (_, i) => ({ topic: name, key: 'k', value: bytes(String(i)) })));
      const deliveries: string[] = [];
      let failed = false;
      const consumer = await bus.consumer({ groupId: randomPrefix('g'), topics: [name], fromBeginning: true, sessionTimeoutMs: 6_000 });
      consumers.push(consumer);
      await consumer.run({
        eachBatch: async (batch) => {
          deliveries.push(...batch.records.map((r) => text(r.value)));
          if (!failed) {
            failed = true;
            throw new Error('handler failed once');
          }
          await consumer.commit([{ topic: name, partition: 0, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
        },
      });
      await waitFor(() => deliveries.filter((v) => v === '0').length >= 2 && deliveries.includes('2') && failed, {
        message: () => `redelivery, saw ${deliveries.join(',')}`,
      });
      assert.ok(deliveries.filter((v) => v === '0').length >= 2);
      await producer.close();
    });

    it('handles batches of different partitions at once with partitionsConcurrently, one batch per partition', async () => {
      const name = await topic(2);
      const producer = await bus.producer();
      await producer.send(Array.from({ length: 20 }, (_, i) => ({ topic: name, key: `cam-${i % 10}`, value: bytes(String(i)) })));
      const consumer = await bus.consumer({
        groupId: randomPrefix('g'),
        topics: [name],
        fromBeginning: true,
        sessionTimeoutMs: 6_000,
        partitionsConcurrently: 2,
      });
      consumers.push(consumer);
      const handling = new Set<number>();
      let mostAtOnce = 0;
      let samePartitionTwice = false;
      const seen: string[] = [];
      await consumer.run({
        eachBatch: async (batch) => {
          if (handling.has(batch.partition)) samePartitionTwice = true;
          handling.add(batch.partition);
          mostAtOnce = Math.max(mostAtOnce, handling.size);
          // Hold the batch until the other partition's batch is in hand too (or give up after 5 s).
          for (let waited = 0; waited < 5_000 && mostAtOnce < 2; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
          seen.push(...batch.records.map((r) => text(r.value)));
          handling.delete(batch.partition);
          await consumer.commit([{ topic: name, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
        },
      });
      await waitFor(() => seen.length >= 20, { timeoutMs: 30_000, message: () => `all 20 records, saw ${seen.length}` });
      assert.equal(mostAtOnce, 2, 'the two partitions must have been handled at the same time');
      assert.equal(samePartitionTwice, false, 'a partition must never have two batches in hand');
      assert.deepEqual(
        seen.map(Number).sort((a, b) => a - b),
        Array.from({ length: 20 }, (_, i) => i),
      );
      await producer.close();
    });

    it('delivers a batch once even when its handler works longer than the session timeout (regression: slow CPU models were redelivered forever)', async () => {
      const name = await topic(1);
      const producer = await bus.producer();
      await producer.send([{ topic: name, key: 'k', value: bytes('slow') }]);
      let deliveries = 0;
      let done = false;
      let markerSeen = false;
      const consumer = await bus.consumer({ groupId: randomPrefix('g'), topics: [name], fromBeginning: true, sessionTimeoutMs: 6_000 });
      consumers.push(consumer);
      await consumer.run({
        eachBatch: async (batch) => {
          if (batch.records.some((r) => text(r.value) === 'slow')) {
            deliveries += 1;
            // Time is the subject here: the handler works past the 6 s session timeout.
            await new Promise((resolve) => setTimeout(resolve, 8_000));
          }
          if (batch.records.some((r) => text(r.value) === 'marker')) markerSeen = true;
          await consumer.commit([{ topic: name, partition: 0, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
          done = true;
        },
      });
      await waitFor(() => done, { timeoutMs: 40_000, message: 'the slow batch to finish' });
      // A marker behind it: the partition is read in order, so once the marker is handled a redelivery
      // of the slow batch would have come first.
      await producer.send([{ topic: name, key: 'k', value: bytes('marker') }]);
      await assertStaysTrue(() => deliveries === 1, {
        forMs: 50,
        provenPossible: () => markerSeen,
        message: () => `the slow batch delivered once (delivered ${deliveries} times)`,
        provenMessage: 'the marker behind the slow batch was handled',
      });
      await producer.close();
    });

    it('pauses and resumes a partition', async () => {
      const name = await topic(1);
      const producer = await bus.producer();
      // A second topic, not paused, read by the same consumer: the positive control that it kept fetching.
      const control = await topic(1);
      const { consumer, seen, assigned } = await collector(randomPrefix('g'), [name, control]);
      await waitFor(() => assigned.length === 2);
      await producer.send([{ topic: name, key: 'k', value: bytes('before') }]);
      await waitFor(() => seen.length === 1);
      consumer.pause([{ topic: name, partition: 0 }]);
      await producer.send([{ topic: name, key: 'k', value: bytes('while paused') }]);
      await producer.send([{ topic: control, key: 'k', value: bytes('control') }]);
      const of = (topicName: string) => seen.filter((r) => r.topic === topicName);
      await assertStaysTrue(() => of(name).length === 1, {
        forMs: 500,
        provenPossible: () => of(control).length === 1,
        message: () => `a paused partition delivered no record (delivered ${of(name).length - 1})`,
        provenMessage: 'the record written after it to an unpaused topic was delivered',
      });
      consumer.resume([{ topic: name, partition: 0 }]);
      await waitFor(() => of(name).length === 2);
      assert.equal(text(of(name)[1]!.value), 'while paused');
      await producer.close();
    });

    it('writes records and commits offsets atomically in a transaction', async () => {
      const input = await topic(1);
      const output = await topic(1);
      const group = randomPrefix('g');
      const producer = await bus.producer({ transactionalId: randomPrefix('tx') });
      const plain = await bus.producer();
      await plain.send([
        { topic: input, key: 'k', value: bytes('in-0') },
        { topic: input, key: 'k', value: bytes('in-1') },
      ]);

      await producer.sendInTransaction([{ topic: output, key: 'k', value: bytes('out-0') }], {
        groupId: group,
        offsets: [{ topic: input, partition: 0, offset: '1' }],
      });
      // A failing transaction (one record over the size limit) must leave nothing visible and commit nothing.
      await assert.rejects(
        producer.sendInTransaction(
          [
            { topic: output, key: 'k', value: bytes('out-1 (must never be visible)') },
            { topic: output, key: 'k', value: new Uint8Array(MAX_MESSAGE_BYTES + 1024) },
          ],
          { groupId: group, offsets: [{ topic: input, partition: 0, offset: '2' }] },
        ),
      );

      const outputs = await collector(randomPrefix('g'), [output]);
      const inputs = await collector(group, [input], { commit: false });
      await waitFor(() => outputs.seen.length >= 1 && inputs.seen.length >= 1, { message: 'the committed transaction' });
      // Markers behind both: read in order, so once they are in, the failed transaction's record (before
      // the output marker) or a re-read of in-0 (before in-1) would have shown.
      await plain.send([
        { topic: output, key: 'k', value: bytes('marker') },
        { topic: input, key: 'k', value: bytes('in-2') },
      ]);
      const texts = (records: ConsumedRecord[]) => records.map((r) => text(r.value));
      await assertStaysTrue(() => texts(outputs.seen)[0] === 'out-0' && texts(inputs.seen)[0] === 'in-1', {
        forMs: 50,
        provenPossible: () => texts(outputs.seen).includes('marker') && texts(inputs.seen).includes('in-2'),
        message: () =>
          `only the committed output and the committed offset show (outputs ${texts(outputs.seen).join()}, inputs ${texts(inputs.seen).join()})`,
        provenMessage: 'the markers behind the transaction came out',
      });
      assert.deepEqual(texts(outputs.seen), ['out-0', 'marker']);
      assert.deepEqual(texts(inputs.seen), ['in-1', 'in-2'], "the group did not resume at the transaction's committed offset");
      await producer.close();
      await plain.close();
    });

    it("tells where a member reads next, past transaction markers, so a reader knows it has read everything (ingest's progress relies on it)", async () => {
      const name = await topic(1);
      const producer = await bus.producer({ transactionalId: randomPrefix('tx') });
      for (const i of [0, 1, 2])
        await producer.sendInTransaction([{ topic: name, key: 'k', value: bytes(`r-${i}`) }], { groupId: '', offsets: [] });
      const reader = await collector(randomPrefix('g'), [name], { commit: false });
      const end = BigInt((await bus.endOffsets(name))[0]!.offset);
      const position = () => reader.consumer.readPositions().find((p) => p.topic === name && p.partition === 0)?.offset;
      await waitFor(() => reader.seen.length === 3 && position() !== undefined && BigInt(position()!) >= end, {
        message: () => `three records read and the position (${position()}) at the end offset (${end})`,
      });
      await producer.close();
    });
  });
}
