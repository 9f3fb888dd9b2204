/**
 * Redaction of credentials in URLs, for everything that prints one (logs, errors, the CLI, the
 * live view). Camera URLs often carry a user and password (`rtsp://user:pass@cam/`) or a token in
 * the query (`http://cam/mjpeg?token=…`); neither may leave the process that uses them.
 */

/** scheme://[userinfo@]authority-and-path[?query][#fragment], as found in free text (ffmpeg's messages, log lines). */
const URL_IN_TEXT = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*@)?([^\s?#"'<>]*)(\?[^\s#"'<>]*)?/gi;

/** The userinfo is dropped for `***`, and every query value for `***` (names stay: they say what was there). */
export function redactUrl(url: string): string {
  return redactUrlsIn(url);
}

/**
 * Secret values this process resolved (camera credentials), in every form they may be printed in:
 * as they are and URL-encoded. Redaction replaces them wherever they appear in a string, whatever
 * the position (a path, a header, ffmpeg's message), not only where a URL keeps its credentials.
 * Bounded: a process holds a few camera credentials, not thousands.
 */
const secrets = new Set<string>();
const MAX_SECRETS = 1_000;
/** Shorter values are not redacted by value: a one- or two-character secret would blank out text everywhere. */
const MIN_SECRET_LENGTH = 3;

/** Registers a secret value: from now on every redaction replaces it (and its URL-encoded form) with `***`. */
export function registerSecret(value: string): void {
  if (value.length < MIN_SECRET_LENGTH || secrets.size >= MAX_SECRETS) return;
  for (const form of [value, encodeURIComponent(value), encodeURI(value)]) secrets.add(form);
}

/** Every registered secret value in `text` replaced with `***`. */
export function redactSecretsIn(text: string): string {
  if (secrets.size === 0) return text;
  let out = text;
  // Longest first: a secret that contains another is replaced whole.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) if (out.includes(secret)) out = out.split(secret).join('***');
  return out;
}

/** Redacts every URL inside `text` (an error message, a log line) the way redactUrl does, and every registered secret value. */
export function redactUrlsIn(text: string): string {
  const plain = redactSecretsIn(text);
  if (!plain.includes('://')) return plain;
  return plain.replace(URL_IN_TEXT, (_match, scheme: string, userinfo: string | undefined, rest: string, query: string | undefined) => {
    const auth = userinfo ? '***@' : '';
    const params = query ? query.replace(/=[^&;]*/g, '=***') : '';
    return `${scheme}${auth}${rest}${params}`;
  });
}

/** True when a URL carries a user, a password or a query: things that may be credentials. */
export function urlHasCredentials(url: string): boolean {
  return redactUrl(url) !== url;
}

/**
 * A deep copy of a log record's fields with every string's URLs redacted (Errors become plain
 * objects with a redacted message and stack). Depth-limited: log fields are small.
 */
export function redactLogFields(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactUrlsIn(value);
  if (depth > 5 || value === null || typeof value !== 'object') return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (value instanceof Error) {
    const plain: Record<string, unknown> = { type: value.constructor.name, message: redactUrlsIn(value.message) };
    if (value.stack) plain.stack = redactUrlsIn(value.stack);
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) plain.code = code;
    if (value.cause !== undefined) plain.cause = redactLogFields(value.cause, depth + 1);
    return plain;
  }
  if (Array.isArray(value)) return value.map((item) => redactLogFields(item, depth + 1));
  // Only plain objects are copied: a Date, Map or class instance keeps its own serialisation.
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) copy[key] = redactLogFields(field, depth + 1);
  return copy;
}
