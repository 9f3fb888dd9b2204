import { create, fromBinary, toBinary, type DescMessage, type MessageShape, type MessageInitShape } from '@bufbuild/protobuf';
import { DecodeError } from '../errors.js';
import {
  DeadLetterSchema,
  EmbeddingsSchema,
  EmotionsSchema,
  FaceCropsSchema,
  FrameSchema,
  StreamSpecSchema,
  type FrameRef,
} from './gen/emostream/v1/messages_pb.js';

/**
 * One topic of the pipeline: its versioned name and the protobuf message it carries.
 * A breaking change to a message is a new topic version (and a new schema package), never an edit in place.
 */
export interface Topic<Desc extends DescMessage = DescMessage> {
  /** e.g. "frames"; the full name is `${prefix}.frames.v1`. */
  readonly base: string;
  readonly version: number;
  readonly schema: Desc;
  /** The Kafka key of a value: always its streamId, so one stream stays on one partition, in order. */
  keyOf(value: MessageShape<Desc>): string;
  /** Partitions created by default (operators may create more). */
  readonly defaultPartitions: number;
  /** Extra topic configs (compaction for the streams topic). */
  readonly configEntries?: Readonly<Record<string, string>>;
}

export type TopicValue<T extends Topic> = T extends Topic<infer D> ? MessageShape<D> : never;
export type TopicInit<T extends Topic> = T extends Topic<infer D> ? MessageInitShape<D> : never;

export function defineTopic<Desc extends DescMessage>(
  base: string,
  version: number,
  schema: Desc,
  keyOf: (value: MessageShape<Desc>) => string,
  options: { defaultPartitions?: number; configEntries?: Record<string, string> } = {},
): Topic<Desc> {
  const topic: Topic<Desc> = {
    base,
    version,
    schema,
    keyOf,
    defaultPartitions: options.defaultPartitions ?? 6,
  };
  return options.configEntries ? { ...topic, configEntries: options.configEntries } : topic;
}

/** The full topic name under a deployment's prefix: `${prefix}.${base}.v${version}`. */
export function topicName(topic: { base: string; version: number }, prefix: string): string {
  return `${prefix}.${topic.base}.v${topic.version}`;
}

function refKey(value: { ref?: FrameRef | undefined }): string {
  return value.ref?.streamId ?? '';
}

/**
 * The public events topic: JSON (see schemas/emotion-event.v2.schema.json), keyed by streamId. v2: boxes
 * in the source frame's pixels with the frame's size (v1 is no longer written; docs/events-v2.md).
 */
export const eventsTopic = { base: 'events', version: 2, defaultPartitions: 6 } as const;

/** Every internal topic, defined once. */
export const topics = {
  frames: defineTopic('frames', 1, FrameSchema, refKey),
  faces: defineTopic('faces', 1, FaceCropsSchema, refKey),
  embeddings: defineTopic('embeddings', 1, EmbeddingsSchema, refKey),
  emotions: defineTopic('emotions', 1, EmotionsSchema, refKey),
  // The DLQ is keyed like the message that failed; keyOf is only a fallback.
  dlq: defineTopic('dlq', 1, DeadLetterSchema, (value) => Buffer.from(value.originKey).toString('utf8'), {
    defaultPartitions: 1,
  }),
  streams: defineTopic('streams', 1, StreamSpecSchema, (value) => value.streamId, {
    defaultPartitions: 6,
    configEntries: { 'cleanup.policy': 'compact' },
  }),
} as const;

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
