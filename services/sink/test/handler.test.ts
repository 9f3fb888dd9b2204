import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Registry } from 'prom-client';
import { encodeMessage, eventsTopic, makeMessage, topicName, topics } from '@emostream/shared';
import { runStageInMemory } from '@emostream/shared/testing';
import { SinkMetrics, sinkStage } from '../src/index.js';

const schema = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../libs/shared/schemas/emotion-event.v2.schema.json', import.meta.url)), 'utf8'),
) as Record<string, unknown>;
const validate = new Ajv2020({ strict: true }).compile(schema);
const probs = (label: number) => Array.from({ length: 7 }, (_, i) => (i === label ? 0.7 : 0.05));

describe('sink stage', () => {
  it('writes a valid public event per face, a summary per ended track, and per-stream metrics', async () => {
    const registry = new Registry();
    const frame = (seq: number, faces: number[], endOfStream = false) =>
      makeMessage(topics.emotions, {
        ref: { streamId: 'lobby', seq, ptsMs: (seq - 1) * 33, capturedAtMs: 1_700_000_000_000, width: 480, height: 360, endOfStream },
        faces: faces.map((label) => ({
          trackId: 1,
          box: { x: 1, y: 2, width: 90, height: 95 },
          score: 0.9,
          probs: probs(label),
          label,
          staticProbs: probs(label),
        })),
      });
    const messages = [frame(1, [1]), frame(7, [1]), frame(13, [0]), frame(14, [], true)];
    const eventsName = topicName(eventsTopic, 'snk');
    const { records } = await runStageInMemory(sinkStage({ metrics: new SinkMetrics(registry), now: () => 1_700_000_000_500 }), {
      topicPrefix: 'snk',
      registry,
      inputs: (prefix) =>
        messages.map((m) => ({ topic: topicName(topics.emotions, prefix), key: 'lobby', value: encodeMessage(topics.emotions, m) })),
      read: [eventsName],
      done: (got) => got.get(eventsName)!.length >= 4,
    });
    const events = records.get(eventsName)!;

    const parsed = events.map((r) => JSON.parse(Buffer.from(r.value!).toString('utf8')) as Record<string, unknown>);
    for (const event of parsed) assert.ok(validate(event), JSON.stringify(validate.errors));
    assert.deepEqual(
      parsed.map((e) => e.schema),
      ['emostream.event.face.v2', 'emostream.event.face.v2', 'emostream.event.face.v2', 'emostream.event.track_summary.v2'],
    );
    assert.deepEqual(
      parsed.slice(0, 3).map((e) => e.label),
      ['Happiness', 'Happiness', 'Neutral'],
    );
    assert.equal(parsed[3]?.meanEmotion, 'Happiness');
    assert.equal(parsed[3]?.frames, 3);
    assert.ok(events.every((r) => r.key === 'lobby'));
    const metrics = await registry.metrics();
    assert.match(metrics, /emostream_sink_events_total\{stream="lobby",type="face"\} 3/);
    assert.match(metrics, /emostream_sink_emotions_total\{stream="lobby",label="Happiness"\} 2/);
    assert.match(metrics, /emostream_sink_end_to_end_seconds_sum\{stream="lobby"\} 1.5/);
  });
});
