import { createHash } from 'node:crypto';
import type { Headers } from '../bus/types.js';
import { ALL_TOPICS, carriesBiometrics } from '../contracts/topics.js';

/**
 * Topics whose messages carry biometric data, by the registry's `carriesImages` and
 * `carriesFaceFeatures`: camera frames and face crops (pictures), face features (the backbone's
 * embeddings, temporal's input: a face's 512 numbers identify it as well as its picture does) and the
 * tracker changelog's descriptors. Their topics keep them 30 minutes to 2 hours; the DLQ keeps a day.
 */
export const BIOMETRIC_TOPIC_BASES: readonly string[] = ALL_TOPICS.filter(carriesBiometrics).map((topic) => topic.base);

/**
 * What a dead letter keeps of the message that failed. Frames, face crops and face features are
 * withheld unless `keepImages` (EMOSTREAM_DLQ_KEEP_IMAGES): the dead letter then says how big the
 * message was and its SHA-256 (in headers), beside the reason and origin it always has, so a failure
 * can be traced without keeping a face for a day where every dead-letter reader can see it.
 */
export function deadLetterOrigin(
  inputTopicBase: string,
  value: Uint8Array,
  keepImages: boolean,
): { originValue: Uint8Array; headers: Headers } {
  const headers: Headers = {
    'emostream-origin-bytes': String(value.length),
    'emostream-origin-sha256': createHash('sha256').update(value).digest('hex'),
  };
  if (keepImages || !BIOMETRIC_TOPIC_BASES.includes(inputTopicBase)) return { originValue: value, headers };
  return { originValue: new Uint8Array(), headers: { ...headers, 'emostream-origin-withheld': 'biometric' } };
}
