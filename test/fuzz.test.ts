/**
 * Issue 11: property-based fuzzing of every stage's decoder and handler (fast-check). Thousands of
 * random and mutated messages per stage — valid messages with flipped, cut or appended bytes, pure
 * noise, a key that does not match the stream — go through the real StageRunner on the in-memory
 * bus (the ingest worker for stream specs). Properties: the stage never crashes or stalls, every
 * message that does not decode is dead-lettered (found by the SHA-256 its dead letter carries),
 * every dead letter stays small (no picture of a frame or crop), and every output decodes.
 * A failing run prints its seed: FUZZ_SEED=<seed> replays it.
 * Issue 26: the ingest worker's expected "ignoring an undecodable stream spec" errors (~1,200 lines
 * with stack traces per `npm test`, whose log level is `error`) are captured and checked here, and
 * none reaches the test's output.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { pino } from 'pino';
import sharp from 'sharp';
import { Registry } from 'prom-client';
import {
  CropEncoding,
  decodeMessage,
  encodeMessage,
  InMemoryBus,
  makeMessage,
  rootLogger,
  runtimeConfigSchema,
  StageRunner,
  StreamSpecSchema,
  topicName,
  topics,
  type ConsumedRecord,
  type StageDefinition,
  type Topic,
} from '@emostream/shared';
import { backboneSettingsSchema, backboneStage, type BackboneModel } from '@emostream/backbone';
import type { FaceDetector } from '@emostream/face';
import { TEST_CROPS, testFaceStage } from '@emostream/face/testing';
import { IngestMetrics, IngestWorker, ingestSettingsSchema } from '@emostream/ingest';
import { sinkStage } from '@emostream/sink';
import { temporalSettingsSchema, temporalStage } from '@emostream/temporal';

// Thousands of dead letters and refusals are the point here: their log lines would drown the report.
rootLogger.level = process.env.EMOSTREAM_LOG_LEVEL ?? 'fatal';

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2_147_483_647);
const RUNS = Number(process.env.FUZZ_RUNS ?? 2_000);
/** A dead letter is its reason and origin plus, outside frames and crops, the original message. */
const DEAD_LETTER_OVERHEAD_BYTES = 4_096;

interface FuzzInput {
  key: string;
  value: Uint8Array;
}

/** A valid message's bytes, then mutated: unchanged, noise, cut, bytes flipped, bytes appended, or under another key. */
function mutated(valid: fc.Arbitrary<{ key: string; bytes: Uint8Array }>): fc.Arbitrary<FuzzInput> {
  return fc.oneof(
    valid.map(({ key, bytes }) => ({ key, value: bytes })),
    fc.record({ key: fc.string({ maxLength: 20 }), value: fc.uint8Array({ maxLength: 512 }) }),
    valid.chain(({ key, bytes }) => fc.nat({ max: Math.max(0, bytes.length - 1) }).map((cut) => ({ key, value: bytes.subarray(0, cut) }))),
    valid.chain(({ key, bytes }) =>
      fc
        .array(fc.tuple(fc.nat({ max: Math.max(0, bytes.length - 1) }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 })
        .map((flips) => {
          const copy = Uint8Array.from(bytes);
          for (const [at, value] of flips) if (copy.length > 0) copy[at] = value;
          return { key, value: copy };
        }),
    ),
    valid.chain(({ key, bytes }) =>
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => ({ key, value: Buffer.concat([bytes, tail]) })),
    ),
    valid.chain(({ bytes }) => fc.string({ maxLength: 20 }).map((key) => ({ key, value: bytes }))),
  );
}

const streamId = fc.oneof(fc.constantFrom('cam-1', 'cam-2'), fc.string({ maxLength: 12 }));
const ref = fc.record({
  streamId,
  seq: fc.integer({ min: 0, max: 1_000 }),
  ptsMs: fc.integer({ min: 0, max: 100_000 }),
  capturedAtMs: fc.integer({ min: 0, max: 2_000_000_000_000 }),
  width: fc.integer({ min: 0, max: 4_000 }),
  height: fc.integer({ min: 0, max: 4_000 }),
  endOfStream: fc.boolean(),
});

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Runs `definition` on an in-memory bus over `inputs` and checks the properties. Returns the outputs
 * for stage-specific checks.
 */
async function fuzzStage(
  definition: StageDefinition,
  outputTopic: Topic | undefined,
  inputs: FuzzInput[],
  options: { imagesWithheld: boolean },
) {
  const bus = new InMemoryBus();
  const registry = new Registry();
  const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: 'fuzz', maxBatchSize: 64 });
  const runner = new StageRunner(definition, { bus, config, registry });
  await runner.start();
  const dlq: ConsumedRecord[] = [];
  const outputs: ConsumedRecord[] = [];
  try {
    const follow = async (topic: string, into: ConsumedRecord[]) => {
      const reader = await bus.consumer({ groupId: `fuzz-reader-${topic}`, topics: [topic], fromBeginning: true });
      // Committing: the in-memory bus bounds a partition's backlog by its slowest group.
      await reader.run({
        eachBatch: async (batch) => {
          into.push(...batch.records);
          await reader.commit([
            { topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) },
          ]);
        },
      });
    };
    await follow(topicName(topics.dlq, 'fuzz'), dlq);
    if (outputTopic) await follow(topicName(outputTopic, 'fuzz'), outputs);
    const producer = await bus.producer();
    const inputTopic = topicName(definition.input, 'fuzz');
    await producer.send(inputs.map((input) => ({ topic: inputTopic, key: input.key, value: input.value })));
    const handled = async () => {
      const values = (await runner.metrics.messages.get()).values;
      const count = (outcome: string) => values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
      return { processed: count('processed'), deadLettered: count('dead_lettered'), retried: count('retried') };
    };
    const deadline = Date.now() + 90_000;
    for (;;) {
      const { processed, deadLettered } = await handled();
      if (processed + deadLettered >= inputs.length) break;
      assert.ok(
        Date.now() < deadline,
        `seed ${SEED}: stalled after ${processed + deadLettered} of ${inputs.length} messages (${JSON.stringify(await handled())})`,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const counts = await handled();
    assert.equal(runner.lifecycle.state, 'RUNNING', `seed ${SEED}: the stage left RUNNING`);
    assert.equal(counts.retried, 0, `seed ${SEED}: a bad message was retried (it would be forever) instead of dead-lettered`);
    // The dead letters arrive right behind the counts.
    const deadline2 = Date.now() + 10_000;
    while (dlq.length < counts.deadLettered && Date.now() < deadline2) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(dlq.length, counts.deadLettered);

    // Every input the contract's decoder refuses is among the dead letters.
    const deadLettered = new Set(dlq.map((r) => r.headers['emostream-origin-sha256']));
    let undecodable = 0;
    for (const input of inputs) {
      let decodes = true;
      try {
        decodeMessage(definition.input, input.key, input.value);
      } catch {
        decodes = false;
      }
      if (decodes) continue;
      undecodable += 1;
      assert.ok(
        deadLettered.has(sha(input.value)),
        `seed ${SEED}: an undecodable message under key ${JSON.stringify(input.key)} was not dead-lettered`,
      );
    }
    assert.ok(
      undecodable > 0 && undecodable < inputs.length,
      `seed ${SEED}: the fuzzer made ${undecodable} undecodable of ${inputs.length}: both kinds are needed`,
    );
    // Bounded dead letters; no picture of a frame or a crop in them.
    const largest = Math.max(...inputs.map((i) => i.value.length));
    for (const record of dlq) {
      const size = record.value!.length;
      if (options.imagesWithheld) assert.ok(size <= DEAD_LETTER_OVERHEAD_BYTES, `seed ${SEED}: a dead letter of ${size} bytes`);
      else assert.ok(size <= largest + DEAD_LETTER_OVERHEAD_BYTES, `seed ${SEED}: a dead letter of ${size} bytes`);
    }
    // Every output is a valid message of its topic.
    if (outputTopic) for (const record of outputs) decodeMessage(outputTopic, record.key, record.value!);
    return { outputs, dlq, counts };
  } finally {
    await runner.stop();
    await bus.close();
  }
}

describe(`fuzzing the stage decoders and handlers (${RUNS} messages each, seed ${SEED})`, () => {
  it('face: random and mutated frames (real JPEGs, noise, oversized headers)', { timeout: 120_000 }, async () => {
    const small = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 150, b: 100 } } })
      .jpeg()
      .toBuffer();
    // A header claiming 16000×16000: must be refused from the header (FACE_MAX_PIXELS), never decoded.
    const oversized = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x3e, 0x80, 0x3e, 0x80, 0x03, 0x01, 0x22, 0x00, 0xff, 0xd9]);
    const frame = fc
      .record({ ref, jpeg: fc.oneof(fc.constant(small), fc.constant(oversized), fc.uint8Array({ maxLength: 256 })) })
      .map((f) => ({
        key: f.ref.streamId,
        bytes: encodeMessage(topics.frames, makeMessage(topics.frames, { ref: f.ref, jpeg: f.jpeg.length > 0 ? f.jpeg : small })),
      }));
    const inputs = fc.sample(mutated(frame), { numRuns: RUNS, seed: SEED });
    // The detector stands in for the pack's (tested on real media in libs/models): one face in the middle.
    const detector: FaceDetector = {
      detect: (f) => Promise.resolve([{ x1: f.width / 4, y1: f.height / 4, x2: (3 * f.width) / 4, y2: (3 * f.height) / 4, score: 0.9 }]),
    };
    const stage = testFaceStage(detector, { crops: { ...TEST_CROPS, encoding: 'jpeg', jpegQuality: 80 }, minFaceSize: 4 });
    const { dlq } = await fuzzStage(stage, topics.faces, inputs, { imagesWithheld: true });
    assert.ok(
      dlq.some((r) => /FRAME_TOO_LARGE/.test(Buffer.from(r.value!).toString('latin1'))) ||
        !inputs.some((i) => Buffer.from(i.value).includes(oversized)),
      'oversized frames were refused as such',
    );
  });

  it('backbone: random and mutated face crops (sizes, encodings, bytes that lie about their size)', { timeout: 120_000 }, async () => {
    const jpeg = await sharp({ create: { width: 224, height: 224, channels: 3, background: { r: 10, g: 200, b: 30 } } })
      .jpeg()
      .toBuffer();
    const big = await sharp({ create: { width: 2_000, height: 2_000, channels: 3, background: { r: 10, g: 200, b: 30 } } })
      .jpeg()
      .toBuffer();
    const face = fc.record({
      trackId: fc.integer({ min: 0, max: 20 }),
      score: fc.float({ noNaN: true }),
      encoding: fc.constantFrom(CropEncoding.JPEG, CropEncoding.RGB8),
      cropWidth: fc.constantFrom(224, 223, 0, 5_000),
      cropHeight: fc.constantFrom(224, 100),
      crop: fc.oneof(fc.constant(jpeg), fc.constant(big), fc.constant(new Uint8Array(224 * 224 * 3)), fc.uint8Array({ maxLength: 128 })),
    });
    const faces = fc
      .record({ ref, faces: fc.array(face, { maxLength: 3 }) })
      .map((m) => ({ key: m.ref.streamId, bytes: encodeMessage(topics.faces, makeMessage(topics.faces, { ref: m.ref, faces: m.faces })) }));
    const inputs = fc.sample(mutated(faces), { numRuns: RUNS, seed: SEED + 1 });
    // Stands in for the ONNX backbone (tested in libs/models): checks what reaches it is a real 224×224 RGB crop.
    const model: BackboneModel = {
      inputSize: { width: 224, height: 224 },
      // The micro-batcher awaits embed() in an async function: a failed check here rejects that batch.
      embed(crops) {
        for (const c of crops) assert.equal(c.data.length, 224 * 224 * 3, 'a crop of the wrong size reached the model');
        return Promise.resolve(crops.map(() => ({ features: new Float32Array(512).fill(0.5), probs: new Float32Array(7).fill(1 / 7) })));
      },
    };
    await fuzzStage(
      backboneStage({ model, ...backboneSettingsSchema.parse({ maxBatch: 16, maxWaitMs: 2, concurrentPartitions: 1 }) }),
      topics.embeddings,
      inputs,
      {
        imagesWithheld: true,
      },
    );
  });

  it('temporal: random and mutated embeddings (feature lengths, track ids, sequences)', { timeout: 120_000 }, async () => {
    const face = fc.record({
      trackId: fc.integer({ min: 0, max: 5 }),
      features: fc.oneof(fc.constant<number[]>(new Array<number>(512).fill(0.1)), fc.array(fc.float({ noNaN: true }), { maxLength: 8 })),
      staticProbs: fc.oneof(fc.constant<number[]>([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]), fc.array(fc.float(), { maxLength: 9 })),
    });
    const embeddings = fc
      .record({ ref, faces: fc.array(face, { maxLength: 3 }), endedTrackIds: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }) })
      .map((m) => ({ key: m.ref.streamId, bytes: encodeMessage(topics.embeddings, makeMessage(topics.embeddings, m)) }));
    const inputs = fc.sample(mutated(embeddings), { numRuns: RUNS, seed: SEED + 2 });
    await fuzzStage(
      temporalStage({ model: null, ...temporalSettingsSchema.parse({ windowLength: 5, trackTtlMs: 1_000 }) }),
      topics.emotions,
      inputs,
      { imagesWithheld: false },
    );
  });

  it('sink: random and mutated emotions (labels, probabilities, boxes)', { timeout: 120_000 }, async () => {
    const face = fc.record({
      trackId: fc.integer({ min: 0, max: 5 }),
      label: fc.integer({ min: 0, max: 9 }),
      probs: fc.oneof(fc.constant<number[]>([0.1, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1]), fc.array(fc.float(), { maxLength: 9 })),
      box: fc.record({ x: fc.float(), y: fc.float(), width: fc.float(), height: fc.float() }),
    });
    const emotions = fc
      .record({ ref, faces: fc.array(face, { maxLength: 3 }), endedTrackIds: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }) })
      .map((m) => ({ key: m.ref.streamId, bytes: encodeMessage(topics.emotions, makeMessage(topics.emotions, m)) }));
    const inputs = fc.sample(mutated(emotions), { numRuns: RUNS, seed: SEED + 3 });
    // The sink writes JSON events (not a protobuf topic): checked by its own tests; here: no crash, bad ones dead-lettered.
    await fuzzStage(sinkStage({}), undefined, inputs, { imagesWithheld: false });
  });

  it(
    'ingest: random and mutated stream specs are refused or ignored, never started, with bounded statuses',
    { timeout: 120_000 },
    async () => {
      const spec = fc
        .record({
          streamId: fc.oneof(fc.constantFrom('door', 'yard'), fc.string({ maxLength: 80 }), fc.constant('../../etc/摄像头/1 📷')),
          url: fc.oneof(
            fc.webUrl(),
            fc.constantFrom(
              'file:///etc/passwd',
              'webcam:/etc/passwd',
              'http://169.254.169.254/',
              'rtsp://user:secret@10.0.0.1/live',
              '/etc/shadow',
              '',
            ),
            fc.string({ maxLength: 200 }),
          ),
          sampleFps: fc.double({ noNaN: false }),
          enabled: fc.boolean(),
          maxWidth: fc.nat(),
        })
        .map((s) => ({ key: s.streamId, bytes: encodeMessage(topics.streams, makeMessage(topics.streams, s)) }));
      const inputs = fc.sample(mutated(spec), { numRuns: RUNS, seed: SEED + 4 });
      const bus = new InMemoryBus();
      const registry = new Registry();
      // Strict policy, and only files allowed as a scheme (no media roots): nothing can be fetched, and
      // no random host name is ever looked up (the scheme is refused first).
      const settings = ingestSettingsSchema.parse({ allowedSchemes: ['file'], maxStreams: 4 });
      // The worker's log, captured: each undecodable spec is an error line (with its stack) by design,
      // checked below instead of printed.
      const logged: { level: number; msg: string; streamId?: string }[] = [];
      const logger = pino({ level: 'trace' }, { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[number]) });
      const worker = new IngestWorker({ bus, topicPrefix: 'fuzz', settings, metrics: new IngestMetrics(registry), logger });
      await worker.start();
      const statuses: ConsumedRecord[] = [];
      try {
        const reader = await bus.consumer({
          groupId: 'fuzz-status',
          topics: [topicName(topics.streamStatus, 'fuzz')],
          fromBeginning: true,
        });
        await reader.run({
          eachBatch: async (batch) => {
            statuses.push(...batch.records);
            await reader.commit([
              { topic: batch.topic, partition: batch.partition, offset: String(Number(batch.records.at(-1)!.offset) + 1) },
            ]);
          },
        });
        const producer = await bus.producer();
        const streamsTopic = topicName(topics.streams, 'fuzz');
        let everRunning = 0;
        const watch = setInterval(() => (everRunning = Math.max(everRunning, worker.running().length)), 5);
        await producer.send(inputs.map((i) => ({ topic: streamsTopic, key: i.key, value: i.value })));
        // Every spec that decodes and is enabled is refused (and says so); the rest are ignored or stop nothing.
        const expectedRefusals = inputs.filter((i) => {
          try {
            return decodeMessage(topics.streams, i.key, i.value).enabled;
          } catch {
            return false;
          }
        }).length;
        // The specs the worker cannot decode: each is ignored with one error line naming its stream.
        const undecodable = inputs.filter((i) => {
          try {
            fromBinary(StreamSpecSchema, i.value);
            return false;
          } catch {
            return true;
          }
        });
        const errors = () => logged.filter((line) => line.level >= 50);
        const refused = async () =>
          (await registry.getSingleMetric('emostream_ingest_streams_refused_total')!.get()).values.reduce((sum, v) => sum + v.value, 0);
        const deadline = Date.now() + 60_000;
        while ((await refused()) < expectedRefusals || errors().length < undecodable.length) {
          assert.ok(
            Date.now() < deadline,
            `seed ${SEED}: ${await refused()} of ${expectedRefusals} specs refused, ${errors().length} of ${undecodable.length} undecodable ones logged`,
          );
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        // Per key in order; across keys (partitions) in any order.
        const byStream = (rows: [string, string | undefined][]) => rows.map((row) => JSON.stringify(row)).sort();
        assert.deepEqual(
          byStream(errors().map((line) => [line.msg, line.streamId])),
          byStream(undecodable.map((i) => ['ignoring an undecodable stream spec', i.key])),
          `seed ${SEED}: one error per undecodable spec, and no other error`,
        );
        clearInterval(watch);
        assert.equal(everRunning, 0, `seed ${SEED}: a fuzzed spec was started`);
        assert.equal(await refused(), expectedRefusals);
        for (const status of statuses) {
          // A disabled or removed stream's status is deleted (a tombstone): nothing to bound.
          if (status.value === null) continue;
          assert.ok(status.value.length <= 1_024, `seed ${SEED}: a status of ${status.value.length} bytes`);
          assert.ok(
            !Buffer.from(status.value).toString('utf8').includes('secret'),
            `a status carried a credential: ${Buffer.from(status.value).toString('utf8')}`,
          );
        }
      } finally {
        await worker.stop();
        await bus.close();
      }
    },
  );
});
