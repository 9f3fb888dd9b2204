/**
 * Errors that cross module boundaries carry a constant `code`, and the code alone says whether a
 * retry can help. The stage runtime acts on `retriable`: a retriable error leaves the input
 * unacknowledged so it is redelivered; any other error dead-letters the input with its code and
 * reason, and the stage goes on.
 */

/** What a code means: whether a retry of the same work can succeed, and when it is raised. */
export interface ErrorCodeInfo {
  readonly retriable: boolean;
  readonly when: string;
}

/**
 * Every code a StageError may carry, in one closed table: dead letters' `errorCode`, the `code` label
 * of the error and retry metrics, and the tests all name codes from here (a typo does not compile).
 * Retriability is decided here, per code, never at a throw site: a condition that may pass and one
 * that cannot are two codes.
 */
export const ERROR_CODES = {
  // runtime and bus
  HANDLER_FAILED: { retriable: false, when: 'a handler threw something other than a StageError (a bug, or a library error)' },
  HANDLER_CONTRACT: { retriable: false, when: 'handleBatch returned a different number of results than it was given inputs' },
  DECODE_FAILED: { retriable: false, when: "a record's bytes are not its topic's type, or break its invariants (key ≠ streamId)" },
  BUS_FAILED: { retriable: true, when: 'the broker cannot be reached or is busy (down, coordinator loading, leader moving)' },
  BUS_REFUSED: { retriable: false, when: 'the bus refused an operation no retry can cure (no authorisation, no such topic, closed)' },
  RECORD_TOO_LARGE: { retriable: false, when: 'the broker refused a record over its size limit' },
  PRODUCER_FENCED: { retriable: false, when: "a newer producer took this producer's transactional id (a partition's new owner)" },
  OUTPUT_TOO_LARGE: { retriable: false, when: "a stage's output was refused as too large: the batch's inputs are dead-lettered" },
  STOPPED: { retriable: false, when: 'the stage or worker began to stop: the work was abandoned, left to whoever runs next' },
  CONFIG_INVALID: { retriable: false, when: 'configuration is missing or invalid (see ConfigError)' },
  // ingest: sources
  SOURCE_UNSUPPORTED: { retriable: false, when: 'a stream URL of a kind ingest does not read' },
  SOURCE_NOT_FOUND: { retriable: false, when: 'a file source that does not exist' },
  SOURCE_UNREADABLE: { retriable: false, when: 'a file source ffprobe cannot open' },
  SOURCE_NO_VIDEO: { retriable: false, when: 'a source without a video stream' },
  SOURCE_NO_FRAME_RATE: { retriable: false, when: 'a file source whose frame rate is unknown (its sampling needs it)' },
  SOURCE_BROKEN: { retriable: false, when: 'ffmpeg failed part-way through a file: its data is broken' },
  SOURCE_TRUNCATED: { retriable: false, when: 'a file ended before the frames its header declares' },
  SOURCE_FAILED: { retriable: true, when: 'a live source cannot be reached or opened now, or failed mid-stream: it reconnects' },
  SOURCE_ENDED: { retriable: true, when: 'a live source ended: it reconnects' },
  SOURCE_REFUSED: { retriable: false, when: 'the source policy refused a URL (see SourceRefusedError)' },
  JPEG_NO_SIZE: { retriable: false, when: 'a JPEG ffmpeg wrote has no frame header (SOF) to read its size from' },
  PROGRESS_UNKNOWN: { retriable: true, when: "a stream's progress could not be read in time (a dead replica's transaction holds it back)" },
  // face: frames and tracking
  FRAME_UNDECODABLE: { retriable: false, when: "a frame's JPEG cannot be decoded (empty, or not a JPEG)" },
  FRAME_TOO_LARGE: { retriable: false, when: 'a frame over FACE_MAX_FRAME_PIXELS (refused from its header)' },
  TRACKER_REWIND_TOO_FAR: { retriable: false, when: 'a redelivered batch starts before the tracker states the face stage keeps' },
  // backbone and temporal: crops and models
  CROP_UNDECODABLE: { retriable: false, when: 'a face crop that cannot be decoded' },
  CROP_SIZE: { retriable: false, when: "a face crop not of the backbone's input size" },
  CROP_INVALID: { retriable: false, when: 'a face crop whose encoding or byte length is wrong' },
  EMPTY_CROP: { retriable: false, when: 'a box that, clamped to its frame, leaves no pixels' },
  MODEL_FAILED: { retriable: true, when: 'a model call failed for reasons not of its input (the inference thread)' },
  MODEL_SESSION_FAILED: { retriable: false, when: 'onnxruntime refused an input (the same input fails the same way)' },
  MODEL_PACK_INVALID: { retriable: false, when: 'a model pack whose manifest, files or signatures are wrong' },
  WINDOW_REWIND_TOO_FAR: { retriable: false, when: 'a frame that came again from before the windows the temporal stage keeps' },
  // sink
  SUMMARY_REWIND_TOO_FAR: { retriable: false, when: 'a frame that came again from before the track sums the sink keeps' },
  INVALID_EMOTIONS: { retriable: false, when: 'an Emotions message that would break the public events schema' },
  LIVE_VIEW_TOKEN_REQUIRED: { retriable: false, when: 'the live view would serve beyond loopback without a token' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Whether a retry of the work that failed with `code` can succeed. */
export function isRetriable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retriable;
}

export class StageError extends Error {
  readonly code: ErrorCode;
  /** Whether a retry can help: a property of the code (ERROR_CODES), the same wherever it is thrown. */
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'StageError';
    this.code = code;
    this.retriable = isRetriable(code);
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
export class ConfigError extends StageError {
  declare readonly code: 'CONFIG_INVALID';
  constructor(
    message: string,
    /** Each problem, for a structured log line; empty when the error is not about fields (an unreadable file). */
    readonly problems: readonly ConfigProblem[] = [],
  ) {
    super('CONFIG_INVALID', message);
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

/** The codes a bus raises. */
export type BusErrorCode = 'BUS_FAILED' | 'BUS_REFUSED' | 'RECORD_TOO_LARGE' | 'PRODUCER_FENCED';

/**
 * Thrown by a bus when the broker cannot be reached (BUS_FAILED, retriable) or refuses an operation
 * for good: BUS_REFUSED (e.g. no authorisation), RECORD_TOO_LARGE, PRODUCER_FENCED.
 */
export class BusError extends StageError {
  declare readonly code: BusErrorCode;
  constructor(message: string, options: { cause?: unknown; code?: BusErrorCode } = {}) {
    super(options.code ?? 'BUS_FAILED', message, { cause: options.cause });
    this.name = 'BusError';
  }
}

/** Reduces any thrown value to a StageError, so the runtime has one shape to act on. Unknown errors are not retriable. */
export function toStageError(error: unknown): StageError {
  if (error instanceof StageError) return error;
  if (error instanceof Error) return new StageError('HANDLER_FAILED', error.message, { cause: error });
  return new StageError('HANDLER_FAILED', String(error));
}
