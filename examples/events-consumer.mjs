#!/usr/bin/env node
// A downstream consumer of EmoStream's public events topic (docs/consumers.md explains it):
// subscribes to <prefix>.events.v2, validates every record against the published JSON Schema and
// prints one line per event. Records that are not valid events are reported on stderr and skipped,
// so one bad record never blocks the stream.
//
//   KAFKA_BROKERS=host:9092 node examples/events-consumer.mjs [options]
//
//   --topic <name>       default emostream.events.v2 (EMOSTREAM_TOPIC_PREFIX of the pipeline + ".events.v2")
//   --group <id>         consumer group, default emostream-events-example; offsets are committed,
//                        so a second run of the same group continues where the first stopped
//   --from-beginning     a group with no committed offsets starts at the oldest record (else new ones only)
//   --exit-at-end        stop once every partition is read up to where it ended when the consumer started
//                        (like kcat -e); the exit code is then 1 if any record was invalid
//   --schema <file>      the JSON Schema, default the one in this repository
//
// Needs Node 20+, kafkajs 2 and ajv 8 (`npm i kafkajs ajv` outside this repository).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { Kafka, logLevel } from 'kafkajs';

const usage =
  'usage: KAFKA_BROKERS=host:port node examples/events-consumer.mjs [--topic T] [--group G] [--from-beginning] [--exit-at-end] [--schema FILE]';
let args;
try {
  ({ values: args } = parseArgs({
    options: {
      topic: { type: 'string', default: 'emostream.events.v2' },
      group: { type: 'string', default: 'emostream-events-example' },
      'from-beginning': { type: 'boolean', default: false },
      'exit-at-end': { type: 'boolean', default: false },
      schema: { type: 'string', default: fileURLToPath(new URL('../libs/shared/schemas/emotion-event.v2.schema.json', import.meta.url)) },
    },
  }));
} catch (error) {
  console.error(`events-consumer: ${error.message}\n${usage}`);
  process.exit(2);
}
const brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
if (!brokers?.length) {
  console.error(`events-consumer: set KAFKA_BROKERS=host:port[,host:port]\n${usage}`);
  process.exit(2);
}

// The schema uses draft 2020-12; strict mode makes a schema typo an error here instead of a silent pass.
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(args.schema, 'utf8')));

const kafka = new Kafka({ clientId: 'emostream-events-example', brokers, logLevel: logLevel.WARN });
// kafkajs reads read_committed by default: events of a sink running exactly-once appear only once committed.
const consumer = kafka.consumer({ groupId: args.group });
let invalid = 0;

/** One line per event: what an analytics job would store or aggregate. */
function describe(event) {
  if (event.schema === 'emostream.event.face.v2') {
    return `face ${event.streamId} frame ${event.seq} track ${event.trackId}: ${event.label} ${event.confidence.toFixed(3)}`;
  }
  return `track_summary ${event.streamId} track ${event.trackId}: ${event.meanEmotion} over ${event.frames} frames (${Math.round(event.durationMs)} ms)`;
}

function handle({ topic, partition, message }) {
  const where = `${topic}/${partition}@${message.offset}`;
  let event;
  try {
    event = JSON.parse(message.value?.toString('utf8') ?? 'null');
  } catch (error) {
    invalid++;
    console.error(`invalid record ${where}: not JSON (${error.message})`);
    return;
  }
  if (!validate(event)) {
    invalid++;
    console.error(`invalid record ${where}: ${JSON.stringify(validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}`))}`);
    return;
  }
  console.log(describe(event));
}

/**
 * For --exit-at-end: per partition, the offset this group must reach (the end of the partition now)
 * and where it starts (its committed offset, else the oldest or the newest record). Partitions that
 * already start at their end are done.
 */
async function endOffsets() {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(args.topic);
    const [committed] = await admin.fetchOffsets({ groupId: args.group, topics: [args.topic] });
    const remaining = new Map();
    for (const { partition, high, low } of ends) {
      const own = committed?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
      const start = own !== '-1' ? own : args['from-beginning'] ? low : high;
      if (BigInt(start) < BigInt(high)) remaining.set(partition, BigInt(high));
    }
    return remaining;
  } finally {
    await admin.disconnect();
  }
}

let stopping;
function stop(code) {
  stopping ??= consumer.disconnect().then(() => process.exit(code));
  return stopping;
}
process.once('SIGINT', () => void stop(invalid > 0 ? 1 : 0));
process.once('SIGTERM', () => void stop(invalid > 0 ? 1 : 0));

const remaining = args['exit-at-end'] ? await endOffsets() : undefined;
await consumer.connect();
await consumer.subscribe({ topics: [args.topic], fromBeginning: args['from-beginning'] });
if (remaining) {
  // END_BATCH_PROCESS reports the last offset of each batch, control records of transactions included,
  // so a partition written by an exactly-once sink still reaches its end.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    if (BigInt(payload.lastOffset) + 1n >= (remaining.get(payload.partition) ?? 0n)) remaining.delete(payload.partition);
    if (remaining.size === 0) void stop(invalid > 0 ? 1 : 0);
  });
}
await consumer.run({ eachMessage: async (record) => handle(record) });
if (remaining?.size === 0) await stop(0);
