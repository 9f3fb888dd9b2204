import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import { CropEncoding, DeadLetterSchema, EmbeddingsSchema, encodeMessage, makeMessage, topicName, topics } from '@emostream/shared';
import { loadPack, type LoadedPack } from '@emostream/vision';
import { runStageInMemory } from '@emostream/shared/testing';
import { buildSyntheticPack } from '@emostream/models';
import { BackboneMetrics, backboneSettingsSchema, backboneStage, packBackbone } from '../src/index.js';

/** A deterministic 224×224 RGB "face". */
function crop(seed: number): Uint8Array {
  const data = new Uint8Array(224 * 224 * 3);
  for (let i = 0; i < data.length; i += 1) data[i] = (i * 31 + seed * 97) % 251;
  return data;
}

describe('backbone stage on the synthetic EMO-AffectNet pack', () => {
  let pack: LoadedPack;
  before(async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'pack-')), 'synthetic');
    await buildSyntheticPack(dir);
    pack = await loadPack(dir, { roles: ['backbone'] });
  });
  after(async () => {
    await pack.sessions.backbone?.release();
  });

  it('gives the same embeddings, to the bit, with the crops prepared inside the model (as the service loads it) as with writeTensor', async () => {
    const bytesPack = await loadPack(pack.dir, { roles: ['backbone'], backboneTakesBytes: true });
    try {
      assert.equal(bytesPack.sessions.backbone!.inputs[0]!.dtype, 'uint8');
      const crops = [1, 2, 3].map((seed) => ({ width: 224, height: 224, data: crop(seed) }));
      const [fromFloats, fromBytes] = await Promise.all([packBackbone(pack).embed(crops), packBackbone(bytesPack).embed(crops)]);
      assert.deepEqual(fromBytes, fromFloats);
      assert.ok(fromFloats[0]!.features.some((v) => v > 0));
    } finally {
      await bytesPack.sessions.backbone?.release();
    }
  });

  it('embeds each face (512 non-negative features, 7 probabilities summing to 1), passes faceless frames on, and dead-letters a frame with a corrupt crop', async () => {
    const registry = new Registry();
    const jpeg = await sharp(Buffer.from(crop(3)), { raw: { width: 224, height: 224, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const face = (trackId: number, bytes: Uint8Array, encoding: CropEncoding) => ({
      trackId,
      box: { x: 0, y: 0, width: 90, height: 90 },
      score: 0.9,
      encoding,
      cropWidth: 224,
      cropHeight: 224,
      crop: bytes,
    });
    const frames = [
      makeMessage(topics.faces, {
        ref: { streamId: 'a', seq: 1 },
        faces: [face(1, crop(1), CropEncoding.RGB8), face(2, jpeg, CropEncoding.JPEG)],
      }),
      makeMessage(topics.faces, { ref: { streamId: 'b', seq: 1 }, faces: [] }),
      makeMessage(topics.faces, { ref: { streamId: 'a', seq: 7 }, faces: [face(1, crop(1), CropEncoding.RGB8)] }),
      makeMessage(topics.faces, { ref: { streamId: 'b', seq: 7 }, faces: [face(1, Buffer.from('not a jpeg'), CropEncoding.JPEG)] }),
    ];
    const [embeddingsTopic, dlqTopic] = [topicName(topics.embeddings, 'bb'), topicName(topics.dlq, 'bb')];
    const { records } = await runStageInMemory(
      backboneStage({
        model: packBackbone(pack),
        ...backboneSettingsSchema.parse({ maxBatch: 8, maxWaitMs: 5, concurrentPartitions: 1 }),
        metrics: new BackboneMetrics(registry),
      }),
      {
        topicPrefix: 'bb',
        registry,
        maxBatchSize: 16,
        inputs: (prefix) =>
          frames.map((f) => ({ topic: topicName(topics.faces, prefix), key: f.ref!.streamId, value: encodeMessage(topics.faces, f) })),
        read: [embeddingsTopic, dlqTopic],
        done: (got) => got.get(embeddingsTopic)!.length >= 3 && got.get(dlqTopic)!.length >= 1,
      },
    );
    const out = records.get(embeddingsTopic)!;
    const dlq = records.get(dlqTopic)!;

    const embeddings = out.map((r) => fromBinary(EmbeddingsSchema, r.value!));
    const a1 = embeddings.find((e) => e.ref!.streamId === 'a' && e.ref!.seq === 1)!;
    assert.equal(a1.faces.length, 2);
    for (const f of a1.faces) {
      assert.equal(f.features.length, 512);
      assert.ok(
        f.features.every((v) => v >= 0),
        'features are the ReLU output',
      );
      assert.equal(f.staticProbs.length, 7);
      assert.ok(Math.abs(f.staticProbs.reduce((s, v) => s + v, 0) - 1) < 1e-4);
    }
    // The same crop gives the same embedding, whatever it was batched with.
    const a7 = embeddings.find((e) => e.ref!.streamId === 'a' && e.ref!.seq === 7)!;
    assert.ok(a7.faces[0]!.features.every((v, i) => Math.abs(v - a1.faces[0]!.features[i]!) < 1e-4));
    assert.deepEqual(embeddings.find((e) => e.ref!.streamId === 'b')!.faces, []);
    const letter = fromBinary(DeadLetterSchema, dlq[0]!.value!);
    assert.equal(letter.errorCode, 'CROP_UNDECODABLE');
    assert.match(await registry.metrics(), /emostream_backbone_faces_total 3/);
  });
});
