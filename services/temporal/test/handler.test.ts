import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { EmotionsSchema, encodeMessage, makeMessage, topicName, topics } from '@emostream/shared';
import { runStageInMemory } from '@emostream/shared/testing';
import { temporalSettingsSchema, temporalStage, type TemporalModel } from '../src/index.js';

const oneHot = (i: number) => Array.from({ length: 7 }, (_, j) => (j === i ? 1 : 0));

function embeddings(streamId: string, seq: number, faces: { trackId: number; label: number }[], endOfStream = false) {
  return makeMessage(topics.embeddings, {
    ref: { streamId, seq, ptsMs: seq * 200, capturedAtMs: Date.now(), width: 480, height: 360, endOfStream },
    faces: faces.map((f) => ({
      trackId: f.trackId,
      box: { x: 10, y: 10, width: 90, height: 90 },
      score: 0.9,
      features: Array(4).fill(f.label),
      staticProbs: oneHot(f.label),
    })),
  });
}

async function run(model: TemporalModel | null, messages: ReturnType<typeof embeddings>[]) {
  const out = topicName(topics.emotions, 'tmp');
  const { records } = await runStageInMemory(
    temporalStage({ model, ...temporalSettingsSchema.parse({ windowLength: 3, trackTtlMs: 1_000 }) }),
    {
      topicPrefix: 'tmp',
      inputs: (prefix) =>
        messages.map((m) => ({
          topic: topicName(topics.embeddings, prefix),
          key: m.ref!.streamId,
          value: encodeMessage(topics.embeddings, m),
        })),
      read: [out],
      done: (got) => got.get(out)!.length >= messages.length,
    },
  );
  return records.get(out)!.map((r) => fromBinary(EmotionsSchema, r.value!));
}

describe('temporal stage', () => {
  it('without a temporal model, gives each face the mean static probabilities of its own window, per (stream, track)', async () => {
    const out = await run(null, [
      embeddings('a', 1, [
        { trackId: 1, label: 1 },
        { trackId: 2, label: 6 },
      ]),
      embeddings('b', 1, [{ trackId: 1, label: 3 }]),
      embeddings('a', 7, [
        { trackId: 1, label: 2 },
        { trackId: 2, label: 6 },
      ]),
      embeddings('a', 13, [{ trackId: 1, label: 2 }]),
      embeddings('a', 19, [], true),
    ]);
    const a = out.filter((e) => e.ref!.streamId === 'a');
    const track1 = a.map((e) => e.faces.find((f) => f.trackId === 1)?.probs).filter(Boolean) as number[][];
    // Window of 3: [1,1,1] → [1,1,2] → [1,2,2]
    assert.deepEqual(
      track1.map((p) => p.map((v) => Math.round(v * 1000) / 1000)),
      [
        oneHot(1),
        [0, 2 / 3, 1 / 3, 0, 0, 0, 0].map((v) => Math.round(v * 1000) / 1000),
        [0, 1 / 3, 2 / 3, 0, 0, 0, 0].map((v) => Math.round(v * 1000) / 1000),
      ],
    );
    assert.equal(a[2]!.faces[0]!.label, 2);
    assert.deepEqual(out.find((e) => e.ref!.streamId === 'b')!.faces[0]!.probs, oneHot(3));
    assert.deepEqual(a[2]!.endedTrackIds, [2], 'track 2, unseen for 1.2 s of media time, ends on frame 13');
    assert.deepEqual(a.at(-1)!.endedTrackIds, [1], 'the end of stream ends the remaining track');
  });

  it('runs the model on every window of a batch in one call, oldest feature first', async () => {
    const calls: number[] = [];
    const model: TemporalModel = {
      windowLength: 3,
      predict(windows, count, featureSize) {
        calls.push(count);
        const out = new Float32Array(count * 7);
        // The label is the window's newest feature value: shows the window order.
        for (let i = 0; i < count; i += 1) out[i * 7 + windows[(i * 3 + 2) * featureSize]!] = 1;
        return Promise.resolve(out);
      },
    };
    const out = await run(model, [embeddings('a', 1, [{ trackId: 1, label: 4 }]), embeddings('a', 7, [{ trackId: 1, label: 5 }])]);
    assert.deepEqual(
      out.map((e) => e.faces[0]!.label),
      [4, 5],
    );
    assert.ok(calls.length >= 1 && calls.reduce((a, b) => a + b, 0) === 2);
  });

  it('ends a track unseen for longer than the TTL, on the frame that notices it', async () => {
    const out = await run(null, [
      embeddings('a', 1, [{ trackId: 1, label: 0 }]),
      embeddings('a', 2, [{ trackId: 2, label: 0 }]),
      embeddings('a', 20, [{ trackId: 2, label: 0 }]),
    ]);
    assert.deepEqual(
      out.map((e) => e.endedTrackIds),
      [[], [], [1]],
    );
  });

  it('gives the frames of a repeated upstream batch what they got the first time (at-least-once)', async () => {
    const frames = [
      embeddings('a', 1, [{ trackId: 1, label: 0 }]),
      embeddings('a', 7, [{ trackId: 1, label: 3 }]),
      embeddings('a', 13, [{ trackId: 1, label: 5 }]),
      embeddings('a', 19, [{ trackId: 1, label: 6 }]),
    ];
    // The backbone died after sending 7–19 and before committing them: they come again, after 19.
    const out = await run(null, [...frames, ...frames.slice(1), embeddings('a', 25, [{ trackId: 1, label: 6 }])]);
    const probs = out.map((e) => [e.ref!.seq, e.faces[0]!.probs.map((p) => Math.round(p * 1000) / 1000)]);
    assert.deepEqual(probs.slice(4, 7), probs.slice(1, 4), 'each repeat as the first time');
    assert.deepEqual(
      probs[7],
      [25, [0, 0, 0, 0, 0, 1 / 3, 2 / 3].map((p) => Math.round(p * 1000) / 1000)],
      'the stream goes on from frame 19',
    );
  });
});
