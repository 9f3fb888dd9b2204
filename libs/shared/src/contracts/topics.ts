import { create, fromBinary, toBinary, type DescMessage, type MessageShape, type MessageInitShape } from '@bufbuild/protobuf';
import { z } from 'zod';
import { DecodeError } from '../errors.js';
import { FACE_EVENT, TRACK_SUMMARY_EVENT } from './events.js';
import {
  DeadLetterSchema,
  EmbeddingsSchema,
  EmotionsSchema,
  FaceCropsSchema,
  FrameSchema,
  StreamSpecSchema,
  type FrameRef,
} from './gen/emostream/v1/messages_pb.js';
import { streamStatusSchema } from './stream-status.js';

/**
 * How a topic's records are keyed. `streamId`: by the stream the message belongs to, so one stream
 * stays on one partition, in order, and reaches one consumer of each stage. `originKey`: the DLQ, keyed
 * like the message that failed.
 */
export type KeyRule = 'streamId' | 'originKey';

/** What every topic declares besides its codec. */
export interface TopicTraits {
  /** e.g. "frames"; the full name is `${prefix}.frames.v1`. */
  readonly base: string;
  readonly version: number;
  /** Partitions created by default (operators may create more). */
  readonly defaultPartitions: number;
  /** Extra topic configs (compaction, retention). */
  readonly configEntries?: Readonly<Record<string, string>>;
  readonly keyRule: KeyRule;
  /** Its messages hold pictures of faces (camera frames, face crops). */
  readonly carriesImages: boolean;
  /** Its messages hold numbers that identify a face as well as its picture (backbone features, tracker descriptors). */
  readonly carriesFaceFeatures: boolean;
}

/**
 * A topic whose values are protobuf messages of the pipeline's contracts (`messages.proto`).
 * A breaking change to a message is a new topic version (and a new schema package), never an edit in place.
 */
export interface Topic<Desc extends DescMessage = DescMessage> extends TopicTraits {
  readonly codec: 'protobuf';
  readonly schema: Desc;
  /** The Kafka key of a value, by the topic's key rule. */
  keyOf(value: MessageShape<Desc>): string;
}

/** A topic whose values are JSON, checked on reading by a zod schema; tombstones (null) delete a key on compacted ones. */
export interface JsonTopic<T = unknown> extends TopicTraits {
  readonly codec: 'json';
  readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>;
  /** The Kafka key of a value, when the value names it (decoding then checks it); else the writer keys it by the rule. */
  keyOf?(value: T): string;
}

export type AnyTopic = Topic | JsonTopic;

export type TopicValue<T extends Topic> = T extends Topic<infer D> ? MessageShape<D> : never;
export type TopicInit<T extends Topic> = T extends Topic<infer D> ? MessageInitShape<D> : never;
export type JsonTopicValue<T extends JsonTopic> = T extends JsonTopic<infer V> ? V : never;

interface TopicOptions {
  defaultPartitions?: number;
  configEntries?: Record<string, string>;
  keyRule?: KeyRule;
  carriesImages?: boolean;
  carriesFaceFeatures?: boolean;
}

function traits(base: string, version: number, options: TopicOptions): TopicTraits {
  return {
    base,
    version,
    defaultPartitions: options.defaultPartitions ?? 6,
    ...(options.configEntries ? { configEntries: options.configEntries } : {}),
    keyRule: options.keyRule ?? 'streamId',
    carriesImages: options.carriesImages ?? false,
    carriesFaceFeatures: options.carriesFaceFeatures ?? false,
  };
}

export function defineTopic<Desc extends DescMessage>(
  base: string,
  version: number,
  schema: Desc,
  keyOf: (value: MessageShape<Desc>) => string,
  options: TopicOptions = {},
): Topic<Desc> {
  return { ...traits(base, version, options), codec: 'protobuf', schema, keyOf };
}

export function defineJsonTopic<T>(
  base: string,
  version: number,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  options: TopicOptions & { keyOf?: (value: T) => string } = {},
): JsonTopic<T> {
  const topic: JsonTopic<T> = { ...traits(base, version, options), codec: 'json', schema };
  return options.keyOf ? { ...topic, keyOf: options.keyOf } : topic;
}

/** The full topic name under a deployment's prefix: `${prefix}.${base}.v${version}`. */
export function topicName(topic: { base: string; version: number }, prefix: string): string {
  return `${prefix}.${topic.base}.v${topic.version}`;
}

function refKey(value: { ref?: FrameRef | undefined }): string {
  return value.ref?.streamId ?? '';
}

/** What the events topic's codec checks of an event: which event it is, and the stream it is keyed by. */
export interface EventEnvelope {
  schema: typeof FACE_EVENT | typeof TRACK_SUMMARY_EVENT;
  streamId: string;
}

/**
 * The envelope every public event has; the rest is kept as written. The whole shape is the published
 * JSON Schema's (schemas/emotion-event.v2.schema.json; the EmotionEvent types follow it, tested).
 */
const eventEnvelopeSchema: z.ZodType<EventEnvelope, z.ZodTypeDef, unknown> = z
  .object({ schema: z.enum([FACE_EVENT, TRACK_SUMMARY_EVENT]), streamId: z.string().min(1) })
  .passthrough();

/** What ingest knows of a stream it publishes; keyed by streamId (the value does not repeat it). */
export const streamProgressSchema = z.object({
  /** The stream's spec (URL, sampling, size) the progress belongs to: a changed spec starts over. */
  spec: z.string(),
  /** Files: the original number of the last frame published; live sources: the last seq. */
  lastSeq: z.number().int(),
  /** The end-of-stream marker is out: a finished file is never published again. */
  done: z.boolean(),
});
export type StreamProgress = z.infer<typeof streamProgressSchema>;

/** One face-stage changelog record: the stream's tracker state after the input record at `input`. */
export interface SavedTrackerStateEnvelope {
  v: 1;
  input: { partition: number; offset: string };
  /** The face stage's own snapshot (its StreamSnapshot), kept whole; checked here only for the frame it follows. */
  state: { seq: number };
}

export const savedTrackerStateSchema: z.ZodType<SavedTrackerStateEnvelope, z.ZodTypeDef, unknown> = z.object({
  v: z.literal(1),
  input: z.object({ partition: z.number().int(), offset: z.string() }),
  state: z.object({ seq: z.number() }).passthrough(),
});

/**
 * Every topic of the pipeline, defined once, with its codec (protobuf contracts or JSON with a zod
 * schema), its key rule and what it carries. Readers and writers take names, partitions and configs
 * from here; the DLQ withholds originals of the topics that carry images or face features.
 */
export const topics = {
  frames: defineTopic('frames', 1, FrameSchema, refKey, { carriesImages: true }),
  faces: defineTopic('faces', 1, FaceCropsSchema, refKey, { carriesImages: true }),
  // A face's features identify it as well as its picture does.
  embeddings: defineTopic('embeddings', 1, EmbeddingsSchema, refKey, { carriesFaceFeatures: true }),
  emotions: defineTopic('emotions', 1, EmotionsSchema, refKey),
  // The DLQ is keyed like the message that failed; keyOf is only a fallback.
  dlq: defineTopic('dlq', 1, DeadLetterSchema, (value) => Buffer.from(value.originKey).toString('utf8'), {
    defaultPartitions: 1,
    keyRule: 'originKey',
  }),
  streams: defineTopic('streams', 1, StreamSpecSchema, (value) => value.streamId, { configEntries: { 'cleanup.policy': 'compact' } }),
  /**
   * The public events: JSON (see schemas/emotion-event.v2.schema.json), keyed by streamId. v2: boxes
   * in the source frame's pixels with the frame's size (v1 is no longer written; docs/events-v2.md).
   */
  events: defineJsonTopic('events', 2, eventEnvelopeSchema, { keyOf: (event) => event.streamId }),
  /**
   * What ingest did with each stream spec (contracts/stream-status.ts): compacted, keyed by stream id.
   * Ingest writes it; `emo streams list` shows it; the sink's live view relays a camera only once
   * ingest has admitted that very URL. It never holds a URL.
   */
  streamStatus: defineJsonTopic('stream-status', 1, streamStatusSchema, {
    keyOf: (status) => status.streamId,
    configEntries: { 'cleanup.policy': 'compact' },
  }),
  /**
   * Ingest's progress per stream, compacted, written in the same Kafka transaction as the frames it
   * describes: whatever replica takes a stream over finds exactly the last frame the broker acknowledged.
   */
  ingestProgress: defineJsonTopic('ingest-progress', 1, streamProgressSchema, { configEntries: { 'cleanup.policy': 'compact' } }),
  /**
   * The face stage's changelog: after every frame, the stream's whole tracking state, written in the
   * same batch (under exactly-once the same transaction) as the frame's faces, read back on assignment.
   * Compacted, and deleted after an hour too: the states hold face descriptors (biometric data, kept
   * no longer than the frames). A stream that runs writes a new state with every frame; one idle for
   * an hour has no live track left to continue, and a stream that starts again counts from 1.
   */
  faceTrackerState: defineJsonTopic('face-tracker-state', 1, savedTrackerStateSchema, {
    carriesFaceFeatures: true,
    configEntries: {
      'cleanup.policy': 'compact,delete',
      'retention.ms': '3600000',
      'segment.ms': '600000',
      'max.message.bytes': '1048576',
    },
  }),
} as const;

/** The registry's entries by the names their many readers use. */
export const eventsTopic = topics.events;
export const streamStatusTopic = topics.streamStatus;

/** Every topic of the registry, in one list (ACLs, retention policies and docs are checked against it). */
export const ALL_TOPICS: readonly AnyTopic[] = Object.values(topics);

/** Whether a topic's messages hold biometric data (pictures of faces, or features that identify one). */
export function carriesBiometrics(topic: TopicTraits): boolean {
  return topic.carriesImages || topic.carriesFaceFeatures;
}

export function encodeMessage<Desc extends DescMessage>(topic: Topic<Desc>, value: MessageShape<Desc>): Uint8Array {
  return toBinary(topic.schema, value);
}

export function makeMessage<Desc extends DescMessage>(topic: Topic<Desc>, init: MessageInitShape<Desc>): MessageShape<Desc> {
  return create(topic.schema, init);
}

/**
 * Decodes a record's value and checks the invariants every consumer relies on: a per-frame message
 * has a header whose streamId equals the record key. Throws DecodeError with the reason.
 */
export function decodeMessage<Desc extends DescMessage>(topic: Topic<Desc>, key: string, bytes: Uint8Array): MessageShape<Desc> {
  let value: MessageShape<Desc>;
  try {
    value = fromBinary(topic.schema, bytes);
  } catch (error) {
    throw new DecodeError(`not a valid ${topic.schema.typeName}: ${(error as Error).message}`, { cause: error });
  }
  if (topic.schema.fields.some((field) => field.localName === 'ref')) {
    const ref = (value as { ref?: FrameRef }).ref;
    if (!ref || ref.streamId === '') throw new DecodeError(`${topic.schema.typeName} has no frame header (ref.streamId)`);
    if (ref.streamId !== key) {
      throw new DecodeError(`${topic.schema.typeName} for stream "${ref.streamId}" arrived under key "${key}"`);
    }
  }
  return value;
}

/** A JSON topic's value as bytes (UTF-8 JSON). */
export function encodeJson<T>(_topic: JsonTopic<T>, value: T): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * Parses a JSON topic's value against its schema and, given the record key and a value that names
 * its key, checks that they agree. Throws DecodeError with the reason.
 */
export function decodeJson<T>(topic: JsonTopic<T>, bytes: Uint8Array, key?: string): T {
  const name = `${topic.base}.v${topic.version}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new DecodeError(`not JSON on ${name}: ${(error as Error).message}`, { cause: error });
  }
  const result = topic.schema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new DecodeError(`not a valid ${name} value: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const named = key === undefined ? undefined : topic.keyOf?.(result.data);
  if (named !== undefined && named !== key) throw new DecodeError(`${name} value for "${named}" arrived under key "${key}"`);
  return result.data;
}
