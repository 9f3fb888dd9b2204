/**
 * Per-stream state for stages that see frames again. At-least-once delivery repeats whole batches:
 * when a stage upstream dies after sending its outputs but before committing its inputs, the frames
 * it had sent come again, after later ones. A frame that comes again must give what it gave the
 * first time, so it starts from the state kept from just before it, not from the stream's newest
 * state; the frames after it then follow as they did.
 *
 * The face stage's trackers keep their own history (stream-trackers.ts, with persisted snapshots);
 * the temporal windows and the sink's track summaries keep theirs here.
 */

import { DEFAULT_MAX_BATCH_SIZE } from '../config/runtime-config.js';
import { StageError, type ErrorCode } from '../errors.js';

export interface StreamHistoryOptions<S> {
  /** A stream's state before its first frame. */
  empty(): S;
  /** A copy that changing does not change `state` (the kept states are never changed). */
  copy(state: S): S;
  /**
   * States kept per stream: at least the most frames of one stream a redelivered batch can hold
   * (the upstream stage's batch size), plus one. Default: the runtime's default batch, plus one.
   */
  historyFrames?: number;
  /**
   * The dead letter's code of a frame that came again from further back than the history reaches:
   * its first result cannot be given again (it was delivered the first time).
   */
  rewindCode: ErrorCode;
  /** Ended streams remembered, for their frames that come again. Default 64. */
  endedStreams?: number;
}

interface Kept<S> {
  seq: number;
  state: S;
  ended: boolean;
}

interface Stream<S> {
  /**
   * Where the stream's current life starts, when this consumer saw it start: its seq 1 (ingest numbers
   * every stream's frames from 1) or a frame past its end marker. A frame at or before it starts the
   * stream again empty, which is also the state before it. Undefined when the first frame seen came
   * mid-stream (the replay after a restart begins where its record count reaches): nothing before
   * the kept history can be given again then.
   */
  startSeq: number | undefined;
  /** States after the last frames, oldest first; the newest is the stream's current state. */
  history: Kept<S>[];
}

/** Every stream's life starts at this seq (ingest numbers a file's frames and a live stream's from 1). */
const FIRST_SEQ = 1;

/**
 * The states of the streams a consumer owns, each with the states after its last `historyFrames`
 * frames. A stream that ended (its end-of-stream frame) and then gets a frame past its end, or gets
 * its seq 1 again (a file ingested again), starts again empty.
 */
export class StreamHistory<S> {
  readonly #options: StreamHistoryOptions<S>;
  readonly #historyFrames: number;
  readonly #streams = new Map<string, Stream<S>>();

  constructor(options: StreamHistoryOptions<S>) {
    this.#historyFrames = options.historyFrames ?? DEFAULT_MAX_BATCH_SIZE + 1;
    if (!Number.isInteger(this.#historyFrames) || this.#historyFrames < 1)
      throw new RangeError(`historyFrames must be a positive integer, got ${this.#historyFrames}`);
    this.#options = options;
  }

  /**
   * Runs frame `seq` of a stream: `step` gets a copy of the state the frame starts from (the newest,
   * or for a frame that came again the one kept from just before it) and changes it; that becomes
   * the stream's newest state. `endsStream` marks the stream's last frame. Throws a StageError
   * (`rewindCode`) for a frame that came again from before the kept history, leaving the state as it was.
   */
  frame<R>(streamId: string, seq: number, endsStream: boolean, step: (state: S) => R): R {
    const { startSeq, before } = this.#startOf(streamId, seq);
    const state = before ? this.#options.copy(before.state) : this.#options.empty();
    const result = step(state);
    // A frame that came again replaces the frames after the state it started from; a new frame
    // extends the history in place (the usual case: no copy of it per frame).
    const history = this.#streams.get(streamId)?.history ?? [];
    const kept = !before ? [] : before === history.at(-1) ? history : history.filter((h) => h.seq <= before.seq);
    kept.push({ seq, state, ended: endsStream });
    if (kept.length > this.#historyFrames) kept.shift();
    this.#streams.set(streamId, { startSeq, history: kept });
    if (endsStream) this.#forgetOldEndedStreams();
    return result;
  }

  /** A stream's newest state (do not change it), or undefined for a stream never seen or dropped. */
  current(streamId: string): S | undefined {
    return this.#streams.get(streamId)?.history.at(-1)?.state;
  }

  /** Forgets streams (their partition moved to another consumer). */
  drop(streamIds: Iterable<string>): void {
    for (const streamId of streamIds) this.#streams.delete(streamId);
  }

  /** Every stream held, ended ones included. */
  streamIds(): string[] {
    return [...this.#streams.keys()];
  }

  /** Where frame `seq` starts: its life's first seq (if known), and the kept state it follows (none: it starts the stream). */
  #startOf(streamId: string, seq: number): { startSeq: number | undefined; before: Kept<S> | undefined } {
    const stream = this.#streams.get(streamId);
    const newest = stream?.history.at(-1);
    const starting = { startSeq: seq, before: undefined };
    if (!stream || !newest) return seq <= FIRST_SEQ ? starting : { startSeq: undefined, before: undefined };
    if (seq > newest.seq) return newest.ended ? starting : { startSeq: stream.startSeq, before: newest };
    if (seq <= FIRST_SEQ || (stream.startSeq !== undefined && seq <= stream.startSeq)) return starting;
    // The frame came again: go back to the state after the frame before it.
    const before = [...stream.history].reverse().find((h) => h.seq < seq);
    if (!before) {
      const oldest = stream.history[0]?.seq;
      throw new StageError(
        this.#options.rewindCode,
        `stream ${streamId}: frame ${seq} came again, but the oldest kept state follows frame ${oldest}`,
      );
    }
    return { startSeq: stream.startSeq, before };
  }

  #forgetOldEndedStreams(): void {
    const ended = [...this.#streams].filter(([, s]) => s.history.at(-1)?.ended).map(([id]) => id);
    for (const id of ended.slice(0, Math.max(0, ended.length - (this.#options.endedStreams ?? 64)))) this.#streams.delete(id);
  }
}
