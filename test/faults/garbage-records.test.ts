/**
 * Fault (d): a ~10 MiB garbage record, then good records, on every input topic (streams, frames,
 * faces, embeddings, emotions). Each stage dead-letters the garbage as a capped letter (size,
 * sha256, a 64 KiB prefix) and goes on: the records behind it are processed and the events equal
 * those of an undisturbed run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { DEAD_LETTER_ORIGINAL_BYTES, DeadLetterSchema, KafkaBus, MAX_MESSAGE_BYTES, topicName, topics } from '@emostream/shared';
import { kafkaTestConfig, waitFor } from '@emostream/shared/testing';
import { assertSameEvents, clip, FaultPipeline, referenceEvents } from './harness.js';

describe('fault: a 10 MiB garbage record ahead of good records on every input topic', () => {
  const pipeline = new FaultPipeline({ EMOSTREAM_DLQ_KEEP_IMAGES: 'true' });
  const bus = new KafkaBus(kafkaTestConfig('fault-garbage'));
  after(async () => {
    await pipeline.stop();
    await bus.close();
  });

  it('dead-letters each garbage record as a capped letter, wedges nothing, and gives the events of an undisturbed run', async () => {
    const file = clip('happy');
    const reference = await referenceEvents({ happy: file });
    const inputs = [topics.streams, topics.frames, topics.faces, topics.embeddings, topics.emotions];
    await bus.createTopics(
      inputs.map((t) => ({
        name: topicName(t, pipeline.prefix),
        partitions: t.defaultPartitions,
        ...(t.configEntries ? { configEntries: t.configEntries } : {}),
      })),
    );
    // Keyed like the stream, so the garbage sits on the partition of the good records behind it.
    const garbage = Buffer.alloc(MAX_MESSAGE_BYTES - 4096, 'g');
    const producer = await bus.producer();
    for (const topic of inputs) await producer.send([{ topic: topicName(topic, pipeline.prefix), key: 'happy', value: garbage }]);
    await producer.close();

    await pipeline.startReaders();
    await pipeline.startAll();
    await pipeline.waitReady();
    pipeline.addStream('happy', file);
    await pipeline.waitForSummaries(1);
    pipeline.assertNoUnexpectedExit();
    await assertSameEvents(pipeline, reference);

    const letters: ReturnType<typeof fromBinary<typeof DeadLetterSchema>>[] = [];
    const dlq = await bus.consumer({
      groupId: `${pipeline.prefix}.dlq-reader`,
      topics: [topicName(topics.dlq, pipeline.prefix)],
      fromBeginning: true,
    });
    await dlq.run({
      eachBatch: (batch) => {
        for (const r of batch.records) {
          assert.ok(r.value!.byteLength < 2 * DEAD_LETTER_ORIGINAL_BYTES, `a ${r.value!.byteLength}-byte dead letter`);
          letters.push(fromBinary(DeadLetterSchema, r.value!));
        }
        return Promise.resolve();
      },
    });
    await waitFor(() => letters.length >= 4, {
      timeoutMs: 30_000,
      message: () => `a dead letter from each of face, backbone, temporal and sink (have ${letters.map((l) => l.stage).join()})`,
    });
    await dlq.close();
    assert.deepEqual(letters.map((l) => l.stage).sort(), ['backbone', 'face', 'sink', 'temporal']);
    // Pictures are kept in dead letters here (EMOSTREAM_DLQ_KEEP_IMAGES), so each letter holds the capped prefix.
    const sha256 = createHash('sha256').update(garbage).digest('hex');
    for (const letter of letters) {
      assert.equal(letter.originSizeBytes, garbage.byteLength);
      assert.equal(letter.originSha256, sha256);
      assert.ok(letter.originTruncated);
      assert.equal(letter.originValue.byteLength, DEAD_LETTER_ORIGINAL_BYTES);
    }
  });
});
