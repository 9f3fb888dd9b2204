import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryBus, moduleLogger, type BusProducer, type TopicPartitionOffset } from '../src/index.js';
import { AtLeastOnce, ExactlyOnce, type DeliveryOptions } from '../src/runtime/delivery.js';
import { collectTopic, waitFor, wrapBus } from './helpers.js';

const GROUP = 'p.relay';
const tp0 = { topic: 'in', partition: 0 };

/** A bus with topics `in` (2 partitions) and `out`, recording each producer opened (its transactional id) and closed. */
async function setUp() {
  const opened: (string | undefined)[] = [];
  const closed: (string | undefined)[] = [];
  const seeks: TopicPartitionOffset[] = [];
  const inner = new InMemoryBus();
  await inner.createTopics([
    { name: 'in', partitions: 2 },
    { name: 'out', partitions: 1 },
  ]);
  const bus = wrapBus(inner, {
    producer: (producer: BusProducer, options) => {
      opened.push(options?.transactionalId);
      return { ...producer, close: () => (closed.push(options?.transactionalId), producer.close()) };
    },
  });
  const consumer = await bus.consumer({ groupId: GROUP, topics: ['in'] });
  const options: DeliveryOptions = {
    bus,
    consumer: () => ({ ...consumer, commit: (offsets) => consumer.commit(offsets), seek: (p) => seeks.push(p) }),
    groupId: GROUP,
    logger: moduleLogger('delivery-test'),
    untilAnswered: (_what, work) => work(),
  };
  const committed = async () => (await bus.committedOffsets(GROUP, 'in')).map((o) => `${o.partition}@${o.offset}`);
  return { bus, inner, consumer, options, opened, closed, seeks, committed };
}

const record = (value: string) => ({ topic: 'out', key: 'k', value: Buffer.from(value) });

describe('AtLeastOnce', () => {
  it('sends the records through one producer, then commits the offsets', async () => {
    const t = await setUp();
    const delivery = new AtLeastOnce(t.options);
    await delivery.open();
    assert.deepEqual(t.opened, [undefined], 'one producer, not transactional');
    assert.equal(await delivery.beforeBatch(tp0, '0'), false);
    await delivery.deliver([record('a'), record('b')], [{ ...tp0, offset: '2' }]);
    assert.deepEqual(await t.committed(), ['0@2']);
    const out = await collectTopic(t.bus, 'out');
    await waitFor(() => out.records.length === 2, { message: 'the two records on out' });
    assert.deepEqual(
      out.records.map((r) => Buffer.from(r.value!).toString()),
      ['a', 'b'],
    );
    await out.consumer.close();
    await delivery.close();
    assert.deepEqual(t.closed, [undefined]);
    await t.consumer.close();
  });
});

describe('ExactlyOnce', () => {
  function exactlyOnce(options: DeliveryOptions, replays = false) {
    return new ExactlyOnce({ ...options, transactionalId: (tp) => `p.relay.${tp.topic}.${tp.partition}`, replays });
  }

  it("opens a producer per assigned partition with that partition's transactional id, and delivers in its transaction", async () => {
    const t = await setUp();
    const delivery = exactlyOnce(t.options);
    await delivery.open();
    assert.deepEqual(t.opened, [], 'nothing shared: producers come with partitions');
    await delivery.assigned([tp0, { topic: 'in', partition: 1 }]);
    assert.deepEqual(t.opened.sort(), ['p.relay.in.0', 'p.relay.in.1']);
    await delivery.deliver([record('a')], [{ ...tp0, offset: '5' }]);
    assert.deepEqual(await t.committed(), ['0@5']);
    await delivery.close();
    assert.deepEqual(t.closed.sort(), ['p.relay.in.0', 'p.relay.in.1']);
    await t.consumer.close();
  });

  it("checks a newly assigned partition's first batch against the committed offset and seeks past what was delivered", async () => {
    const t = await setUp();
    const delivery = exactlyOnce(t.options);
    await delivery.assigned([tp0]);
    await delivery.deliver([record('a')], [{ ...tp0, offset: '5' }]);
    await delivery.assigned([tp0]); // the partition came back
    assert.equal(await delivery.beforeBatch(tp0, '3'), true, 'records 3 and 4 were delivered: skipped');
    assert.deepEqual(t.seeks, [{ ...tp0, offset: '5' }]);
    assert.equal(await delivery.beforeBatch(tp0, '3'), false, 'checked once per assignment');
    await delivery.close();
    await t.consumer.close();
  });

  it('leaves the check to the replay when the stage replays', async () => {
    const t = await setUp();
    const delivery = exactlyOnce(t.options, true);
    await delivery.assigned([tp0]);
    await delivery.deliver([record('a')], [{ ...tp0, offset: '5' }]);
    await delivery.assigned([tp0]);
    assert.equal(await delivery.beforeBatch(tp0, '3'), false);
    assert.deepEqual(t.seeks, []);
    await delivery.close();
    await t.consumer.close();
  });

  it('after being fenced, closes the partition producer and takes the transactional id again before the next batch', async () => {
    const t = await setUp();
    const delivery = exactlyOnce(t.options);
    await delivery.assigned([tp0]);
    assert.equal(await delivery.beforeBatch(tp0, '0'), false);
    await delivery.fenced(tp0);
    assert.deepEqual(t.closed, ['p.relay.in.0']);
    assert.equal(await delivery.beforeBatch(tp0, '0'), false, 'nothing committed: nothing to skip');
    assert.deepEqual(t.opened, ['p.relay.in.0', 'p.relay.in.0']);
    await delivery.deliver([record('a')], [{ ...tp0, offset: '1' }]);
    assert.deepEqual(await t.committed(), ['0@1']);
    await delivery.close();
    await t.consumer.close();
  });

  it('after a rewind without replay, goes on after what the committed offset shows delivered', async () => {
    const t = await setUp();
    const delivery = exactlyOnce(t.options);
    await delivery.assigned([tp0]);
    await delivery.deliver([record('a')], [{ ...tp0, offset: '4' }]);
    await delivery.settle(tp0);
    assert.equal(await delivery.afterRewind(tp0, '4'), false, 'the batch starts at the committed offset');
    assert.equal(await delivery.afterRewind(tp0, '2'), true);
    assert.deepEqual(t.seeks, [{ ...tp0, offset: '4' }]);
    await delivery.close();
    await t.consumer.close();
  });
});
