import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The process-wide structured logger (JSON lines on stdout). Modules take a child with
 * `logger.child({ module: 'kafka-bus' })`. Never log secrets or frame bytes.
 */
export const rootLogger: Logger = pino({
  level: process.env.EMOSTREAM_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
  timestamp: pino.stdTimeFunctions.isoTime,
  redact: { paths: ['*.password', '*.sasl', 'password'], censor: '[secret]' },
});

export function moduleLogger(module: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ module, ...bindings });
}
