import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamHistory } from '../src/index.js';

/** What a frame from before the kept history throws: a StageError with the history's code. */
const refused = { name: 'StageError', code: 'WINDOW_REWIND_TOO_FAR' };

/** A state that records the frames it saw: what a frame starts from is plain to read. */
function history(historyFrames = 4, endedStreams?: number) {
  return new StreamHistory<number[]>({
    empty: () => [],
    copy: (state) => [...state],
    historyFrames,
    rewindCode: 'WINDOW_REWIND_TOO_FAR',
    ...(endedStreams !== undefined ? { endedStreams } : {}),
  });
}

/** Runs frame `seq`: the state it started from, and appends the seq. */
function run(streams: StreamHistory<number[]>, seq: number, endsStream = false, streamId = 'cam-1'): number[] {
  return streams.frame(streamId, seq, endsStream, (state) => {
    const before = [...state];
    state.push(seq);
    return before;
  });
}

describe('StreamHistory', () => {
  it('runs each new frame on the state after the one before it, per stream', () => {
    const streams = history();
    assert.deepEqual(run(streams, 1), []);
    assert.deepEqual(run(streams, 7), [1]);
    assert.deepEqual(run(streams, 1, false, 'cam-2'), [], 'another stream is its own');
    assert.deepEqual(streams.current('cam-1'), [1, 7]);
  });

  it('runs a frame that comes again on the state from just before it, and the frames after it on what follows', () => {
    const streams = history();
    for (const seq of [1, 2, 3, 4]) run(streams, seq);
    assert.deepEqual(run(streams, 3), [1, 2], 'frame 3 again starts from the state after frame 2');
    assert.deepEqual(streams.current('cam-1'), [1, 2, 3], 'and frame 4 no longer counts');
    assert.deepEqual(run(streams, 4), [1, 2, 3]);
    assert.deepEqual(run(streams, 5), [1, 2, 3, 4]);
  });

  it('refuses a frame from before the kept history and keeps its state; a throwing step changes nothing', () => {
    const streams = history(2);
    for (const seq of [1, 2, 3, 4]) run(streams, seq);
    assert.throws(() => run(streams, 3), refused, 'the state before 3 (after 2) is no longer kept');
    assert.throws(
      () =>
        streams.frame('cam-1', 5, false, (state) => {
          state.push(99);
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.deepEqual(streams.current('cam-1'), [1, 2, 3, 4]);
    assert.deepEqual(run(streams, 4), [1, 2, 3], 'within the history a frame still comes again');
  });

  it('starts a stream again at its seq 1 or at a frame past its end', () => {
    const streams = history();
    for (const seq of [1, 6]) run(streams, seq);
    assert.deepEqual(run(streams, 1), [], "the stream's first frame again: from nothing");
    run(streams, 6);
    run(streams, 11, true);
    assert.deepEqual(run(streams, 11, true), [1, 6], 'its end again: from the state before its end');
    assert.deepEqual(run(streams, 16), [], 'a frame past its end: a new life');
    assert.deepEqual(run(streams, 1), [], 'a file ingested again, from 1');
  });

  it('refuses a frame from before the first one it saw of a stream met mid-stream (a replay after a restart), changing nothing', () => {
    const streams = history();
    for (const seq of [500, 506]) run(streams, seq);
    assert.throws(() => run(streams, 494), refused, 'not a new life: seqs start at 1');
    assert.throws(() => run(streams, 500), refused, 'the state before 500 was never seen');
    assert.deepEqual(streams.current('cam-1'), [500, 506]);
    assert.deepEqual(run(streams, 506), [500]);
  });

  it('forgets dropped streams, and all but the newest ended ones', () => {
    const streams = history(4, 1);
    run(streams, 1, false, 'a');
    run(streams, 1, true, 'b');
    run(streams, 1, true, 'c');
    assert.deepEqual(streams.streamIds(), ['a', 'c']);
    streams.drop(['a']);
    assert.equal(streams.current('a'), undefined);
    assert.throws(() => history(0), RangeError);
  });
});
