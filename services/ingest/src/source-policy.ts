import { lookup as dnsLookup } from 'node:dns/promises';
import { realpathSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { redactUrl, StageError } from '@emostream/shared';
import type { Source } from './sources.js';

/**
 * What a stream spec may make ingest open. Specs come from a Kafka topic, so whoever can write that
 * topic could otherwise point ffmpeg at cloud metadata (169.254.169.254), a service on loopback or
 * in the cluster, any local file, or any device. The policy is checked before a stream starts and
 * again before every (re)connection; a refused source is never fetched.
 */
export interface SourcePolicyOptions {
  /** URL schemes allowed: rtsp, rtsps, http, https, file, webcam. */
  schemes: readonly string[];
  /**
   * Hosts allowed even inside the refused ranges: `host`, `host:port`, `*.domain`, an IP, `ip:port`
   * or a CIDR. A listed name is trusted whatever it resolves to; a listed IP or CIDR admits exactly
   * those addresses.
   */
  allowHosts: readonly string[];
  /** Hosts and CIDRs refused always, even when listed in allowHosts. */
  denyHosts: readonly string[];
  /** Files only under these folders (after resolving symbolic links). Empty: no files. */
  mediaRoots: readonly string[];
  /** Permissive: everything the user named on the command line (emo run). Never for specs from the topic. */
  permissive?: boolean;
}

/** Why a spec was refused: a constant per kind (the metric's label), and the human reason. */
export class SourceRefusedError extends StageError {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super('SOURCE_REFUSED', message);
    this.name = 'SourceRefusedError';
  }
}

export type RefusalReason =
  | 'INVALID_STREAM_ID'
  | 'INVALID_URL'
  | 'SCHEME_NOT_ALLOWED'
  | 'ADDRESS_NOT_ALLOWED'
  | 'HOST_UNRESOLVABLE'
  | 'FILE_OUTSIDE_MEDIA_ROOTS'
  | 'DEVICE_NOT_ALLOWED'
  | 'REDIRECT_NOT_ALLOWED'
  | 'CREDENTIAL_UNAVAILABLE'
  | 'CREDENTIAL_MISPLACED'
  | 'CREDENTIAL_NOT_BOUND'
  | 'FORMAT_NOT_ALLOWED'
  | 'TLS_NOT_VERIFIED'
  | 'SPEC_OUT_OF_RANGE'
  | 'CAPACITY';

/** Every reason, so the refusal metric's series are known up front (and bounded). */
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'INVALID_STREAM_ID',
  'INVALID_URL',
  'SCHEME_NOT_ALLOWED',
  'ADDRESS_NOT_ALLOWED',
  'HOST_UNRESOLVABLE',
  'FILE_OUTSIDE_MEDIA_ROOTS',
  'DEVICE_NOT_ALLOWED',
  'REDIRECT_NOT_ALLOWED',
  'CREDENTIAL_UNAVAILABLE',
  'CREDENTIAL_MISPLACED',
  'CREDENTIAL_NOT_BOUND',
  'FORMAT_NOT_ALLOWED',
  'TLS_NOT_VERIFIED',
  'SPEC_OUT_OF_RANGE',
  'CAPACITY',
];

/**
 * Addresses refused unless allowed: this host, link-local (cloud metadata lives there), private,
 * carrier-grade NAT (often the cluster's pod and service ranges), benchmarking, multicast and reserved.
 */
const REFUSED_RANGES: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
];

/** Stream ids: letters, digits, `.`, `_`, `-`; 1–64 characters, starting with a letter or digit. */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function assertValidStreamId(streamId: string): void {
  if (!STREAM_ID_PATTERN.test(streamId)) {
    throw new SourceRefusedError(
      'INVALID_STREAM_ID',
      `invalid stream id ${JSON.stringify(streamId.slice(0, 80))}: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}

/** Webcams: V4L2 capture devices only. */
const WEBCAM_DEVICE = /^\/dev\/video\d{1,3}$/;

interface HostRule {
  host?: string;
  suffix?: string;
  block?: BlockList;
  port?: number;
}

export class SourcePolicy {
  private readonly refused = new BlockList();
  private readonly allow: HostRule[];
  private readonly deny: HostRule[];
  private readonly schemes: Set<string>;
  private readonly roots: string[];

  constructor(
    private readonly options: SourcePolicyOptions,
    /** Name resolution; injectable so a test can make a name resolve to whatever it needs. */
    private readonly resolve: (host: string) => Promise<string[]> = resolveAll,
  ) {
    for (const [network, prefix, type] of REFUSED_RANGES) this.refused.addSubnet(network, prefix, type);
    this.allow = options.allowHosts.map(parseHostRule);
    this.deny = options.denyHosts.map(parseHostRule);
    this.schemes = new Set(options.schemes.map((s) => s.toLowerCase()));
    // Roots compared after resolving links, so a link inside a root cannot lead out of it.
    this.roots = options.mediaRoots.map((root) => realpathOrSelf(path.resolve(root)));
  }

  /** Everything the user named on the command line: `emo run` reads local files and any camera. */
  static permissive(): SourcePolicy {
    return new SourcePolicy({ schemes: [], allowHosts: [], denyHosts: [], mediaRoots: [], permissive: true });
  }

  /**
   * Checks a parsed source and resolves it for ffmpeg: files and devices must lie where allowed, a
   * network source's host must resolve only to allowed addresses. Throws SourceRefusedError.
   * Returns the addresses checked (network sources), for connecting to exactly those.
   */
  async check(source: Source): Promise<string[]> {
    if (this.options.permissive) return [];
    switch (source.kind) {
      case 'file':
        this.checkScheme('file', source);
        this.checkFile(source.input);
        return [];
      case 'webcam':
        this.checkScheme('webcam', source);
        this.checkDevice(source.input);
        return [];
      case 'rtsp':
      case 'http': {
        const url = parseUrl(source.input);
        this.checkScheme(url.protocol.replace(/:$/, ''), source);
        return await this.checkHost(url);
      }
    }
  }

  /**
   * HTTP sources: follows the redirects itself (ffmpeg is told to follow none), checking every hop
   * with the policy before it is requested, and returns the final URL. Requests go to the address
   * that was checked (no second lookup a DNS answer could change in between).
   */
  async resolveRedirects(
    url: string,
    options: {
      timeoutMs: number;
      maxRedirects?: number;
      signal?: AbortSignal;
      /** HTTPS hops: the CAs to trust (besides the system's) and whether to verify the host's certificate. */
      tls?: (host: string, port: number) => { ca: readonly string[]; verify: boolean };
    },
  ): Promise<string> {
    let current = url;
    for (let hop = 0; hop <= (options.maxRedirects ?? 5); hop++) {
      const target = parseUrl(current);
      const addresses = this.options.permissive ? [] : await this.checkHost(target);
      const location = await this.peekRedirect(target, addresses, options);
      if (location === undefined) return current;
      const next = new URL(location, target);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new SourceRefusedError('REDIRECT_NOT_ALLOWED', `${redactUrl(current)} redirects to a ${next.protocol} URL`);
      }
      try {
        if (!this.options.permissive) await this.checkHost(next);
      } catch (error) {
        if (error instanceof SourceRefusedError) {
          throw new SourceRefusedError(
            'REDIRECT_NOT_ALLOWED',
            `${redactUrl(current)} redirects to ${redactUrl(next.href)}, which is refused: ${error.message}`,
          );
        }
        throw error;
      }
      current = next.href;
    }
    throw new SourceRefusedError('REDIRECT_NOT_ALLOWED', `${redactUrl(url)}: more than ${options.maxRedirects ?? 5} redirects`);
  }

  private checkScheme(scheme: string, source: Source): void {
    if (!this.schemes.has(scheme)) {
      throw new SourceRefusedError(
        'SCHEME_NOT_ALLOWED',
        `${source.kind} source refused: scheme "${scheme}" is not in INGEST_ALLOWED_SCHEMES (${[...this.schemes].join(',') || 'none'})`,
      );
    }
  }

  private checkFile(file: string): void {
    // A file that does not exist yet is judged by its folder; a link by where it leads.
    const real = realpathOrSelf(path.resolve(file));
    if (!this.roots.some((root) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep))) {
      throw new SourceRefusedError(
        'FILE_OUTSIDE_MEDIA_ROOTS',
        `file ${printable(file)} refused: it is not under a media root (INGEST_MEDIA_ROOTS: ${this.roots.join(',') || 'none, so no files'})`,
      );
    }
  }

  private checkDevice(device: string): void {
    if (!WEBCAM_DEVICE.test(device) || !WEBCAM_DEVICE.test(realpathOrSelf(device))) {
      throw new SourceRefusedError('DEVICE_NOT_ALLOWED', `webcam ${printable(device)} refused: only /dev/videoN devices`);
    }
  }

  /** The host must be allowed by name, or every address it resolves to must be allowed. */
  private async checkHost(url: URL): Promise<string[]> {
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = Number(url.port) || defaultPort(url.protocol);
    if (host === '') throw new SourceRefusedError('INVALID_URL', `${redactUrl(url.href)} has no host`);
    const addresses = isIP(host)
      ? [host]
      : await this.resolve(host).catch((error: unknown) => {
          throw new SourceRefusedError('HOST_UNRESOLVABLE', `host ${host} does not resolve: ${(error as Error).message}`);
        });
    if (addresses.length === 0) throw new SourceRefusedError('HOST_UNRESOLVABLE', `host ${host} does not resolve`);
    const denied = addresses.find((address) => this.deny.some((rule) => matches(rule, host, address, port)));
    if (denied !== undefined || this.deny.some((rule) => matches(rule, host, undefined, port))) {
      throw new SourceRefusedError(
        'ADDRESS_NOT_ALLOWED',
        `host ${host}${denied && denied !== host ? ` (${denied})` : ''} is in INGEST_DENY_HOSTS`,
      );
    }
    if (this.allow.some((rule) => (rule.host !== undefined || rule.suffix !== undefined) && matches(rule, host, undefined, port)))
      return addresses;
    for (const address of addresses) {
      if (this.allow.some((rule) => rule.block !== undefined && matches(rule, host, address, port))) continue;
      const plain = unmapIpv4(address);
      if (this.refused.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4')) {
        throw new SourceRefusedError(
          'ADDRESS_NOT_ALLOWED',
          `host ${host}${address !== host ? ` resolves to ${address}, which` : ''} is a loopback, link-local, private or cluster address; add it to INGEST_ALLOW_HOSTS to allow it (port ${port})`,
        );
      }
    }
    return addresses;
  }

  /** One request, headers only: the Location of a redirect, or undefined. Connects only to an address already checked. */
  private peekRedirect(
    url: URL,
    addresses: string[],
    options: {
      timeoutMs: number;
      signal?: AbortSignal;
      tls?: (host: string, port: number) => { ca: readonly string[]; verify: boolean };
    },
  ): Promise<string | undefined> {
    const client = url.protocol === 'https:' ? https : http;
    const tlsSettings = url.protocol === 'https:' ? options.tls?.(url.hostname, Number(url.port) || 443) : undefined;
    const address = addresses[0];
    // No second name lookup: a DNS answer that changed since the check must not pick the address.
    const lookup: LookupFunction | undefined =
      address === undefined
        ? undefined
        : (_hostname, lookupOptions, callback) => {
            if (lookupOptions.all) callback(null, [{ address, family: isIP(address) }]);
            else callback(null, address, isIP(address));
          };
    return new Promise((resolve, reject) => {
      const request = client.get(
        url,
        {
          ...(lookup ? { lookup } : {}),
          ...(tlsSettings ? { ca: [...rootCertificates, ...tlsSettings.ca], rejectUnauthorized: tlsSettings.verify } : {}),
          timeout: options.timeoutMs,
          ...(options.signal ? { signal: options.signal } : {}),
          headers: { 'user-agent': 'emostream-ingest' },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          const location = response.headers.location;
          response.destroy();
          request.destroy();
          resolve(status >= 300 && status < 400 && location ? location : undefined);
        },
      );
      request.on('timeout', () =>
        request.destroy(new StageError('SOURCE_FAILED', `no answer from ${redactUrl(url.href)} within ${options.timeoutMs} ms`)),
      );
      request.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          error instanceof StageError
            ? error
            : url.protocol === 'https:' && (/CERT|SELF_SIGNED|VERIFY|ALTNAME/i.test(error.code ?? '') || /certificate/i.test(error.message))
              ? new SourceRefusedError('TLS_NOT_VERIFIED', `${redactUrl(url.href)}: the certificate does not verify (${error.message})`)
              : new StageError('SOURCE_FAILED', `cannot reach ${redactUrl(url.href)}: ${error.message}`, { cause: error }),
        ),
      );
    });
  }
}

function matches(rule: HostRule, host: string, address: string | undefined, port: number): boolean {
  if (rule.port !== undefined && rule.port !== port) return false;
  if (rule.host !== undefined) return rule.host === host;
  if (rule.suffix !== undefined) return host.endsWith(rule.suffix);
  if (rule.block && address !== undefined) {
    const plain = unmapIpv4(address);
    return rule.block.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  }
  return false;
}

/** `name`, `name:port`, `*.domain`, `ip`, `ip:port`, `[v6]:port`, `cidr`. */
function parseHostRule(entry: string): HostRule {
  const text = entry.trim().toLowerCase();
  const cidr = /^(.+)\/(\d{1,3})$/.exec(text);
  if (cidr) {
    const block = new BlockList();
    const type = isIP(cidr[1]!) === 6 ? 'ipv6' : 'ipv4';
    if (!isIP(cidr[1]!)) throw new StageError('CONFIG_INVALID', `not a CIDR: ${entry}`);
    block.addSubnet(cidr[1]!, Number(cidr[2]), type);
    return { block };
  }
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const [host, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : isIP(text) === 6
      ? [text, undefined]
      : (text.split(':') as [string, string | undefined]);
  const rule: HostRule = port ? { port: Number(port) } : {};
  if (isIP(host)) {
    const block = new BlockList();
    block.addAddress(host, isIP(host) === 6 ? 'ipv6' : 'ipv4');
    return { ...rule, block };
  }
  if (host.startsWith('*.')) return { ...rule, suffix: host.slice(1) };
  return { ...rule, host };
}

/** `::ffff:127.0.0.1` is 127.0.0.1: checked as IPv4, so the mapped form cannot slip past the IPv4 ranges. */
function unmapIpv4(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

function defaultPort(protocol: string): number {
  return ({ 'http:': 80, 'https:': 443, 'rtsp:': 554, 'rtsps:': 322 } as Record<string, number>)[protocol] ?? 0;
}

function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    // Not echoed: a malformed URL may hide a credential where redaction cannot find it.
    throw new SourceRefusedError('INVALID_URL', 'not a valid URL (not shown: it may hold a credential)');
  }
}

async function resolveAll(host: string): Promise<string[]> {
  return (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

/**
 * A path or device name for a message, unless it looks like it holds a credential (a mistyped URL
 * such as "rtsp:/user:pass@cam" reads as a file path): then it is not shown.
 */
function printable(text: string): string {
  return /[@?]|:\/|%40/i.test(text) ? '(not shown: it may hold a credential)' : JSON.stringify(text.slice(0, 200));
}

function realpathOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    // Not there (yet): judge by the nearest folder that is, so "root/../etc/x" still resolves out.
    const parent = path.dirname(file);
    return parent === file ? file : path.join(realpathOrSelf(parent), path.basename(file));
  }
}
