import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { followTopic, InMemoryBus } from '../src/index.js';
import { waitFor } from '../src/testing.js';

describe('followTopic', () => {
  it('hands over every record, skips one it cannot read without stalling, and commits as it goes', async () => {
    const bus = new InMemoryBus();
    await bus.createTopics([{ name: 'events', partitions: 1 }]);
    const producer = await bus.producer();
    await producer.send(['{"n":1}', 'not json', '{"n":3}'].map((text) => ({ topic: 'events', key: 'k', value: Buffer.from(text) })));
    const seen: number[] = [];
    const reader = await followTopic(bus, { groupId: 'reader', topic: 'events', fromBeginning: true }, (record) => {
      seen.push((JSON.parse(Buffer.from(record.value!).toString('utf8')) as { n: number }).n);
    });
    await waitFor(async () => (await bus.committedOffsets('reader', 'events'))[0]?.offset === '3', {
      timeoutMs: 5_000,
      message: 'the reader committed all three records',
    });
    assert.deepEqual(seen, [1, 3]);
    await reader.close();
    await producer.close();
    await bus.close();
  });
});
