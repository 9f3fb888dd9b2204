import { createHash } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import type { ConsumedRecord, Headers, OutgoingRecord } from '../bus/types.js';
import { DeadLetterSchema } from '../contracts/gen/emostream/v1/messages_pb.js';
import type { StageError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactUrlsIn } from '../security/redact.js';
import { deadLetterOrigin } from './dead-letter-privacy.js';

/**
 * A dead letter must fit on the DLQ topic whatever the original's size: it keeps at most this many
 * bytes of the original value (and its size and sha256), and of its headers.
 */
export const DEAD_LETTER_ORIGINAL_BYTES = 64 * 1024;
const DEAD_LETTER_HEADER_BYTES = 16 * 1024;

export interface DeadLetterWriterOptions {
  /** The stage whose input failed. */
  stage: string;
  /** The base of the stage's input topic: whether the original is biometric (withheld by default). */
  inputTopicBase: string;
  /** The DLQ's full topic name. */
  dlqTopic: string;
  /** EMOSTREAM_DLQ_KEEP_IMAGES: keep biometric originals too. */
  keepImages: boolean;
  logger: Logger;
}

/** Turns an input that failed for good into its record on the DLQ, and logs it. */
export class DeadLetterWriter {
  constructor(private readonly options: DeadLetterWriterOptions) {}

  /**
   * The DLQ record of an input: origin, reason, size and SHA-256 of the original, and the original
   * itself — withheld for frames, face crops and face features unless EMOSTREAM_DLQ_KEEP_IMAGES, and
   * capped so that it always fits on the topic. Keyed like the original.
   */
  letter(record: ConsumedRecord, error: StageError): OutgoingRecord {
    const original = record.value ?? new Uint8Array();
    this.options.logger.warn(
      {
        code: error.code,
        reason: error.message,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        bytes: original.byteLength,
      },
      'dead-lettering a message',
    );
    const origin = deadLetterOrigin(this.options.inputTopicBase, original, this.options.keepImages);
    const truncated = origin.originValue.byteLength > DEAD_LETTER_ORIGINAL_BYTES;
    const letter = create(DeadLetterSchema, {
      stage: this.options.stage,
      originTopic: record.topic,
      originPartition: record.partition,
      originOffset: record.offset,
      originKey: Buffer.from(record.key, 'utf8').subarray(0, DEAD_LETTER_HEADER_BYTES),
      originValue: truncated ? origin.originValue.subarray(0, DEAD_LETTER_ORIGINAL_BYTES) : origin.originValue,
      originSizeBytes: original.byteLength,
      originSha256: createHash('sha256').update(original).digest('hex'),
      originTruncated: truncated,
      errorCode: error.code,
      // An error may quote a URL with its credentials (a source, a model store): never into the DLQ.
      reason: redactUrlsIn(error.message).slice(0, 2_000),
      failedAtMs: Date.now(),
    });
    return {
      topic: this.options.dlqTopic,
      key: record.key.slice(0, DEAD_LETTER_HEADER_BYTES),
      value: toBinary(DeadLetterSchema, letter),
      headers: { ...cappedHeaders(record.headers), ...origin.headers },
    };
  }
}

/** The original's headers (trace context) when they are small, as they nearly always are; none otherwise. */
function cappedHeaders(headers: Headers): Headers {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) bytes += name.length + value.length;
  return bytes <= DEAD_LETTER_HEADER_BYTES ? headers : {};
}
