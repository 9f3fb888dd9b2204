import { createHash } from 'node:crypto';
import type { Headers } from '../bus/types.js';

/** Input topics whose messages carry pictures: camera frames and face crops (biometric data). */
export const IMAGE_TOPIC_BASES: readonly string[] = ['frames', 'faces'];

/**
 * What a dead letter keeps of the message that failed. Frames and face crops are withheld unless
 * `keepImages` (EMOSTREAM_DLQ_KEEP_IMAGES): the dead letter then says how big the message was and its
 * SHA-256 (in headers), beside the reason and origin it always has, so a failure can be traced
 * without keeping a face for a day where every dead-letter reader can see it.
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
  if (keepImages || !IMAGE_TOPIC_BASES.includes(inputTopicBase)) return { originValue: value, headers };
  return { originValue: new Uint8Array(), headers: { ...headers, 'emostream-origin-withheld': 'image' } };
}
