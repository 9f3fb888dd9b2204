import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  BusError,
  DEAD_LETTER_ORIGINAL_BYTES,
  InMemoryBus,
  MAX_MESSAGE_BYTES,
  KafkaBus,
  runtimeConfigSchema,
  StageError,
  StageRunner,
  startTracing,
  topicName,
  topics,
  makeMessage,
  encodeMessage,
  type Bus,
  type OutgoingRecord,
  type RuntimeConfig,
  type StageDefinition,
} from '../src/index.js';
import { decodeDeadLetter, decodeFaces, frameRecord, garbageRecord } from './fixtures/frames.js';
import { relayStage } from './fixtures/relay-stage.js';
import { assertStaysTrue, collectTopic, kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor, wrapBus } from './helpers.js';

function configFor(bus: Bus, delivery: RuntimeConfig['delivery']): RuntimeConfig {
  return runtimeConfigSchema.parse({
    bus: bus.kind,
    ...(bus.kind === 'kafka' ? { kafka: { brokers: kafkaBrokers() } } : {}),
    topicPrefix: randomPrefix('rt'),
    delivery,
    instanceId: randomPrefix('replica'),
    maxBatchSize: 50,
    sessionTimeoutMs: 6_000,
  });
}

/** A stage with per-stream state: each output's width is the number of frames of its stream seen so far. */
function countingStage(seen = new Map<string, number>()): StageDefinition<typeof topics.frames.schema> {
  return {
    name: 'counter',
    input: topics.frames,
    outputs: [topics.faces],
    replayRecords: 1_000,
    handle(input, context) {
      const count = (seen.get(input.key) ?? 0) + 1;
      seen.set(input.key, count);
      return [context.emit(topics.faces, makeMessage(topics.faces, { ref: { ...input.value.ref!, width: count } }))];
    },
  };
}

/** The bus, except that its first `failures` reads of committed offsets fail as they do while the broker is away. */
function offsetsFailingFirst(bus: Bus, failures: number): Bus {
  let left = failures;
  return new Proxy(bus, {
    get(target, property) {
      if (property === 'committedOffsets') {
        return (groupId: string, topic: string) =>
          left-- > 0
            ? Promise.reject(new BusError('reading committed offsets failed: the broker is away (test)'))
            : target.committedOffsets(groupId, topic);
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The stage's input and output topics with two partitions each (more than one stream partition); returns the input's name. */
async function twoPartitionTopics(bus: Bus, config: RuntimeConfig): Promise<string> {
  const frames = topicName(topics.frames, config.topicPrefix);
  await bus.createTopics([
    { name: frames, partitions: 2 },
    { name: topicName(topics.faces, config.topicPrefix), partitions: 2 },
  ]);
  return frames;
}

/**
 * Sends frames 1, 2 and 3 of one stream, each once the previous one is through (frame 2 into the
 * DLQ), so each is a batch of its own: a batch is retried and dead-lettered as a whole.
 */
async function feedOneByOne(bus: Bus, config: RuntimeConfig, frames: string) {
  const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
  const dlq = await collectTopic(bus, topicName(topics.dlq, config.topicPrefix));
  const producer = await bus.producer();
  const out = (seq: number) => outputs.records.some((r) => decodeFaces(r.value).ref!.seq === seq);
  await producer.send([frameRecord(frames, 'cam', 1)]);
  await waitFor(() => out(1), { message: 'the output of frame 1' });
  await producer.send([frameRecord(frames, 'cam', 2)]);
  await waitFor(() => dlq.records.length >= 1, { message: 'the dead letter of frame 2' });
  await producer.send([frameRecord(frames, 'cam', 3)]);
  await waitFor(() => out(3), { message: 'the output of frame 3, behind the dead-lettered frame 2' });
  await producer.close();
  await outputs.consumer.close();
  await dlq.consumer.close();
  assert.ok(!out(2), 'frame 2 has no output');
  return { outputs, dlq };
}

function runtimeSuite(name: string, makeBus: () => Bus, delivery: RuntimeConfig['delivery']): void {
  describe(`Stage runtime on ${name}, ${delivery}`, () => {
    const bus = makeBus();
    const runners: StageRunner[] = [];
    after(async () => {
      await Promise.all(runners.map((r) => r.stop()));
      await bus.close();
    });

    it('dead-letters 100 undecodable messages among 1,000 good ones, naming the reason, and stays running and ready', async () => {
      const config = configFor(bus, delivery);
      const runner = new StageRunner(relayStage(), { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const frames = topicName(topics.frames, config.topicPrefix);
      const producer = await bus.producer();
      const records = [];
      for (let seq = 1; seq <= 1_000; seq += 1) {
        records.push(frameRecord(frames, `cam-${seq % 4}`, seq));
        if (seq % 10 === 0) records.push(garbageRecord(frames, `cam-${seq % 4}`, seq / 10));
      }
      await producer.send(records);
      await producer.close();

      const garbageHashes = new Map(
        Array.from({ length: 100 }, (_, i) => `garbage #${i + 1}`).map((text) => [createHash('sha256').update(text).digest('hex'), text]),
      );
      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      const dlq = await collectTopic(bus, topicName(topics.dlq, config.topicPrefix));
      await waitFor(() => outputs.records.length >= 1_000 && dlq.records.length >= 100, {
        timeoutMs: 60_000,
        message: () => `1,000 outputs and 100 dead letters (have ${outputs.records.length} and ${dlq.records.length})`,
      });
      await outputs.consumer.close();
      await dlq.consumer.close();

      const seqs = outputs.records.map((r) => decodeFaces(r.value).ref!.seq);
      assert.equal(new Set(seqs).size, 1_000);
      assert.equal(dlq.records.length, 100);
      for (const record of dlq.records) {
        const letter = decodeDeadLetter(record.value);
        assert.equal(letter.stage, 'relay');
        assert.equal(letter.errorCode, 'DECODE_FAILED');
        assert.match(letter.reason, /not a valid emostream\.v1\.Frame/);
        assert.equal(letter.originTopic, frames);
        // A frame's bytes are withheld by default (privacy): its size and SHA-256 identify it.
        assert.equal(letter.originValue.length, 0);
        assert.ok(garbageHashes.has(record.headers['emostream-origin-sha256']!), 'the hash of one of the garbage messages');
        assert.equal(
          Number(record.headers['emostream-origin-bytes']),
          Buffer.byteLength(garbageHashes.get(record.headers['emostream-origin-sha256']!)!),
        );
      }
      assert.equal(runner.lifecycle.state, 'RUNNING');
      assert.ok(runner.lifecycle.ready);
      const counted = await runner.metrics.messages.get();
      assert.equal(counted.values.find((v) => v.labels.outcome === 'dead_lettered')?.value, 100);
      assert.equal(counted.values.find((v) => v.labels.outcome === 'processed')?.value, 1_000);
    });

    it('dead-letters a message whose handler fails with a non-retriable error, and redelivers after a retriable one', async () => {
      const config = configFor(bus, delivery);
      let failures = 0;
      const stage = relayStage({ name: 'flaky' });
      const relay = stage.handle!.bind(stage);
      stage.handle = async (input, context) => {
        if (input.value.ref!.seq === 2 && failures === 0) {
          failures += 1;
          throw new StageError('MODEL_FAILED', 'try again');
        }
        return relay(input, context);
      };
      const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const frames = topicName(topics.frames, config.topicPrefix);
      const empty = frameRecord(frames, 'cam', 3);
      const producer = await bus.producer();
      await producer.send([frameRecord(frames, 'cam', 1), frameRecord(frames, 'cam', 2)]);
      // A frame whose JPEG is empty: the relay throws a non-retriable StageError for it.
      const { create, toBinary } = await import('@bufbuild/protobuf');
      empty.value = toBinary(topics.frames.schema, create(topics.frames.schema, { ref: { streamId: 'cam', seq: 3 } }));
      await producer.send([empty, frameRecord(frames, 'cam', 4)]);
      await producer.close();

      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      const dlq = await collectTopic(bus, topicName(topics.dlq, config.topicPrefix));
      await waitFor(() => new Set(outputs.records.map((r) => decodeFaces(r.value).ref!.seq)).size === 3 && dlq.records.length === 1, {
        message: () => `outputs for frames 1, 2, 4 and one dead letter (have ${outputs.records.length}, ${dlq.records.length})`,
      });
      await outputs.consumer.close();
      await dlq.consumer.close();
      assert.equal(failures, 1);
      assert.deepEqual([...new Set(outputs.records.map((r) => decodeFaces(r.value).ref!.seq))].sort(), [1, 2, 4]);
      const letter = decodeDeadLetter(dlq.records[0]!.value);
      assert.equal(letter.errorCode, 'FRAME_UNDECODABLE');
      assert.equal(letter.reason, 'frame has no JPEG bytes');
    });

    it('dead-letters a ~10 MiB garbage record as a capped letter (size, sha256, 64 KiB prefix) and goes on with the good records behind it', async () => {
      // Pictures are kept (EMOSTREAM_DLQ_KEEP_IMAGES), so the original's prefix is in the letter: the cap is what is tested.
      const config = { ...configFor(bus, delivery), deadLetterImages: true };
      const runner = new StageRunner(relayStage({ name: 'big-garbage' }), { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const frames = topicName(topics.frames, config.topicPrefix);
      // As big as the topic takes (the broker counts a little framing on top of the value).
      const garbage = Buffer.alloc(MAX_MESSAGE_BYTES - 4096, 'g');
      const producer = await bus.producer();
      await producer.send([
        frameRecord(frames, 'cam', 1),
        { topic: frames, key: 'cam', value: garbage },
        frameRecord(frames, 'cam', 2),
        frameRecord(frames, 'cam', 3),
      ]);
      await producer.close();

      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      const dlq = await collectTopic(bus, topicName(topics.dlq, config.topicPrefix));
      await waitFor(() => new Set(outputs.records.map((r) => decodeFaces(r.value).ref!.seq)).size === 3 && dlq.records.length >= 1, {
        timeoutMs: 60_000,
        message: () => `outputs for frames 1-3 and a dead letter (have ${outputs.records.length}, ${dlq.records.length})`,
      });
      await outputs.consumer.close();
      await dlq.consumer.close();
      const letter = decodeDeadLetter(dlq.records[0]!.value);
      assert.equal(letter.errorCode, 'DECODE_FAILED');
      assert.equal(letter.originSizeBytes, garbage.byteLength);
      assert.equal(letter.originSha256, createHash('sha256').update(garbage).digest('hex'));
      assert.ok(letter.originTruncated);
      assert.equal(letter.originValue.byteLength, DEAD_LETTER_ORIGINAL_BYTES);
      assert.ok(
        dlq.records[0]!.value!.byteLength < 2 * DEAD_LETTER_ORIGINAL_BYTES,
        `the letter is ${dlq.records[0]!.value!.byteLength} bytes`,
      );
      assert.ok(runner.lifecycle.ready);
    });

    it('retries a handler that keeps failing with a retriable error a bounded number of times, counts it, then dead-letters the input and goes on', async () => {
      const config = { ...configFor(bus, delivery), maxRetries: 3, retryBackoffMs: 20 };
      const stage = relayStage({ name: 'always-busy' });
      const relay = stage.handle!.bind(stage);
      let attempts = 0;
      stage.handle = async (input, context) => {
        if (input.value.ref!.seq === 2) {
          attempts += 1;
          throw new StageError('MODEL_FAILED', 'the model is busy');
        }
        return relay(input, context);
      };
      const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const frames = topicName(topics.frames, config.topicPrefix);
      const { dlq } = await feedOneByOne(bus, config, frames);
      assert.equal(attempts, 4, 'one try and three retries');
      const letter = decodeDeadLetter(dlq.records[0]!.value);
      assert.equal(letter.errorCode, 'MODEL_FAILED');
      assert.match(letter.reason, /gave up after 4 attempts: the model is busy/);
      const retries = (await runner.metrics.retries.get()).values.find((v) => v.labels.code === 'MODEL_FAILED');
      assert.equal(retries?.value, 3);
    });

    it('dead-letters the inputs of a batch whose output the bus refuses as too large, and goes on', async () => {
      const config = configFor(bus, delivery);
      const stage = relayStage({ name: 'bloater' });
      const relay = stage.handle!.bind(stage);
      stage.handle = async (input, context) => {
        const [output] = await relay(input, context);
        // Frame 2's output is over the record size limit: no retry can ever send it.
        return input.value.ref!.seq === 2 ? [{ ...output!, value: Buffer.alloc(MAX_MESSAGE_BYTES + 1) }] : [output!];
      };
      const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const frames = topicName(topics.frames, config.topicPrefix);
      const { dlq } = await feedOneByOne(bus, config, frames);
      const letter = decodeDeadLetter(dlq.records[0]!.value);
      assert.equal(letter.errorCode, 'OUTPUT_TOO_LARGE');
      assert.ok(runner.lifecycle.ready);
    });

    it('replays records before the committed offset after a restart, so per-stream state and outputs continue as if uninterrupted', async () => {
      const config = configFor(bus, delivery);
      const frames = await twoPartitionTopics(bus, config);
      // A reader that never commits keeps the in-memory bus from dropping what the stage committed.
      const keep = await collectTopic(bus, frames);
      const producer = await bus.producer();
      const send = (from: number, to: number) =>
        producer.send(Array.from({ length: to - from + 1 }, (_, i) => frameRecord(frames, `cam-${(from + i) % 3}`, from + i)));
      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      const counted = () => outputs.records.map((r) => decodeFaces(r.value).ref!);

      const first = new StageRunner(countingStage(), { bus, config, registry: new Registry() });
      await first.start();
      await send(1, 60);
      await waitFor(() => new Set(counted().map((ref) => ref.seq)).size === 60, { message: 'the first 60 outputs' });
      await first.stop();

      // The broker is away right after the join: the offsets the replay needs cannot be read for a
      // while. The stage waits for them rather than going on without its state.
      const second = new StageRunner(countingStage(), { bus: offsetsFailingFirst(bus, 3), config, registry: new Registry() });
      runners.push(second);
      await second.start();
      await send(61, 120);
      await waitFor(() => new Set(counted().map((ref) => ref.seq)).size === 120, {
        message: () => `120 outputs (have ${counted().length})`,
      });
      await keep.consumer.close();
      await outputs.consumer.close();
      await producer.close();
      // Each output carries how many frames of its stream the stage has seen: without the replay the
      // restarted stage would count from 1 again.
      for (const ref of counted()) assert.equal(ref.width, Math.floor((ref.seq - 1) / 3) + 1, `frame ${ref.seq} of ${ref.streamId}`);
    });

    it('handles as many partitions at once as the stage allows, and delivers each output once', async () => {
      const config = configFor(bus, delivery);
      const frames = await twoPartitionTopics(bus, config);
      // Streams on both partitions, written before the stage starts, so both have a batch waiting.
      const streams = Array.from({ length: 8 }, (_, i) => `cam-${i}`);
      const producer = await bus.producer();
      await producer.send(streams.flatMap((streamId) => [1, 2, 3].map((seq) => frameRecord(frames, streamId, seq))));
      await producer.close();
      // Each batch waits (up to 5 s) for a batch of the other partition to be in hand as well.
      let inHand = 0;
      let most = 0;
      let bothInHand!: () => void;
      const together = new Promise<void>((resolve) => (bothInHand = resolve));
      const relay = relayStage({ name: 'side-by-side' });
      const stage: StageDefinition<typeof topics.frames.schema> = {
        ...relay,
        concurrentPartitions: 2,
        async handleBatch(inputs, context) {
          inHand += 1;
          most = Math.max(most, inHand);
          if (inHand === 2) bothInHand();
          await Promise.race([together, new Promise((resolve) => setTimeout(resolve, 5_000))]);
          inHand -= 1;
          return Promise.all(inputs.map((input) => Promise.resolve(relay.handle!.call(relay, input, context))));
        },
      };
      const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      await waitFor(() => outputs.records.length >= streams.length * 3, {
        timeoutMs: 30_000,
        message: () => `${streams.length * 3} outputs (have ${outputs.records.length})`,
      });
      // A marker per stream behind its inputs: a partition is handled in order, so once every marker is
      // out, a duplicate of any input before it would be out too.
      const markers = await bus.producer();
      await markers.send(streams.map((streamId) => frameRecord(frames, streamId, 4)));
      await markers.close();
      const keys = () => outputs.records.map((r) => `${decodeFaces(r.value).ref!.streamId}#${decodeFaces(r.value).ref!.seq}`);
      await assertStaysTrue(() => keys().length === new Set(keys()).size, {
        forMs: 50,
        provenPossible: () => streams.every((streamId) => keys().includes(`${streamId}#4`)),
        message: () => `no output twice (${keys().length} outputs, ${new Set(keys()).size} distinct)`,
        provenMessage: 'the marker behind each stream came out',
      });
      await outputs.consumer.close();
      assert.equal(most, 2, 'batches of both partitions were in hand at once');
      const written = keys().filter((key) => !key.endsWith('#4'));
      assert.equal(written.length, new Set(written).size, 'no output twice');
      assert.equal(new Set(written).size, streams.length * 3);
    });

    it("carries the trace id of an input's traceparent header to its outputs", async () => {
      await startTracing({ serviceName: 'runtime-test', exporter: 'none' });
      const config = configFor(bus, delivery);
      const runner = new StageRunner(relayStage(), { bus, config, registry: new Registry() });
      runners.push(runner);
      await runner.start();
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const producer = await bus.producer();
      await producer.send([frameRecord(topicName(topics.frames, config.topicPrefix), 'cam', 1, { traceparent })]);
      await producer.close();
      const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
      await waitFor(() => outputs.records.length === 1);
      await outputs.consumer.close();
      assert.match(outputs.records[0]!.headers.traceparent ?? '', /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    });
  });
}

runtimeSuite('InMemoryBus', () => new InMemoryBus({ retryBackoffMs: 50 }), 'at-least-once');
runtimeSuite('InMemoryBus', () => new InMemoryBus({ retryBackoffMs: 50 }), 'exactly-once');
runtimeSuite('KafkaBus', () => new KafkaBus(kafkaTestConfig('runtime-test')), 'exactly-once');

describe('the runtime keeps the stream → partition bookkeeping for stages with per-stream state', () => {
  it('hands a stage the open streams of the partitions it loses to another replica, and never an ended one', async () => {
    const bus = new InMemoryBus();
    const config = configFor(bus, 'at-least-once');
    const frames = topicName(topics.frames, config.topicPrefix);
    const revokedStreams: string[][] = [];
    const revokedPartitions = new Set<number>();
    const stage: StageDefinition<typeof topics.frames.schema> = {
      ...relayStage(),
      onRevoked: (partitions) => {
        for (const p of partitions) revokedPartitions.add(p.partition);
        return Promise.resolve();
      },
      onStreamsRevoked: (streamIds) => void revokedStreams.push([...streamIds]),
    };
    const first = new StageRunner(stage, { bus, config, registry: new Registry() });
    await first.start();
    const outputs = await collectTopic(bus, topicName(topics.faces, config.topicPrefix));
    const streams = Array.from({ length: 12 }, (_, i) => `cam-${i}`);
    const producer = await bus.producer();
    await producer.send(streams.map((streamId) => frameRecord(frames, streamId, 1)));
    // cam-0 ends: nothing of it is left to hand over.
    const ended = frameRecord(frames, 'cam-0', 2);
    const endOfStream = makeMessage(topics.frames, { ref: { streamId: 'cam-0', seq: 2, endOfStream: true }, jpeg: Buffer.from([0xff]) });
    await producer.send([{ ...ended, value: encodeMessage(topics.frames, endOfStream) }]);
    await waitFor(() => outputs.records.length === streams.length + 1);

    // A second replica joins: the first gives up half of its partitions.
    const second = new StageRunner(relayStage(), {
      bus,
      config: { ...config, instanceId: `${config.instanceId}-2` },
      registry: new Registry(),
    });
    await second.start();
    try {
      await waitFor(() => revokedStreams.length > 0, { message: 'onStreamsRevoked' });
      const moved = revokedStreams.flat().sort();
      assert.ok(moved.length > 0 && moved.length < streams.length, `moved ${moved.join(', ')}`);
      assert.ok(!moved.includes('cam-0'), 'an ended stream is not handed over');
      // Exactly the open streams on the partitions the first replica lost; the others are still its own.
      const expected = streams.filter((s) => s !== 'cam-0' && revokedPartitions.has(bus.partitionOf(frames, s))).sort();
      assert.deepEqual(moved, expected);
    } finally {
      await second.stop();
      await first.stop();
      await producer.close();
      await outputs.consumer.close();
    }
  });
});

/**
 * A relay stage whose assignment work ends only when the runner stops, as a restore waiting on a
 * broker that is away; then `whenTold` runs (it may throw, as the face stage's restore does).
 */
function stageStuckInOnAssigned(whenTold: () => void) {
  const seen = { entered: false, told: false };
  const stage: StageDefinition<typeof topics.frames.schema> = {
    ...relayStage(),
    onAssigned: async (_partitions, stopping) => {
      seen.entered = true;
      await new Promise<void>((resolve) => stopping.addEventListener('abort', () => resolve(), { once: true }));
      seen.told = true;
      whenTold();
    },
  };
  return { stage, seen };
}

describe('stopping a runner whose stage is still in onAssigned', () => {
  it('tells onAssigned to stop and stops promptly (regression: a restore through a broker outage held the shutdown)', async () => {
    const bus = new InMemoryBus();
    const config = configFor(bus, 'at-least-once');
    const { stage, seen } = stageStuckInOnAssigned(() => {});
    const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
    await runner.start();
    await waitFor(() => seen.entered, { message: 'onAssigned to begin' });
    const started = Date.now();
    await runner.stop();
    assert.ok(seen.told, 'onAssigned heard the stop');
    assert.ok(Date.now() - started < 3_000, `the stop took ${Date.now() - started} ms`);
    await bus.close();
  });

  it('takes onAssigned giving up because of the stop as no failure, and reports no assignment error to the bus', async () => {
    const memory = new InMemoryBus();
    const config = configFor(memory, 'at-least-once');
    const { stage, seen } = stageStuckInOnAssigned(() => {
      throw new StageError('STOPPED', 'stopped while reading the changelog (test)');
    });
    // The bus's own view of the assignment handler's outcome: it logs a rejection as a failed assignment.
    const outcomes: string[] = [];
    const bus = wrapBus(memory, {
      consumer: (consumer) => {
        const run = consumer.run.bind(consumer);
        consumer.run = (handlers) =>
          run({
            ...handlers,
            onAssigned: (partitions) =>
              handlers.onAssigned!(partitions).then(
                () => void outcomes.push('resolved'),
                (error: unknown) => {
                  outcomes.push(`rejected: ${(error as Error).message}`);
                  throw error;
                },
              ),
          });
        return consumer;
      },
    });
    const runner = new StageRunner(stage, { bus, config, registry: new Registry() });
    await runner.start();
    await waitFor(() => seen.entered, { message: 'onAssigned to begin' });
    await runner.stop();
    await waitFor(() => outcomes.length > 0, { message: 'the assignment handler to end' });
    assert.deepEqual(outcomes, ['resolved']);
    assert.equal(runner.lifecycle.state, 'STOPPED');
    await memory.close();
  });
});

/**
 * The bus, except that the first transaction with records fails as Kafka's can when the broker goes
 * away mid-commit: the caller hears it failed, yet the broker had it and commits it later. Kafka
 * finishes it when the producer's id is initialised again (settle), and otherwise whenever the
 * broker gets to it — here just after the producer's next transaction, the latest it can be: after
 * the batch was read again from the committed offsets that did not show it yet.
 */
function commitLostInOutage(bus: Bus): { bus: Bus; lost: () => boolean; finished: () => boolean } {
  let lost = false;
  let pending: (() => Promise<void>) | undefined;
  const finish = async () => {
    const commit = pending;
    pending = undefined;
    await commit?.();
  };
  const wrapped = wrapBus(bus, {
    producer: (producer) => ({
      send: (records) => producer.send(records),
      close: () => producer.close(),
      async sendInTransaction(records, commit) {
        if (!lost && records.length > 0) {
          lost = true;
          pending = () => producer.sendInTransaction(records, commit);
          throw new BusError('transaction failed: the broker went away before answering the commit (test)');
        }
        await producer.sendInTransaction(records, commit);
        await finish();
      },
      async settle() {
        await finish();
        await producer.settle();
      },
    }),
  });
  return { bus: wrapped, lost: () => lost, finished: () => lost && pending === undefined };
}

describe('exactly-once when a failed commit was committed after all (the broker took it and went away)', () => {
  /** countingStage, with its counts dropped when the (single) partition is taken away, as a real stage drops a partition's state. */
  function countingStageWithRevoke(): StageDefinition<typeof topics.frames.schema> {
    const seen = new Map<string, number>();
    return {
      ...countingStage(seen),
      onRevoked: () => {
        seen.clear();
        return Promise.resolve();
      },
    };
  }
  const cases = [
    { name: 'a stage without replay', stage: relayStage, replays: false },
    { name: 'a stage that replays its state', stage: countingStageWithRevoke, replays: true },
  ];
  for (const { name, stage, replays } of cases) {
    it(`${name} writes each output once, not again from the committed offsets that did not show it yet`, async () => {
      const memory = new InMemoryBus();
      const config = configFor(memory, 'exactly-once');
      const frames = topicName(topics.frames, config.topicPrefix);
      const faces = topicName(topics.faces, config.topicPrefix);
      await memory.createTopics([
        { name: frames, partitions: 1 },
        { name: faces, partitions: 1 },
      ]);
      // A reader that never commits keeps the in-memory bus from dropping what the replay needs.
      const keep = await collectTopic(memory, frames);
      const outputs = await collectTopic(memory, faces);
      const seqs = () => outputs.records.map((r) => decodeFaces(r.value).ref!.seq);
      const fault = commitLostInOutage(memory);
      const runner = new StageRunner(stage(), { bus: fault.bus, config, registry: new Registry() });
      const producer = await memory.producer();
      try {
        await runner.start();
        const send = (from: number, to: number) =>
          producer.send(Array.from({ length: to - from + 1 }, (_, i) => frameRecord(frames, `cam-${(from + i) % 3}`, from + i)));
        await send(1, 30);
        await waitFor(() => fault.finished() && new Set(seqs()).size === 30, {
          message: () => `the lost commit finished and 30 outputs (have ${seqs().length})`,
        });
        await send(31, 60);
        await waitFor(() => new Set(seqs()).size === 60, { message: () => `60 outputs (have ${seqs().length})` });
        // A marker per stream behind the inputs: once they are out, a late duplicate of any input before them would be too.
        await send(61, 63);
        const repeated = () => seqs().filter((seq, i, all) => all.indexOf(seq) !== i);
        await assertStaysTrue(() => repeated().length === 0, {
          forMs: 50,
          provenPossible: () => [61, 62, 63].every((seq) => seqs().includes(seq)),
          message: () => `no output written twice (repeated: ${repeated().join(', ')})`,
          provenMessage: 'the markers 61–63 came out',
        });
        if (replays) {
          for (const r of outputs.records) {
            const ref = decodeFaces(r.value).ref!;
            assert.equal(ref.width, Math.floor((ref.seq - 1) / 3) + 1, `frame ${ref.seq} of ${ref.streamId}: the count goes on`);
          }
        }
      } finally {
        await runner.stop();
        await producer.close();
        await keep.consumer.close();
        await outputs.consumer.close();
        await memory.close();
      }
    });
  }
});

/**
 * The bus, except that the first batch with records is handed to the stage twice at once, and the
 * first copy's transaction takes a while: as kafkajs does when its consumer crashes (the broker went
 * away) with a batch in hand, rejoins without waiting for it and reads the batch again from
 * committed offsets that do not show its delivery yet.
 */
function batchHandedTwice(bus: Bus): { bus: Bus; handedTwice: () => boolean; bothCopiesDone: () => boolean } {
  let handedTwice = false;
  let bothCopiesDone = false;
  let slowNext = false;
  let firstInTransaction = false;
  let secondHanded!: () => void;
  const secondCopyHanded = new Promise<void>((resolve) => (secondHanded = resolve));
  // The first copy's delivery waits until the second copy has been handed: the copies overlap for sure.
  const slowFirst = async (records: OutgoingRecord[]) => {
    if (!slowNext || records.length === 0) return;
    slowNext = false;
    firstInTransaction = true;
    await secondCopyHanded;
  };
  const wrapped = wrapBus(bus, {
    producer: (producer) => ({
      async send(records) {
        await slowFirst(records);
        await producer.send(records);
      },
      async sendInTransaction(records, commit) {
        await slowFirst(records);
        await producer.sendInTransaction(records, commit);
      },
      settle: () => producer.settle(),
      close: () => producer.close(),
    }),
    consumer: (consumer, options) => {
      const run = consumer.run.bind(consumer);
      consumer.run = (handlers) =>
        run({
          ...handlers,
          eachBatch: async (batch, context) => {
            if (handedTwice || batch.records.length === 0 || !options.groupId.includes('relay')) {
              return handlers.eachBatch(batch, context);
            }
            handedTwice = true;
            slowNext = true;
            const first = handlers.eachBatch(batch, context);
            await waitFor(() => firstInTransaction, { intervalMs: 5, message: 'the first copy to be in its transaction' });
            const second = handlers.eachBatch(batch, context);
            secondHanded();
            await Promise.all([first, second]);
            bothCopiesDone = true;
          },
        });
      return consumer;
    },
  });
  return { bus: wrapped, handedTwice: () => handedTwice, bothCopiesDone: () => bothCopiesDone };
}

describe('a batch handed again while its first copy is still being delivered (kafkajs after a consumer crash)', () => {
  for (const delivery of ['exactly-once', 'at-least-once'] as const) {
    it(`${delivery}: the copies are taken in turn and the second skips what the first delivered`, async () => {
      const memory = new InMemoryBus();
      const config = configFor(memory, delivery);
      const frames = topicName(topics.frames, config.topicPrefix);
      const faces = topicName(topics.faces, config.topicPrefix);
      await memory.createTopics([
        { name: frames, partitions: 1 },
        { name: faces, partitions: 1 },
      ]);
      const outputs = await collectTopic(memory, faces);
      const seqs = () => outputs.records.map((r) => decodeFaces(r.value).ref!.seq);
      const fault = batchHandedTwice(memory);
      const runner = new StageRunner(relayStage(), { bus: fault.bus, config, registry: new Registry() });
      const producer = await memory.producer();
      try {
        await runner.start();
        await producer.send(Array.from({ length: 10 }, (_, i) => frameRecord(frames, 'cam', i + 1)));
        await waitFor(() => new Set(seqs()).size === 10, { message: () => `10 outputs (have ${seqs().length})` });
        const repeated = () => seqs().filter((seq, i, all) => all.indexOf(seq) !== i);
        await assertStaysTrue(() => repeated().length === 0, {
          forMs: 50,
          provenPossible: () => fault.bothCopiesDone(),
          message: () => `no output written twice (repeated: ${repeated().join(', ')})`,
          provenMessage: 'both copies of the batch were handled to the end',
        });
        assert.ok(fault.handedTwice(), 'the fault did not happen');
      } finally {
        await runner.stop();
        await producer.close();
        await outputs.consumer.close();
        await memory.close();
      }
    });
  }
});
