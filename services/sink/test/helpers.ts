import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { decodeMessage, encodeMessage, makeMessage, topics, type EmotionEvent, type TopicInit } from '@emostream/shared';

// The published contract lives beside @emostream/shared's entry point.
const schemaUrl = new URL('../schemas/emotion-event.v2.schema.json', import.meta.resolve('@emostream/shared'));
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(schemaUrl, 'utf8')));

/** Fails with Ajv's errors unless `event`, as JSON, is valid under the public event schema. */
export function assertValidEvent(event: EmotionEvent): void {
  const json: unknown = JSON.parse(JSON.stringify(event));
  if (!validate(json)) throw new Error(`invalid event: ${JSON.stringify(validate.errors)}`);
}

/** An Emotions message as the sink receives it: through protobuf, so floats are float32. */
export function emotionsMessage(init: TopicInit<typeof topics.emotions>) {
  const message = makeMessage(topics.emotions, init);
  return decodeMessage(topics.emotions, message.ref?.streamId ?? '', encodeMessage(topics.emotions, message));
}
