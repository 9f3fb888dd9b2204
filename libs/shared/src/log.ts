import { pino, type Logger } from 'pino';
import { processSettings } from './config/process-config.js';
import { redactLogFields, redactUrlsIn } from './security/redact.js';

export type { Logger };

/**
 * The process-wide structured logger (JSON lines on stdout). Modules take a child with
 * `logger.child({ module: 'kafka-bus' })`. Never log secrets or frame bytes: as a backstop, every
 * URL in a message or field is printed without its userinfo and query values (camera credentials).
 */
export const rootLogger: Logger = pino({
  level: processSettings().logLevel,
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: { paths: ['*.password', '*.sasl', 'password'], censor: '[secret]' },
  formatters: {
    log: (fields) => redactLogFields(fields) as Record<string, unknown>,
    bindings: (bindings) => redactLogFields(bindings) as Record<string, unknown>,
  },
  // Child bindings skip formatters.log; the fields that name a source are serialized redacted there too.
  serializers: Object.fromEntries(['url', 'input', 'file', 'source', 'location'].map((key) => [key, redactLogFields])),
  hooks: {
    logMethod(args, method) {
      // The message strings (a fields object goes through formatters.log); an Error logged alone
      // becomes { err } plus its redacted message, as pino would print it.
      const [first, ...rest] = args as unknown[];
      const redacted = first instanceof Error ? [{ err: first }, ...(rest.length > 0 ? rest : [first.message])] : [first, ...rest];
      method.apply(this, redacted.map((arg) => (typeof arg === 'string' ? redactUrlsIn(arg) : arg)) as Parameters<typeof method>);
    },
  },
});

export function moduleLogger(module: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ module, ...bindings });
}
