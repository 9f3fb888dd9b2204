import { createHash } from 'node:crypto';
import { z } from 'zod';
import { redactUrl, redactUrlsIn } from '../security/redact.js';

/**
 * What ingest says of a stream, newest last:
 * - starting: admitted by the source policy on `instanceId`; no frame published yet.
 * - running: frames flow; `lastFrameAtMs` is refreshed while they do (every INGEST_STATUS_INTERVAL_MS).
 * - reconnecting: a live source failed or ended; `attempt` counts the tries since its last frame,
 *   `code` and `message` say what went wrong last.
 * - finished: a file played to its end; `frames` were published, the last at `lastFrameAtMs`.
 * - failed: the stream stopped for good; `code` and `message` say why (SOURCE_NOT_FOUND, …).
 * - refused: never fetched; `reason` is the source policy's or the stream cap's (ingest's RefusalReason).
 * A removed or disabled stream has no status (ingest deletes it).
 */
export type StreamState = 'starting' | 'running' | 'reconnecting' | 'finished' | 'failed' | 'refused';

export const STREAM_STATES: readonly StreamState[] = ['starting', 'running', 'reconnecting', 'finished', 'failed', 'refused'];

/** States of a stream that ingest admitted and still works on: what `emostream_ingest_streams_running` counts. */
export const ACTIVE_STREAM_STATES: readonly StreamState[] = ['starting', 'running', 'reconnecting'];

export interface StreamStatus {
  streamId: string;
  state: StreamState;
  /** Refused: why (ingest's RefusalReason). */
  reason?: string;
  /** Failed, or reconnecting after a failure: the error's code (StageError code). */
  code?: string;
  /** The human reason of a refusal, failure or reconnect (URLs redacted). */
  message?: string;
  /** Reconnecting: the attempt since the last frame, from 1. */
  attempt?: number;
  /** Running, finished or failed: frames this replica published for the stream (a file taken over counts from where it resumed). */
  frames?: number;
  /** When the last frame was published (ms since the epoch); absent before the first. */
  lastFrameAtMs?: number;
  /** Of an admitted stream: `specUrlDigest` of the URL admitted, so a reader can tell which spec it is about. */
  urlDigest?: string;
  instanceId: string;
  /** When ingest wrote this status. */
  atMs: number;
}

/**
 * The digest a status carries for a spec's URL: sha256 (hex) of the URL with its user, password and
 * query values redacted. It names where the stream connects (scheme, host, port, path) without
 * holding anything to guess a credential from.
 */
export function specUrlDigest(url: string): string {
  return createHash('sha256').update(redactUrl(url), 'utf8').digest('hex');
}

/** The schema of a value on the stream-status topic (`topics.streamStatus`); unknown fields are dropped. */
export const streamStatusSchema: z.ZodType<StreamStatus, z.ZodTypeDef, unknown> = z.object({
  streamId: z.string().min(1),
  state: z.enum(STREAM_STATES as [StreamState, ...StreamState[]]),
  reason: z.string().optional(),
  code: z.string().optional(),
  message: z.string().optional(),
  attempt: z.number().optional(),
  frames: z.number().optional(),
  lastFrameAtMs: z.number().optional(),
  urlDigest: z.string().optional(),
  instanceId: z.string(),
  atMs: z.number(),
});

export function encodeStreamStatus(status: StreamStatus): Buffer {
  return Buffer.from(JSON.stringify({ ...status, ...(status.message ? { message: redactUrlsIn(status.message).slice(0, 500) } : {}) }));
}

/** A status as written, or undefined for a value that is not one (not ours to fail on: readers show no status for it). */
export function decodeStreamStatus(value: Uint8Array): StreamStatus | undefined {
  try {
    const parsed = streamStatusSchema.safeParse(JSON.parse(Buffer.from(value).toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // not JSON
  }
}
