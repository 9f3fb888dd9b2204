#!/usr/bin/env node
// Smoke test for the dev broker: checks the Kafka features the pipeline relies
// on, end to end, with kafkajs.
//
//   node scripts/with-kafka.mjs node scripts/kafka/smoke.mjs
//
// 1. a topic with 3 partitions; keyed messages keep per-key order and a key
//    always lands on the same partition; a consumer group reads them all
// 2. large messages (frames/crops) up to the broker's 10 MiB limit
// 3. transactions: produce + sendOffsets + commit, and an aborted transaction
//    that a read_committed consumer must never see
//
// kafkajs may log one ERROR "...another concurrent operation on the same
// transaction was ongoing" (CONCURRENT_TRANSACTIONS): the broker is still
// writing the previous transaction's commit markers; kafkajs retries it.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) {
  console.error('KAFKA_BROKERS is not set; run via: node scripts/with-kafka.mjs node scripts/kafka/smoke.mjs');
  process.exit(2);
}

const t0 = Date.now();
const step = (msg) => console.log(`[smoke +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);
const run = crypto.randomBytes(3).toString('hex');
const kafka = new Kafka({ clientId: 'emostream-smoke', brokers: brokers.split(','), logLevel: logLevel.WARN });
const createPartitioner = Partitioners.DefaultPartitioner;

/** Consumes `topic` from the beginning until `done(messages)` is true (or times out). */
async function consumeUntil({ topic, groupId, readUncommitted = false, done, timeoutMs = 30_000 }) {
  const consumer = kafka.consumer({ groupId, readUncommitted, maxBytesPerPartition: 11 * 1024 * 1024 });
  const seen = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out on ${topic} after ${seen.length} messages`)), timeoutMs);
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            seen.push({ partition, offset: message.offset, key: message.key?.toString(), value: message.value });
            if (done(seen)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

const admin = kafka.admin();
await admin.connect();
const producer = kafka.producer({ createPartitioner, idempotent: true, maxInFlightRequests: 1 });
await producer.connect();

try {
  // --- 1. partitions, keys, consumer group ---------------------------------
  const input = `smoke-in-${run}`;
  const output = `smoke-out-${run}`;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: input, numPartitions: 3, replicationFactor: 1 },
      { topic: output, numPartitions: 1, replicationFactor: 1 },
    ],
  });
  const meta = await admin.fetchTopicMetadata({ topics: [input] });
  assert.equal(meta.topics[0].partitions.length, 3);
  step(`created ${input} (3 partitions) and ${output}`);

  const N = 60;
  const keys = Array.from({ length: 12 }, (_, i) => `camera-${i}`);
  await producer.send({
    topic: input,
    messages: Array.from({ length: N }, (_, i) => ({ key: keys[i % keys.length], value: String(i) })),
  });
  const seen = await consumeUntil({ topic: input, groupId: `smoke-group-${run}`, done: (s) => s.length >= N });
  assert.equal(seen.length, N);
  const partitionOf = new Map();
  const lastPerKey = new Map();
  for (const m of seen) {
    if (partitionOf.has(m.key)) assert.equal(partitionOf.get(m.key), m.partition, `key ${m.key} moved partition`);
    partitionOf.set(m.key, m.partition);
    const v = Number(m.value.toString());
    assert.ok(v > (lastPerKey.get(m.key) ?? -1), `key ${m.key} out of order`);
    lastPerKey.set(m.key, v);
  }
  const used = new Set(partitionOf.values());
  assert.ok(used.size > 1, 'keyed messages should spread over several partitions');
  step(`consumer group read ${N} keyed messages over partitions [${[...used].sort()}] in per-key order`);

  // --- 2. large message ----------------------------------------------------
  const big = crypto.randomBytes(8 * 1024 * 1024); // > 1 MB default, < 10 MiB limit
  await producer.send({ topic: output, messages: [{ key: 'big', value: big }] });
  step('produced an 8 MiB message');

  // --- 3. transactions -------------------------------------------------------
  // The consume-transform-produce pattern: output + input offsets commit atomically.
  const txGroup = `smoke-tx-group-${run}`;
  const txProducer = kafka.producer({
    createPartitioner,
    transactionalId: `smoke-tx-${run}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await txProducer.connect();
  try {
    const committed = await txProducer.transaction();
    await committed.send({ topic: output, messages: [{ key: 'tx', value: 'committed' }] });
    await committed.sendOffsets({
      consumerGroupId: txGroup,
      topics: [{ topic: input, partitions: [0, 1, 2].map((partition) => ({ partition, offset: '5' })) }],
    });
    await committed.commit();
    step('transaction with sendOffsets committed');

    const aborted = await txProducer.transaction();
    await aborted.send({ topic: output, messages: [{ key: 'tx', value: 'aborted' }] });
    await aborted.abort();
    step('second transaction aborted');
  } finally {
    await txProducer.disconnect();
  }

  const offsets = await admin.fetchOffsets({ groupId: txGroup, topics: [input] });
  assert.deepEqual(offsets[0].partitions.map((p) => p.offset).sort(), ['5', '5', '5']);
  step('sendOffsets stored the group offsets');

  // A plain message after the aborted one tells the consumers they are at the end.
  await producer.send({ topic: output, messages: [{ key: 'marker', value: 'end' }] });
  const isEnd = (s) => s.some((m) => m.key === 'marker');
  const values = (s) => s.map((m) => (m.key === 'big' ? `big:${m.value.length}` : m.value.toString()));

  const readCommitted = await consumeUntil({ topic: output, groupId: `smoke-rc-${run}`, done: isEnd });
  assert.deepEqual(values(readCommitted), [`big:${big.length}`, 'committed', 'end']);
  assert.ok(readCommitted[0].value.equals(big), 'large message corrupted');
  step('read_committed consumer saw the committed message and not the aborted one');

  const readAll = await consumeUntil({ topic: output, groupId: `smoke-ru-${run}`, readUncommitted: true, done: isEnd });
  assert.deepEqual(values(readAll), [`big:${big.length}`, 'committed', 'aborted', 'end']);
  step('read_uncommitted consumer does see the aborted message (so the abort really wrote it)');

  await admin.deleteTopics({ topics: [input, output] });
  step('OK');
} finally {
  await producer.disconnect();
  await admin.disconnect();
}
