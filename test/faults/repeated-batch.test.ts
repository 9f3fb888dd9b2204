/**
 * Fault (b) made exact: under at-least-once, a stage SIGKILLed after sending a batch and before
 * committing its inputs sends that batch again when it restarts, after records that followed it.
 * Killing a process cannot aim at that instant, so this test writes what such a restart leaves on
 * the embeddings topic — the records of a real upstream run (ingest, face, backbone on the long
 * clip), with one batch in the middle and the stream's last batch (its end included) written twice
 * — and runs the temporal and sink processes on it. The events topic must hold every event of an
 * undisturbed run, each repeat the same as the first time, and no other track summary.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { EmbeddingsSchema, KafkaBus, topicName, topics, type ConsumedRecord } from '@emostream/shared';
import { kafkaTestConfig, waitFor } from '@emostream/shared/testing';
import { assertNothingLost, FaultPipeline, longClip, referenceEvents } from './harness.js';

// The at-least-once suite's settings, so both compare with the same cached undisturbed run.
const settings = { EMOSTREAM_DELIVERY: 'at-least-once', FACE_TRACK_MIN_HITS: undefined };
/** The harness's EMOSTREAM_MAX_BATCH_SIZE: the most records a repeated batch holds. */
const BATCH = 4;

describe('fault, at-least-once: an upstream batch that comes again after later records', () => {
  const upstream = new FaultPipeline(settings);
  const downstream = new FaultPipeline(settings);
  const bus = new KafkaBus(kafkaTestConfig('fault-repeated-batch'));
  after(async () => {
    await Promise.all([upstream.stop(), downstream.stop()]);
    await bus.close();
  });

  it('gives each repeated frame the events it gave the first time, and loses none', async () => {
    const file = longClip();
    const reference = await referenceEvents({ long: file }, settings);
    assert.equal(upstream.env.EMOSTREAM_MAX_BATCH_SIZE, String(BATCH));

    // A real run of the stages up to the backbone: the embeddings topic as the backbone writes it.
    for (const stage of ['ingest', 'face', 'backbone'] as const) await upstream.start(stage);
    await upstream.waitReady(['ingest', 'face', 'backbone']);
    upstream.addStream('long', file);
    const written = await readEmbeddings(topicName(topics.embeddings, upstream.prefix));

    // What a backbone killed twice leaves: a batch in the middle again, and the last batch again.
    const middle = Math.floor(written.length / 2);
    const repeated = [...written.slice(middle - BATCH, middle), ...written.slice(-BATCH)];
    const replayed = [...written.slice(0, middle), ...written.slice(middle - BATCH), ...written.slice(-BATCH)];
    const facesRepeated = repeated.reduce((sum, r) => sum + fromBinary(EmbeddingsSchema, r.value!).faces.length, 0);
    assert.ok(facesRepeated > 0, 'the repeated records hold faces: the repeat is seen in the events');
    const embeddings = topicName(topics.embeddings, downstream.prefix);
    // The faces topic stays empty here; it is made so the drain check can read every stage's input.
    await bus.createTopics(
      [topics.faces, topics.embeddings].map((t) => ({ name: topicName(t, downstream.prefix), partitions: t.defaultPartitions })),
    );
    const producer = await bus.producer();
    await producer.send(replayed.map((r) => ({ topic: embeddings, key: r.key, value: r.value, headers: r.headers })));
    await producer.close();

    await downstream.startReaders();
    await downstream.start('temporal');
    await downstream.start('sink');
    await downstream.waitForSummaries(reference.filter((e) => e.schema === 'emostream.event.track_summary.v2').length);
    downstream.assertNoUnexpectedExit();
    const repeats = await assertNothingLost(downstream, reference);
    assert.equal(repeats, facesRepeated, 'every face of a repeated frame gave its event again');
  });

  /** The stream's embeddings records as the backbone committed them, up to its end-of-stream record. */
  async function readEmbeddings(topic: string): Promise<ConsumedRecord[]> {
    const records: ConsumedRecord[] = [];
    const reader = await bus.consumer({
      groupId: `${upstream.prefix}.embeddings-reader`,
      topics: [topic],
      fromBeginning: true,
      readCommitted: true,
    });
    await reader.run({
      eachBatch: (batch) => {
        records.push(...batch.records);
        return Promise.resolve();
      },
    });
    const ended = () => records.some((r) => fromBinary(EmbeddingsSchema, r.value!).ref?.endOfStream);
    await waitFor(() => (upstream.assertNoUnexpectedExit(), ended()), {
      timeoutMs: 240_000,
      message: 'the backbone writing the end of the stream',
    });
    await reader.close();
    return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  }
});
