import { readFileSync } from 'node:fs';
import path from 'node:path';
import { registerSecret } from '@emostream/shared';
import { CREDENTIAL_SCOPE_ENTRY } from './config.js';
import { SourceRefusedError } from './source-policy.js';

/**
 * A network source's URL as ingest hands it to ffmpeg: parsed once (WHATWG), checked, and rebuilt
 * from its parts, never the spec's own string. Two parsers that read one string differently are a
 * way past the policy: `http://allowed:1\@other:2/` is host `allowed` to WHATWG (a backslash is a
 * slash) and host `other` to ffmpeg (its userinfo ends at the last `@`); rebuilt, ffmpeg gets
 * `http://allowed:1/@other:2/`. Characters that parsers treat differently (backslash, whitespace,
 * control and non-ASCII characters) are refused outright.
 *
 * Camera credentials are named by reference (`${env:INGEST_CREDENTIAL_DOOR}`, `${file:yard-token}`)
 * and resolved here: only in the user, password or a query value (never in the host or path, where
 * nothing redacts them), and only for the scheme, host and port the reference is bound to in
 * INGEST_CREDENTIALS_SCOPE. Every resolved value is registered for redaction by value.
 */
export interface SourceUrl {
  /** The rebuilt URL, credentials resolved (what ffmpeg opens, unless connected through the checked address). */
  url: string;
  /** Its parts. */
  parsed: URL;
  /** The resolved credential values (already registered for redaction). */
  secrets: string[];
}

export interface CredentialOptions {
  credentialsDir: string;
  /** INGEST_CREDENTIALS_SCOPE entries: `env:NAME=scheme://host[:port]` or `file:NAME=scheme://host[:port]`. */
  scope: readonly string[];
  env?: NodeJS.ProcessEnv;
  /**
   * Resolve the references (default). Off, only their place and binding are checked and the URL
   * gets a stand-in value: for a check away from ingest's environment (`emo streams add`).
   */
  resolve?: boolean;
}

const REFERENCE = /\$\{(env|file):([^}]*)\}/g;
const CREDENTIAL_ENV = /^INGEST_CREDENTIAL_[A-Z0-9_]{1,64}$/;
const CREDENTIAL_FILE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
/** Characters two URL parsers read differently, or that have no business in a camera URL. */
const AMBIGUOUS = /[\\\s\u0000-\u001f\u007f-\uffff]/;
const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'rtsp:': 554, 'rtsps:': 322 };

export function defaultPort(protocol: string): number {
  return DEFAULT_PORTS[protocol] ?? 0;
}

/**
 * Parses, checks and rebuilds a network source URL (rtsp, rtsps, http, https), resolving its
 * credential references. Throws SourceRefusedError: INVALID_URL, CREDENTIAL_MISPLACED,
 * CREDENTIAL_NOT_BOUND or CREDENTIAL_UNAVAILABLE. Messages never quote a secret or the URL's
 * userinfo and query.
 */
export function buildSourceUrl(raw: string, options: CredentialOptions): SourceUrl {
  if (AMBIGUOUS.test(raw)) {
    throw new SourceRefusedError(
      'INVALID_URL',
      'URL refused: it holds a backslash, whitespace, a control or a non-ASCII character, which URL parsers read differently (not shown: it may hold a credential)',
    );
  }
  // Each reference becomes a token that every parser keeps as it is, so where it lands is known.
  const references: { kind: string; name: string; token: string }[] = [];
  const tokenized = raw.replace(REFERENCE, (_match, kind: string, name: string) => {
    const token = `emostreamref${references.length}x`;
    references.push({ kind, name, token });
    return token;
  });
  if (/\$\{/.test(tokenized)) throw new SourceRefusedError('INVALID_URL', 'URL refused: a malformed credential reference');
  let parsed: URL;
  try {
    parsed = new URL(tokenized);
  } catch {
    throw new SourceRefusedError('INVALID_URL', 'not a valid URL (not shown: it may hold a credential)');
  }
  if (!(parsed.protocol in DEFAULT_PORTS))
    throw new SourceRefusedError('INVALID_URL', `URL refused: scheme ${parsed.protocol} is not a network source`);
  if (parsed.hostname === '') throw new SourceRefusedError('INVALID_URL', 'URL refused: no host');
  const port = Number(parsed.port) || defaultPort(parsed.protocol);
  const origin = `${parsed.protocol}//${parsed.host}`;

  const values = new Map<string, string>();
  for (const reference of references) {
    const where = placeOf(parsed, reference.token);
    const label = `\${${reference.kind}:${reference.name.slice(0, 80)}}`;
    if (where !== 'userinfo' && where !== 'query value') {
      throw new SourceRefusedError(
        'CREDENTIAL_MISPLACED',
        `credential reference ${label} refused in the URL's ${where}: a credential may stand only in the user, the password or a query value (there it is redacted)`,
      );
    }
    const value = options.resolve === false ? 'credential' : resolveReference(reference.kind, reference.name, options);
    if (!boundTo(reference.kind, reference.name, parsed.protocol, parsed.hostname, port, options.scope)) {
      throw new SourceRefusedError(
        'CREDENTIAL_NOT_BOUND',
        `credential reference ${label} refused for ${origin}: INGEST_CREDENTIALS_SCOPE does not bind it to ${parsed.protocol}//${parsed.hostname}:${port}`,
      );
    }
    values.set(reference.token, value);
  }
  const secrets = options.resolve === false ? [] : [...values.values()];
  for (const secret of secrets) registerSecret(secret);
  const fill = (text: string) => {
    let out = text;
    for (const [token, value] of values) out = out.split(token).join(encodeURIComponent(value));
    return out;
  };
  const username = fill(parsed.username);
  const password = fill(parsed.password);
  const userinfo = username || password ? `${username}${password ? `:${password}` : ''}@` : '';
  // The fragment is dropped: nothing is fetched for it.
  const url = `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}${fill(parsed.search)}`;
  const rebuilt = new URL(url);
  return { url, parsed: rebuilt, secrets };
}

/** Where a token stands in the parsed URL. */
function placeOf(url: URL, token: string): string {
  if (url.username.includes(token) || url.password.includes(token)) return 'userinfo';
  if (url.hostname.includes(token) || url.port.includes(token)) return 'host';
  if (url.pathname.includes(token)) return 'path';
  if (url.hash.includes(token)) return 'fragment';
  for (const [name, value] of url.searchParams) {
    if (name.includes(token)) return 'query name';
    if (value.includes(token)) return 'query value';
  }
  return 'query';
}

function resolveReference(kind: string, name: string, options: CredentialOptions): string {
  const env = options.env ?? process.env;
  if (kind === 'env') {
    if (!CREDENTIAL_ENV.test(name)) {
      throw new SourceRefusedError(
        'CREDENTIAL_UNAVAILABLE',
        `credential reference \${env:${name.slice(0, 80)}} refused: only env vars named INGEST_CREDENTIAL_*`,
      );
    }
    const value = env[name];
    if (value === undefined || value === '') {
      throw new SourceRefusedError('CREDENTIAL_UNAVAILABLE', `credential \${env:${name}} is not set in ingest's environment`);
    }
    return value;
  }
  if (!CREDENTIAL_FILE.test(name)) {
    throw new SourceRefusedError(
      'CREDENTIAL_UNAVAILABLE',
      `credential reference \${file:${name.slice(0, 80)}} refused: a plain file name in INGEST_CREDENTIALS_DIR`,
    );
  }
  try {
    return readFileSync(path.join(options.credentialsDir, name), 'utf8').trim();
  } catch {
    throw new SourceRefusedError('CREDENTIAL_UNAVAILABLE', `credential \${file:${name}} is not readable in ${options.credentialsDir}`);
  }
}

/** Whether INGEST_CREDENTIALS_SCOPE binds the reference to this scheme, host and port. */
function boundTo(kind: string, name: string, protocol: string, hostname: string, port: number, scope: readonly string[]): boolean {
  return scope.some((entry) => {
    const match = CREDENTIAL_SCOPE_ENTRY.exec(entry.trim());
    if (!match || match[1] !== `${kind}:${name}`) return false;
    const scheme = `${match[2]!.toLowerCase()}:`;
    const host = match[3]!.toLowerCase();
    const entryPort = match[4] ? Number(match[4].slice(1)) : defaultPort(scheme);
    return scheme === protocol && host === hostname.toLowerCase() && entryPort === port;
  });
}
