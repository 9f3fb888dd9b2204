/**
 * `npm run demo` — until the face pipeline lands, this shows the runtime that every stage runs on,
 * on the embedded in-memory bus (no broker): three simulated cameras publish frames, a few corrupt
 * messages are mixed in, a stage turns frames into (empty) face lists, and the demo prints what
 * happened: outputs per camera and their order, the dead letters with their reasons, and metrics.
 */
import { Registry } from 'prom-client';
import { fromBinary } from '@bufbuild/protobuf';
import {
  DeadLetterSchema,
  FaceCropsSchema,
  InMemoryBus,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type ConsumedRecord,
} from '@emostream/shared';
import { frameRecord, garbageRecord } from '../libs/shared/test/fixtures/frames.js';
import { relayStage } from '../libs/shared/test/fixtures/relay-stage.js';

const cameras = ['lobby', 'corridor', 'entrance'];
const framesPerCamera = 200;
const corrupt = 6;

const bus = new InMemoryBus();
const config = runtimeConfigSchema.parse({ bus: 'memory', delivery: 'exactly-once', topicPrefix: 'demo' });
const registry = new Registry();
const runner = new StageRunner(relayStage({ name: 'relay' }), { bus, config, registry });
await runner.start();

const outputs: ConsumedRecord[] = [];
const deadLetters: ConsumedRecord[] = [];
for (const [topic, sink] of [
  [topicName(topics.faces, 'demo'), outputs],
  [topicName(topics.dlq, 'demo'), deadLetters],
] as const) {
  const reader = await bus.consumer({ groupId: `demo-reader-${topic}`, topics: [topic], fromBeginning: true });
  await reader.run({
    eachBatch: async (batch) => {
      sink.push(...batch.records);
      await reader.commit([{ topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) }]);
    },
  });
}

const started = performance.now();
const producer = await bus.producer();
const frames = topicName(topics.frames, 'demo');
for (let seq = 1; seq <= framesPerCamera; seq += 1) {
  await producer.send(cameras.map((camera) => frameRecord(frames, camera, seq)));
  if (seq % Math.floor(framesPerCamera / corrupt) === 0 && seq / Math.floor(framesPerCamera / corrupt) <= corrupt) await producer.send([garbageRecord(frames, cameras[seq % cameras.length]!, seq)]);
}
const expected = cameras.length * framesPerCamera;
while (outputs.length < expected || deadLetters.length < corrupt) await new Promise((resolve) => setTimeout(resolve, 10));
const seconds = (performance.now() - started) / 1000;

console.log(`EmoStream runtime demo (in-memory bus, ${config.delivery}, no broker)`);
console.log(`published ${expected} frames from ${cameras.length} cameras and ${corrupt} corrupt messages in ${seconds.toFixed(2)} s`);
for (const camera of cameras) {
  const seqs = outputs.map((r) => fromBinary(FaceCropsSchema, r.value!).ref!).filter((ref) => ref.streamId === camera).map((ref) => ref.seq);
  const inOrder = seqs.every((seq, i) => i === 0 || seq > seqs[i - 1]!);
  console.log(`  ${camera.padEnd(9)} ${seqs.length} outputs, ${inOrder ? 'in frame order' : 'OUT OF ORDER'}`);
}
console.log(`dead-letter queue: ${deadLetters.length} messages`);
for (const record of deadLetters.slice(0, 3)) {
  const letter = fromBinary(DeadLetterSchema, record.value!);
  console.log(`  [${letter.errorCode}] ${letter.reason} (from ${letter.originTopic}@${letter.originPartition}:${letter.originOffset})`);
}
const counts = await runner.metrics.messages.get();
console.log(`metrics: ${counts.values.map((v) => `${v.labels.outcome}=${v.value}`).join(', ')} (emostream_relay_messages_total; served on /metrics by every stage process)`);
console.log('The face pipeline (ingest → face → backbone → temporal → sink) and `emo run` come next; see README.');
await runner.stop();
await bus.close();
