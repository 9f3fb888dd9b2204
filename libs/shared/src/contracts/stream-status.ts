import { createHash } from 'node:crypto';
import { redactUrl, redactUrlsIn } from '../security/redact.js';

/**
 * What ingest did with each stream spec: a compacted topic keyed by stream id, JSON values. Ingest
 * writes it; `emo streams list` shows it, and the sink's live view relays a camera only once ingest
 * has admitted that very URL. It never holds a URL.
 */
export const streamStatusTopic = {
  base: 'stream-status',
  version: 1,
  defaultPartitions: 6,
  configEntries: { 'cleanup.policy': 'compact' },
} as const;

export interface StreamStatus {
  streamId: string;
  /** running: admitted and started on `instanceId`; refused: never fetched, `reason` says why. */
  state: 'running' | 'refused';
  /** Why it was refused (ingest's RefusalReason). */
  reason?: string;
  /** The human reason (URLs redacted). */
  message?: string;
  /** Of a running stream: `specUrlDigest` of the URL admitted, so a reader can tell which spec it is about. */
  urlDigest?: string;
  instanceId: string;
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

export function encodeStreamStatus(status: StreamStatus): Buffer {
  return Buffer.from(JSON.stringify({ ...status, ...(status.message ? { message: redactUrlsIn(status.message).slice(0, 500) } : {}) }));
}

export function decodeStreamStatus(value: Uint8Array): StreamStatus | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(value).toString('utf8')) as StreamStatus;
    return typeof parsed.streamId === 'string' && (parsed.state === 'running' || parsed.state === 'refused') ? parsed : undefined;
  } catch {
    return undefined; // not ours to fail on: readers show no status for it
  }
}
