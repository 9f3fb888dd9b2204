import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * Who may open the live view's sockets (the pictures and emotions of every stream):
 * - a browser only from the live view's own page: the Origin must be the Host the request was sent
 *   to (a page on another site cannot connect, not even with the user's browser on the same machine);
 * - on loopback, only under a loopback Host name (a DNS-rebinding page, whose Host is its own name,
 *   is refused);
 * - beyond loopback, only with the token (`?token=` on the socket URL, which the page passes on).
 */
export interface LiveViewAccessOptions {
  /** Address the server is bound to. */
  host: string;
  /** Required (when set) on every socket; must be set when `host` is not loopback. */
  token?: string;
}

export type AccessDecision = { allowed: true } | { allowed: false; status: 401 | 403; reason: string };

export function isLoopbackHost(host: string): boolean {
  const plain = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (plain === 'localhost' || plain.endsWith('.localhost')) return true;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1' || /^::ffff:127\./.test(plain);
}

export function checkSocketAccess(req: IncomingMessage, options: LiveViewAccessOptions): AccessDecision {
  const hostHeader = req.headers.host ?? '';
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return { allowed: false, status: 403, reason: `unreadable Origin ${JSON.stringify(origin.slice(0, 100))}` };
    }
    if (originHost.toLowerCase() !== hostHeader.toLowerCase())
      return { allowed: false, status: 403, reason: `foreign Origin ${origin.slice(0, 100)} (the page is ${hostHeader})` };
  }
  if (isLoopbackHost(options.host)) {
    const name = hostHeader.replace(/:\d+$/, '');
    if (!isLoopbackHost(name))
      return { allowed: false, status: 403, reason: `Host ${hostHeader.slice(0, 100)} is not a loopback name (DNS rebinding?)` };
  }
  if (options.token !== undefined) {
    const given = new URL(req.url ?? '/', 'http://live-view').searchParams.get('token') ?? '';
    if (!sameSecret(given, options.token)) return { allowed: false, status: 401, reason: given ? 'wrong token' : 'no token' };
  }
  return { allowed: true };
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
