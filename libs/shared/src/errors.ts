/**
 * Errors that cross module boundaries carry a constant `code` and say whether a retry can help.
 * The stage runtime acts on `retriable`: a retriable error leaves the input unacknowledged so it is
 * redelivered; any other error dead-letters the input with its code and reason, and the stage goes on.
 */
/**
 * Every code a StageError may carry, in one closed list: dead letters' `errorCode`, the `code` label
 * of the error and retry metrics, and the tests all name codes from here (a typo does not compile).
 */
export const ERROR_CODES = [
  // runtime and bus
  'HANDLER_FAILED',
  'HANDLER_CONTRACT',
  'DECODE_FAILED',
  'BUS_FAILED',
  'RECORD_TOO_LARGE',
  'PRODUCER_FENCED',
  'OUTPUT_TOO_LARGE',
  'STOPPED',
  'CONFIG_INVALID',
  // ingest: sources
  'SOURCE_UNSUPPORTED',
  'SOURCE_NOT_FOUND',
  'SOURCE_UNREADABLE',
  'SOURCE_NO_VIDEO',
  'SOURCE_NO_FRAME_RATE',
  'SOURCE_BROKEN',
  'SOURCE_TRUNCATED',
  'SOURCE_FAILED',
  'SOURCE_ENDED',
  'SOURCE_REFUSED',
  'PROGRESS_UNKNOWN',
  // face: frames and tracking
  'JPEG_NO_SIZE',
  'EMPTY_FRAME',
  'FRAME_UNDECODABLE',
  'FRAME_TOO_LARGE',
  'TRACKER_REWIND_TOO_FAR',
  // backbone and temporal: crops and models
  'CROP_UNDECODABLE',
  'CROP_SIZE',
  'CROP_INVALID',
  'EMPTY_CROP',
  'MODEL_BUSY',
  'MODEL_FAILED',
  'MODEL_SESSION_FAILED',
  'MODEL_PACK_INVALID',
  // sink
  'INVALID_EMOTIONS',
  'LIVE_VIEW_TOKEN_REQUIRED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class StageError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StageError';
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Thrown when a message's bytes cannot be decoded as the topic's type, or break its invariants (e.g. key ≠ streamId). */
export class DecodeError extends StageError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('DECODE_FAILED', message, options);
    this.name = 'DecodeError';
  }
}

/** One problem of a configuration: where, what is wrong, and how to fix it. */
export interface ConfigProblem {
  /** Dotted path in the config object, e.g. runtime.kafka.brokers. */
  path: string;
  /** The environment variable that sets it, when there is one. */
  env?: string;
  /** What is wrong, naming the variable (never a secret's value), e.g. "KAFKA_BROKERS is not set". */
  problem: string;
  /** What to set it to: the setting's documented meaning. */
  fix?: string;
}

/**
 * Thrown at start-up when configuration is missing or invalid. The message names each bad
 * variable (or path), what is wrong with its value and what to set, never a secret's value.
 */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(
    message: string,
    /** Each problem, for a structured log line; empty when the error is not about fields (an unreadable file). */
    readonly problems: readonly ConfigProblem[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }

  /** The whole error on one line, for a terminal. */
  oneLine(): string {
    if (this.problems.length === 0) return this.message.replace(/\s*\n\s*/g, ' ');
    return `invalid configuration: ${this.problems.map(describeConfigProblem).join('; ')}`;
  }
}

/** "KAFKA_BROKERS is not set (Required when bus is kafka); set it: bootstrap servers, comma-separated host:port". */
export function describeConfigProblem(problem: ConfigProblem): string {
  return problem.fix ? `${problem.problem}; set it: ${problem.fix}` : problem.problem;
}

/**
 * Thrown by a bus when the broker cannot be reached or refuses an operation. Retriable unless the
 * broker said a retry cannot help: code RECORD_TOO_LARGE (a record over the size limit), or a
 * non-retriable answer such as a fenced transactional producer (code BUS_FAILED, retriable false).
 */
export class BusError extends StageError {
  constructor(
    message: string,
    options: { cause?: unknown; retriable?: boolean; code?: 'BUS_FAILED' | 'RECORD_TOO_LARGE' | 'PRODUCER_FENCED' } = {},
  ) {
    super(options.code ?? 'BUS_FAILED', message, { retriable: options.retriable ?? true, cause: options.cause });
    this.name = 'BusError';
  }
}

/** Reduces any thrown value to a StageError, so the runtime has one shape to act on. Unknown errors are not retriable. */
export function toStageError(error: unknown): StageError {
  if (error instanceof StageError) return error;
  if (error instanceof Error) return new StageError('HANDLER_FAILED', error.message, { cause: error });
  return new StageError('HANDLER_FAILED', String(error));
}
