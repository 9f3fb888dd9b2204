import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  InMemoryBus,
  moduleLogger,
  topics,
  type BusConsumer,
  type ConsumedRecord,
  type StageInput,
  type TopicPartitionOffset,
} from '../src/index.js';
import { Replay, replayRange } from '../src/runtime/replay.js';
import { frameRecord, garbageRecord } from './fixtures/frames.js';

describe('replayRange', () => {
  it('goes back up to the count before the committed offset, never before the partition start', () => {
    assert.deepEqual(replayRange('100', '0', 30), { from: 70n, until: 100n });
    assert.deepEqual(replayRange('20', '5', 30), { from: 5n, until: 20n });
    assert.equal(replayRange('5', '5', 30), undefined, 'nothing before the committed offset');
    assert.equal(replayRange('0', '0', 30), undefined);
  });
});

describe('Replay', () => {
  async function setUp(committed: number | undefined) {
    const bus = new InMemoryBus();
    await bus.createTopics([{ name: 'in', partitions: 1 }]);
    const producer = await bus.producer();
    await producer.send(Array.from({ length: 6 }, (_, i) => frameRecord('in', 'lobby', i)));
    if (committed !== undefined)
      await producer.sendInTransaction([], { groupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: String(committed) }] });
    const seeks: TopicPartitionOffset[] = [];
    const handled: StageInput<typeof topics.frames.schema>[][] = [];
    const replay = new Replay({
      bus,
      consumer: () => ({ seek: (p: TopicPartitionOffset) => seeks.push(p) }) as unknown as BusConsumer,
      groupId: 'g',
      inputTopic: 'in',
      input: topics.frames,
      records: 3,
      logger: moduleLogger('replay-test'),
      untilAnswered: (_what, work) => work(),
      handle: (inputs) => {
        handled.push(inputs);
        return Promise.resolve();
      },
    });
    return { replay, seeks, handled };
  }

  const consumed = (offset: number, value: Uint8Array | null = frameRecord('in', 'lobby', offset).value): ConsumedRecord => ({
    topic: 'in',
    partition: 0,
    offset: String(offset),
    key: 'lobby',
    value,
    headers: {},
    timestampMs: 0,
  });

  it('seeks back before the committed offset, replays up to it for state alone, and hands on the rest', async () => {
    const t = await setUp(5);
    assert.equal(await t.replay.seekBack([{ topic: 'in', partition: 0 }]), true);
    assert.deepEqual(t.seeks, [{ topic: 'in', partition: 0, offset: '2' }]);
    // Offset 3 does not decode: it was dead-lettered when first processed and is skipped now.
    const batch = {
      topic: 'in',
      partition: 0,
      records: [consumed(2), consumed(3, garbageRecord('in', 'lobby', 3).value), consumed(4), consumed(5)],
    };
    const rest = await t.replay.take(batch);
    assert.deepEqual(
      t.handled.map((inputs) => inputs.map((input) => input.value.ref?.seq)),
      [[2, 4]],
    );
    assert.deepEqual(
      rest?.records.map((r) => r.offset),
      ['5'],
    );
    // The replay is over: the next batch is handed on whole.
    const next = { topic: 'in', partition: 0, records: [consumed(6)] };
    assert.equal(await t.replay.take(next), next);
    assert.equal(t.handled.length, 1);
  });

  it('keeps replaying across batches until one reaches the committed offset', async () => {
    const t = await setUp(5);
    await t.replay.seekBack([{ topic: 'in', partition: 0 }]);
    assert.equal(await t.replay.take({ topic: 'in', partition: 0, records: [consumed(2), consumed(3)] }), undefined);
    const rest = await t.replay.take({ topic: 'in', partition: 0, records: [consumed(4), consumed(5)] });
    assert.deepEqual(
      rest?.records.map((r) => r.offset),
      ['5'],
    );
    assert.equal(t.handled.length, 2);
  });

  it('does nothing on a partition the group never committed', async () => {
    const t = await setUp(undefined);
    assert.equal(await t.replay.seekBack([{ topic: 'in', partition: 0 }]), false);
    assert.deepEqual(t.seeks, []);
    const batch = { topic: 'in', partition: 0, records: [consumed(0)] };
    assert.equal(await t.replay.take(batch), batch);
  });
});
