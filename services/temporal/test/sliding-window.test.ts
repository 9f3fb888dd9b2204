import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanProbabilities, REFERENCE_WINDOWS, SlidingWindows, temporalSettingsSchema } from '../src/index.js';

type Face = readonly [trackId: number, item: string];

/** Frame `seq` of a stream (media time seq × 200 ms unless given), with its faces and what ends. */
function frame(seq: number, faces: Face[], extra: { streamId?: string; ptsMs?: number; ended?: number[]; endOfStream?: boolean } = {}) {
  return {
    streamId: extra.streamId ?? 'cam-1',
    seq,
    ptsMs: extra.ptsMs ?? seq * 200,
    faces: faces.map(([trackId, item]) => ({ trackId, item })),
    endedTrackIds: extra.ended ?? [],
    endOfStream: extra.endOfStream ?? false,
  };
}

/** The window of one face of a frame. */
function windowOf(windows: SlidingWindows<string>, f: ReturnType<typeof frame>): readonly string[] {
  return windows.frame(f).windows[0]!;
}

describe('SlidingWindows (reference real-time window per stream and track)', () => {
  it("fills the whole window with a track's first item", () => {
    const windows = new SlidingWindows<string>({ length: 10, trackTtlMs: 2000 });
    assert.deepEqual(windowOf(windows, frame(1, [[1, 'a']])), new Array(10).fill('a'));
  });

  it('shifts the window by one for each later sampled frame', () => {
    const windows = new SlidingWindows<string>({ length: 4, trackTtlMs: 2000 });
    windows.frame(frame(1, [[1, 'a']]));
    assert.deepEqual(windowOf(windows, frame(2, [[1, 'b']])), ['a', 'a', 'a', 'b']);
    assert.deepEqual(windowOf(windows, frame(3, [[1, 'c']])), ['a', 'a', 'b', 'c']);
    windows.frame(frame(4, [[1, 'd']]));
    assert.deepEqual(windowOf(windows, frame(5, [[1, 'e']])), ['b', 'c', 'd', 'e']);
  });

  it('keeps one window per (stream, track): the same track id on two streams does not mix', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(
      frame(1, [
        [1, 'a'],
        [2, 'x'],
      ]),
    );
    assert.deepEqual(windowOf(windows, frame(1, [[1, 'p']], { streamId: 'cam-2' })), ['p', 'p', 'p']);
    assert.deepEqual(windows.frame(frame(2, [[1, 'b']])).windows, [['a', 'a', 'b']]);
    assert.deepEqual(windows.get({ streamId: 'cam-1', trackId: 2 }), ['x', 'x', 'x']);
    assert.equal(windows.size, 3);
  });

  it('gives a frame that comes again the windows it got the first time, and the frames after it too', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    const frames = [
      frame(1, [[1, 'a']]),
      frame(2, [
        [1, 'b'],
        [2, 'x'],
      ]),
      frame(3, [[1, 'c']], { ended: [2] }),
      frame(4, [[1, 'd']]),
    ];
    const first = frames.map((f) => windows.frame(f));
    // An upstream batch of frames 2–4 repeated after frame 4 (at-least-once): each gives the same again.
    assert.deepEqual(
      frames.slice(1).map((f) => windows.frame(f)),
      first.slice(1),
    );
    assert.deepEqual(windows.frame(frame(5, [[1, 'e']])).windows, [['c', 'd', 'e']], 'the stream goes on from its newest frame');
    // A repeat of the frame that ended track 2 ends it again (the sink then sees the same end).
    assert.deepEqual(windows.frame(frames[2]!).ended, [2]);
  });

  it('refuses a frame that comes again from before the kept history, and changes nothing', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 }, { historyFrames: 2 });
    for (const [seq, item] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ] as const)
      windows.frame(frame(seq, [[1, item]]));
    assert.throws(() => windows.frame(frame(2, [[1, 'b']])), { code: 'WINDOW_REWIND_TOO_FAR' });
    assert.deepEqual(windows.get({ streamId: 'cam-1', trackId: 1 }), ['b', 'c', 'd']);
    assert.deepEqual(windowOf(windows, frame(4, [[1, 'd']])), ['b', 'c', 'd'], 'a frame within the history still comes again');
  });

  it('does not shift twice for a track listed twice in one frame', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(frame(1, [[1, 'a']]));
    assert.deepEqual(
      windows.frame(
        frame(2, [
          [1, 'b'],
          [1, 'z'],
        ]),
      ).windows,
      [
        ['a', 'a', 'b'],
        ['a', 'a', 'b'],
      ],
    );
  });

  it('returns windows that later frames do not change', () => {
    const windows = new SlidingWindows<string>({ length: 2, trackTtlMs: 2000 });
    const first = windowOf(windows, frame(1, [[1, 'a']]));
    windows.frame(frame(2, [[1, 'b']]));
    assert.deepEqual(first, ['a', 'a']);
  });

  it("ends tracks idle for more than the TTL in their stream's media time, and only those", () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(
      frame(
        1,
        [
          [3, 'a'],
          [1, 'a'],
        ],
        { ptsMs: 1000 },
      ),
    );
    windows.frame(frame(5, [[2, 'a']], { ptsMs: 2500 }));
    windows.frame(frame(1, [[1, 'a']], { streamId: 'cam-2', ptsMs: 0 }));
    assert.deepEqual(windows.frame(frame(6, [], { ptsMs: 3000 })).ended, [], 'exactly the TTL old is still alive');
    assert.deepEqual(windows.frame(frame(7, [], { ptsMs: 3001 })).ended, [1, 3]);
    assert.equal(windows.get({ streamId: 'cam-1', trackId: 1 }), undefined);
    assert.deepEqual(windows.get({ streamId: 'cam-1', trackId: 2 }), ['a', 'a', 'a']);
    assert.deepEqual(windows.get({ streamId: 'cam-2', trackId: 1 }), ['a', 'a', 'a'], "another stream's media time is its own");
  });

  it('ends the tracks the tracker ends, and starts a fresh window, filled by its first item, for a track that ended', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(frame(1, [[1, 'a']]));
    windows.frame(frame(2, [[1, 'b']]));
    assert.deepEqual(windows.frame(frame(3, [], { ended: [1, 7] })).ended, [1, 7], "the tracker's list, whether or not a window was kept");
    assert.deepEqual(windowOf(windows, frame(4, [[1, 'c']])), ['c', 'c', 'c']);
  });

  it('ends every track of a stream at its end, and starts the stream again at a frame past its end', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(
      frame(1, [
        [4, 'a'],
        [2, 'a'],
      ]),
    );
    windows.frame(frame(1, [[1, 'a']], { streamId: 'cam-2' }));
    assert.deepEqual(windows.frame(frame(2, [], { endOfStream: true })).ended, [2, 4]);
    assert.deepEqual(windows.streamIds(), ['cam-2']);
    assert.deepEqual(windows.frame(frame(2, [], { endOfStream: true })).ended, [2, 4], 'the end that comes again ends the same tracks');
    assert.deepEqual(windowOf(windows, frame(1, [[2, 'n']])), ['n', 'n', 'n'], 'a file ingested again starts afresh');
  });

  it('drops the windows of streams another replica now owns', () => {
    const windows = new SlidingWindows<string>({ length: 3, trackTtlMs: 2000 });
    windows.frame(frame(1, [[1, 'a']], { streamId: 'cam-1' }));
    windows.frame(
      frame(
        1,
        [
          [1, 'a'],
          [2, 'a'],
        ],
        { streamId: 'cam-2' },
      ),
    );
    windows.frame(frame(1, [[1, 'a']], { streamId: 'cam-3' }));
    windows.dropStreams(['cam-2', 'cam-3']);
    assert.deepEqual(windows.streamIds(), ['cam-1']);
    assert.equal(windows.size, 1);
  });

  it('refuses an empty window, a TTL that is not positive or no history', () => {
    assert.throws(() => new SlidingWindows({ length: 0, trackTtlMs: 1 }), RangeError);
    assert.throws(() => new SlidingWindows({ length: 10, trackTtlMs: 0 }), RangeError);
    assert.throws(() => new SlidingWindows({ length: 10, trackTtlMs: 1 }, { historyFrames: 0 }), RangeError);
  });
});

describe('temporalSettingsSchema (the window settings the stage takes)', () => {
  it("defaults to the reference's window of 10 and rejects unknown keys", () => {
    const defaults = temporalSettingsSchema.parse({});
    assert.equal(defaults.windowLength, 10);
    assert.equal(defaults.windowLength, REFERENCE_WINDOWS.length, 'one length for the offline windows and the live ones');
    assert.equal(temporalSettingsSchema.parse({ windowLength: '12' }).windowLength, 12);
    assert.throws(() => temporalSettingsSchema.parse({ windowLenght: 10 }));
    assert.throws(() => temporalSettingsSchema.parse({ windowLength: 0 }));
  });

  it('describes every field', () => {
    for (const [name, field] of Object.entries(temporalSettingsSchema.shape)) {
      assert.ok(field.description, `${name} has no description`);
    }
  });
});

describe('static fallback (packs without a temporal model)', () => {
  it('is the mean of the static probabilities over the window, first frame weighted until the window fills', () => {
    const windows = new SlidingWindows<number[]>({ length: 4, trackTtlMs: 2000 });
    const a = [1, 0, 0, 0, 0, 0, 0];
    const b = [0, 0.5, 0.5, 0, 0, 0, 0];
    const windowAt = (seq: number, item: number[]) =>
      windows.frame({ streamId: 'cam-1', seq, ptsMs: seq * 200, faces: [{ trackId: 1, item }], endedTrackIds: [], endOfStream: false })
        .windows[0]!;
    assert.deepEqual(meanProbabilities(windowAt(1, a)), a);
    assert.deepEqual(meanProbabilities(windowAt(2, b)), [0.75, 0.125, 0.125, 0, 0, 0, 0]);
    windowAt(3, b);
    windowAt(4, b);
    assert.deepEqual(meanProbabilities(windowAt(5, b)), b);
  });

  it('refuses an empty window and rows of different lengths', () => {
    assert.throws(() => meanProbabilities([]), RangeError);
    assert.throws(() => meanProbabilities([[1], [0.5, 0.5]]), RangeError);
  });
});
