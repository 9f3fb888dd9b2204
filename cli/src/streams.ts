import { fromBinary } from '@bufbuild/protobuf';
import {
  decodeStreamStatus,
  envBindingsOf,
  loadConfig,
  redactUrl,
  specUrlDigest,
  streamStatusTopic,
  StreamSpecSchema,
  topicName,
  topics,
  type Bus,
  type StreamSpec,
  type StreamStatus,
} from '@emostream/shared';
import {
  assertValidStreamId,
  checkStreamSpec,
  ingestSettingsSchema,
  parseSource,
  SourcePolicy,
  type RefusalReason,
} from '@emostream/ingest';

/**
 * The desired set of streams: reads the compacted streams topic from its start up to its current end
 * (a fresh consumer group, so no replica's position moves), latest record per stream wins.
 */
export async function listStreams(bus: Bus, topicPrefix: string): Promise<StreamSpec[]> {
  const latest = await readCompacted(bus, topicName(topics.streams, topicPrefix), topicPrefix, (value) =>
    fromBinary(StreamSpecSchema, value),
  );
  return [...latest.values()].filter((s): s is StreamSpec => s !== undefined).sort((a, b) => a.streamId.localeCompare(b.streamId));
}

/** What ingest last said about each stream (running on a replica, or refused and why), by stream id. */
export async function listStreamStatuses(bus: Bus, topicPrefix: string): Promise<Map<string, StreamStatus>> {
  const latest = await readCompacted(bus, topicName(streamStatusTopic, topicPrefix), topicPrefix, decodeStreamStatus);
  return new Map([...latest].filter((entry): entry is [string, StreamStatus] => entry[1] !== undefined));
}

/**
 * Text from the topics made safe for a terminal: control characters (newline, tab, ESC, DEL, the C1
 * range) and invisible format characters (bidi overrides, zero-width) are written as escapes, and so
 * is the backslash, so every id reads unambiguously on one line. Anyone who can write the streams
 * topic chooses the ids; none of it reaches the terminal raw.
 */
export function printable(text: string): string {
  return text.replace(/[\\\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) => {
    if (c === '\\') return '\\\\';
    const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    if (named[c]) return named[c];
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** JSON whose strings hold no character a terminal acts on: JSON.stringify leaves DEL, C1 and format characters raw. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu,
    // Each UTF-16 unit on its own: a character beyond U+FFFF is a surrogate pair in JSON.
    (c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** A time as ISO 8601 UTC, to the second. */
function at(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * What ingest says of a stream, in words: `running (12 frames, last frame at …)`, `failed (SOURCE_NOT_FOUND: no such file …)`, …
 * A status about another URL than the spec's (the spec changed and ingest has not taken it up yet)
 * and no status at all say so instead of repeating something stale.
 */
export function describeStatus(spec: StreamSpec, status: StreamStatus | undefined): string {
  if (!spec.enabled) return 'disabled';
  if (!status) return 'no status from ingest yet';
  if (status.urlDigest !== undefined && status.urlDigest !== specUrlDigest(spec.url))
    return 'changed; no status from ingest for this URL yet';
  const where = status.instanceId ? ` on ${status.instanceId}` : '';
  const lastFrame = status.lastFrameAtMs !== undefined ? `, last frame at ${at(status.lastFrameAtMs)}` : '';
  const why = (code: string | undefined) => (code ? `${code}: ${status.message ?? ''}` : (status.message ?? ''));
  switch (status.state) {
    case 'starting':
      return `starting${where} (since ${at(status.atMs)})`;
    case 'running':
      return `running${where} (${status.frames ?? 0} frames${lastFrame})`;
    case 'reconnecting':
      return `reconnecting${where} (attempt ${status.attempt ?? 1}, last error ${why(status.code)}${lastFrame})`;
    case 'finished':
      return `finished (${status.frames ?? 0} frames, at ${at(status.atMs)})`;
    case 'failed':
      return `failed (${why(status.code)}, at ${at(status.atMs)})`;
    case 'refused':
      return `refused (${why(status.reason)})`;
  }
}

/** One line of `emo streams list`: id, enabled, the URL without credentials, rate, and what ingest says of it; nothing raw from the topics. */
export function formatStreamLine(spec: StreamSpec, status: StreamStatus | undefined): string {
  const fields = [spec.streamId, spec.enabled ? 'enabled' : 'disabled', redactUrl(spec.url)];
  if (spec.sampleFps) fields.push(`${spec.sampleFps} fps`);
  if (spec.enabled) fields.push(describeStatus(spec, status));
  return fields.map(printable).join('\t');
}

/** One stream of `emo streams list --json`: the spec (URL without credentials) and ingest's status as written, or null. */
export function streamJson(spec: StreamSpec, status: StreamStatus | undefined) {
  const current = status && (status.urlDigest === undefined || status.urlDigest === specUrlDigest(spec.url)) ? status : undefined;
  return {
    streamId: spec.streamId,
    enabled: spec.enabled,
    url: redactUrl(spec.url),
    sampleFps: spec.sampleFps,
    maxWidth: spec.maxWidth,
    summary: describeStatus(spec, status),
    status: spec.enabled && current ? current : null,
  };
}

/**
 * Checks a spec before `emo streams add` writes it: a valid id, and no inline credential (the
 * compacted streams topic keeps every URL forever and every stage could read it): a password or a
 * query value must be a reference, `${env:INGEST_CREDENTIAL_…}` or `${file:NAME}` (docs/operations.md).
 */
export function assertStorableSpec(streamId: string, url: string): void {
  assertValidStreamId(streamId);
  const withoutReferences = url.replace(/\$\{(env|file):[^}]*\}/g, 'REF');
  let parsed: URL | undefined;
  try {
    parsed = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? new URL(withoutReferences) : undefined;
  } catch {
    parsed = undefined;
  }
  const inlinePassword = parsed !== undefined && parsed.password !== '' && parsed.password !== 'REF';
  const inlineQuery = parsed !== undefined && [...parsed.searchParams.values()].some((value) => value !== 'REF' && value !== '');
  // A user name without a password is the whole credential (a token as user name, a camera without a
  // password): as secret as a password. With a password reference beside it, it is just the account.
  const inlineUserOnly = parsed !== undefined && parsed.username !== '' && parsed.username !== 'REF' && parsed.password === '';
  if (inlinePassword || inlineQuery || inlineUserOnly) {
    const what = inlinePassword ? 'a password' : inlineQuery ? 'a query value' : 'a user name without a password';
    throw new Error(
      `${redactUrl(url)} carries a credential inline (${what}); the streams topic keeps it forever: ` +
        'put it in a Kubernetes Secret and name it as ${env:INGEST_CREDENTIAL_NAME} or ${file:NAME} in the URL',
    );
  }
}

/** What `emo streams add` can tell of a spec before it writes it. */
export type SpecCheck =
  | { verdict: 'allowed' }
  | { verdict: 'refused'; reason: RefusalReason; message: string }
  /** Allowed as far as this environment tells; `unchecked` says what only ingest can check. */
  | { verdict: 'unchecked'; unchecked: string[] };

/**
 * Checks a stream URL with ingest's own source policy, configured from the INGEST_* variables of this
 * environment (the operator runs `emo streams add` with those of the ingest deployment): a scheme not
 * allowed, an address outside INGEST_ALLOW_HOSTS or in INGEST_DENY_HOSTS, a file outside
 * INGEST_MEDIA_ROOTS, a device that is not /dev/videoN, a malformed URL are refused here, before the
 * spec is written. What this environment cannot tell is said, not guessed: a file when
 * INGEST_MEDIA_ROOTS is not set here, a private or loopback address when neither INGEST_ALLOW_HOSTS nor
 * INGEST_DENY_HOSTS is, and a host name (ingest resolves it where it runs).
 */
export async function checkSpec(
  spec: { streamId: string; url: string; sampleFps: number; maxWidth: number },
  env: NodeJS.ProcessEnv = process.env,
): Promise<SpecCheck> {
  const isSet = (name: string) => env[name] !== undefined && env[name] !== '';
  // Only the INGEST_* variables: a config file (EMOSTREAM_CONFIG) holds the whole service config, not this part.
  const settings = loadConfig(ingestSettingsSchema, envBindingsOf(ingestSettingsSchema), {
    env: Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('INGEST_'))),
  });
  let source;
  try {
    source = parseSource(spec.url);
  } catch (error) {
    return { verdict: 'refused', reason: 'INVALID_URL', message: redactUrl((error as Error).message) };
  }
  const unchecked: string[] = [];
  const knowsRoots = isSet('INGEST_MEDIA_ROOTS');
  const knowsHosts = isSet('INGEST_ALLOW_HOSTS') || isSet('INGEST_DENY_HOSTS');
  if (source.kind === 'file' && !knowsRoots) unchecked.push('the file against the media roots (INGEST_MEDIA_ROOTS is not set here)');
  let askedToResolve = false;
  const policy = new SourcePolicy(
    {
      schemes: settings.allowedSchemes,
      // Unknown here: every address passes this check and the note says so.
      allowHosts: knowsHosts ? settings.allowHosts : ['0.0.0.0/0', '::/0'],
      denyHosts: settings.denyHosts,
      mediaRoots: knowsRoots ? settings.mediaRoots : ['/'],
    },
    // The CLI does not resolve names: ingest does, where it runs, on every connection.
    () => {
      askedToResolve = true;
      return Promise.reject(new Error('not resolved by emo streams add'));
    },
  );
  // Ingest's whole spec check (one parse and the URL ffmpeg would get, credential places and
  // bindings, value limits, the policy), without resolving credentials: their values are ingest's.
  const refusal = await checkStreamSpec(spec, settings, policy, { resolveCredentials: false });
  if (refusal?.reason === 'CREDENTIAL_NOT_BOUND' && !isSet('INGEST_CREDENTIALS_SCOPE')) {
    // Which camera a credential may go to is ingest's setting: not known here, so not judged here.
    unchecked.push("the credential's host and the rest of ingest's check (INGEST_CREDENTIALS_SCOPE is not set here)");
  } else if (refusal && !(refusal.reason === 'HOST_UNRESOLVABLE' && askedToResolve)) {
    return { verdict: 'refused', reason: refusal.reason, message: refusal.message };
  } else if (refusal) {
    unchecked.push('the host name (ingest resolves it and checks its addresses)');
  }
  if ((source.kind === 'rtsp' || source.kind === 'http') && !knowsHosts && !unchecked.some((u) => u.startsWith('the host name')))
    unchecked.push('the address (neither INGEST_ALLOW_HOSTS nor INGEST_DENY_HOSTS is set here)');
  return unchecked.length === 0 ? { verdict: 'allowed' } : { verdict: 'unchecked', unchecked };
}

async function readCompacted<T>(
  bus: Bus,
  topic: string,
  topicPrefix: string,
  decode: (value: Uint8Array) => T,
): Promise<Map<string, T | undefined>> {
  const latest = new Map<string, T | undefined>();
  if ((await bus.partitionCount(topic)) === undefined) return latest;
  const ends = new Map((await bus.endOffsets(topic)).map((e) => [e.partition, Number(e.offset)]));
  const reached = new Map<number, number>();
  const consumer = await bus.consumer({
    groupId: `${topicPrefix}.cli-list-${process.pid}-${Date.now()}`,
    topics: [topic],
    fromBeginning: true,
  });
  const done = () => [...ends].every(([partition, end]) => end === 0 || (reached.get(partition) ?? 0) >= end);
  await consumer.run({
    eachBatch: (batch) => {
      for (const record of batch.records) latest.set(record.key, record.value ? decode(record.value) : undefined);
      reached.set(batch.partition, Number(batch.records.at(-1)!.offset) + 1);
      return Promise.resolve();
    },
  });
  const deadline = Date.now() + 30_000;
  while (!done()) {
    if (Date.now() > deadline) {
      await consumer.close();
      throw new Error(`could not read ${topic} to its end within 30 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await consumer.close();
  return latest;
}
