// The consumer example of docs/consumers.md, run as its readers would run it: the very file the doc
// points to, as a child process, against the real broker, on events the real sink stage wrote.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  encodeMessage,
  eventsTopic,
  KafkaBus,
  makeMessage,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type ConsumedRecord,
  type EmotionEvent,
} from '@emostream/shared';
import { kafkaBrokers, kafkaTestConfig, randomPrefix, readEachRecordOnce, waitFor } from '@emostream/shared/testing';
import { sinkStage } from '@emostream/sink';

const example = fileURLToPath(new URL('../examples/events-consumer.mjs', import.meta.url));
const probs = (label: number) => Array.from({ length: 7 }, (_, i) => (i === label ? 0.7 : 0.05));

/** Runs the example with --exit-at-end on `topic`; fails if it has not ended after 30 s. */
async function runExample(topic: string, group: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [example, '--topic', topic, '--group', group, '--from-beginning', '--exit-at-end'], {
    env: { ...process.env, KAFKA_BROKERS: kafkaBrokers() },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  assert.notEqual(code, null, `the example did not end within 30 s (stdout: ${stdout}; stderr: ${stderr})`);
  return { code, stdout, stderr };
}

/** The line the doc says the example prints for an event. */
function expectedLine(event: EmotionEvent): string {
  if (event.schema === 'emostream.event.face.v2') {
    return `face ${event.streamId} frame ${event.seq} track ${event.trackId}: ${event.label} ${event.confidence.toFixed(3)}`;
  }
  return `track_summary ${event.streamId} track ${event.trackId}: ${event.meanEmotion} over ${event.frames} frames (${Math.round(event.durationMs)} ms)`;
}

describe('the events consumer example (docs/consumers.md)', () => {
  const bus = new KafkaBus(kafkaTestConfig('consumer-example'));
  const prefix = randomPrefix('consumer-example');
  const events = topicName(eventsTopic, prefix);
  const written: ConsumedRecord[] = [];

  // The sink stage, exactly-once as in production, turns Emotions messages of two streams into
  // public events: 3 faces and 1 track summary per stream. Exactly-once also puts transaction
  // markers in the events topic, which the example must read past to reach the end.
  before(async () => {
    const config = runtimeConfigSchema.parse({
      bus: 'kafka',
      kafka: kafkaTestConfig('consumer-example-sink'),
      topicPrefix: prefix,
      delivery: 'exactly-once',
      instanceId: prefix,
    });
    const sink = new StageRunner(sinkStage(), { bus, config, registry: new Registry() });
    await sink.start();
    try {
      const reader = await readEachRecordOnce(bus, `${prefix}.reader`, [events], (record) => written.push(record));
      const frame = (streamId: string, seq: number, label: number | undefined) =>
        makeMessage(topics.emotions, {
          ref: {
            streamId,
            seq,
            ptsMs: (seq - 1) * 200,
            capturedAtMs: Date.now(),
            width: 640,
            height: 480,
            endOfStream: label === undefined,
          },
          faces:
            label === undefined
              ? []
              : [
                  {
                    trackId: 1,
                    box: { x: 10, y: 20, width: 100, height: 120 },
                    score: 0.9,
                    probs: probs(label),
                    label,
                    staticProbs: probs(label),
                  },
                ],
        });
      const messages = ['lobby', 'door'].flatMap((streamId) => [
        frame(streamId, 1, 1),
        frame(streamId, 2, 1),
        frame(streamId, 3, 6),
        frame(streamId, 4, undefined),
      ]);
      const producer = await bus.producer();
      await producer.send(
        messages.map((m) => ({
          topic: topicName(topics.emotions, prefix),
          key: m.ref!.streamId,
          value: encodeMessage(topics.emotions, m),
        })),
      );
      await waitFor(() => written.length >= 8, { message: () => `8 events from the sink (got ${written.length})` });
      await reader.close();
    } finally {
      await sink.stop();
    }
  });
  after(() => bus.close());

  it('prints one line per event of the sink, valid under the JSON Schema, and rejects none', async () => {
    const { code, stdout, stderr } = await runExample(events, `${prefix}.example`);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /invalid record/, 'nothing reported invalid');
    const expected = written.map((r) => expectedLine(JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent));
    assert.equal(expected.filter((line) => line.startsWith('track_summary')).length, 2, 'the sink wrote a summary per stream');
    assert.deepEqual(stdout.trim().split('\n').sort(), expected.sort());
  });

  it('reports a record that is not JSON and one that breaks the schema, names their offsets, prints the valid one and exits 1', async () => {
    const topic = `${randomPrefix('consumer-bad')}.events.v2`;
    await bus.createTopics([{ name: topic, partitions: 1 }]);
    const parsed = written.map((r) => JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent);
    const valid = parsed.find((event) => event.schema === 'emostream.event.face.v2')!;
    const outOfRange = { ...valid, confidence: 1.5 };
    const producer = await bus.producer();
    await producer.send([
      { topic, key: 'lobby', value: Buffer.from(JSON.stringify(valid)) },
      { topic, key: 'lobby', value: Buffer.from('{"schema": "emostream.event.face.v1", trackId') },
      { topic, key: 'lobby', value: Buffer.from(JSON.stringify(outOfRange)) },
    ]);
    const { code, stdout, stderr } = await runExample(topic, `${topic}.example`);
    assert.equal(code, 1, 'an invalid record makes the run fail');
    assert.deepEqual(stdout.trim().split('\n'), [expectedLine(valid)]);
    const reports = stderr.trim().split('\n');
    assert.equal(reports.length, 2, stderr);
    assert.match(reports[0]!, new RegExp(`^invalid record ${topic.replaceAll('.', '\\.')}/0@1: not JSON`));
    assert.match(reports[1]!, new RegExp(`^invalid record ${topic.replaceAll('.', '\\.')}/0@2: .*/confidence must be <= 1`));
  });
});
