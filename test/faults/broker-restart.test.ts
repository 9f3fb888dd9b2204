/**
 * Fault tooling (issue 15, item 8): the test broker can be taken away and brought back on the same
 * port with the same data, as a crash or a rolling restart of a real broker would do to clients.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { KafkaBus } from '@emostream/shared';
import { connect } from 'node:net';
import { brokerControl, kafkaBrokers, kafkaTestConfig, randomPrefix, waitFor } from '@emostream/shared/testing';

/** 'open' when something accepts a TCP connection on host:port, else the error code. */
function tcpConnect(address: string): Promise<string> {
  const [host, port] = address.split(',')[0]!.split(':');
  return new Promise((resolve) => {
    const socket = connect(Number(port), host);
    socket.once('connect', () => (socket.destroy(), resolve('open')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('the test broker as a fault switch', () => {
  const bus = new KafkaBus(kafkaTestConfig('broker-restart-test'));
  after(() => bus.close());

  it('is unreachable after kill() and serves the records written before it after restart(), on the same address', async () => {
    const topic = `${randomPrefix('restart')}.data`;
    await bus.createTopics([{ name: topic, partitions: 1 }]);
    const producer = await bus.producer();
    await producer.send([{ topic, key: 'k', value: Buffer.from('before the crash') }]);
    await producer.close();

    const broker = brokerControl();
    await broker.kill('SIGKILL');
    assert.equal(await tcpConnect(kafkaBrokers()), 'ECONNREFUSED', 'nothing listens on the broker port after kill()');
    await broker.restart();

    const ends = await bus.endOffsets(topic);
    assert.deepEqual(
      ends.map((e) => e.offset),
      ['1'],
      'the record written before the crash is still there',
    );
    const seen: string[] = [];
    const consumer = await bus.consumer({ groupId: `${topic}.reader`, topics: [topic], fromBeginning: true });
    await consumer.run({
      eachBatch: (batch) => {
        seen.push(...batch.records.map((r) => Buffer.from(r.value!).toString()));
        return Promise.resolve();
      },
    });
    await waitFor(() => seen.length > 0, { timeoutMs: 30_000, message: 'the record written before the crash' });
    await consumer.close();
    assert.deepEqual(seen, ['before the crash']);
  });
});
