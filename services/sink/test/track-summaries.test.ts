import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrackSummaries } from '../src/index.js';
import { assertValidEvent, emotionsMessage } from './helpers.js';

const box = { x: 10, y: 20, width: 100, height: 120 };
const happy = [0.1, 0.6, 0.1, 0.05, 0.05, 0.05, 0.05];
const angry = [0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.6];

function frame(
  seq: number,
  faces: { trackId: number; probs: number[] }[],
  extra: { endedTrackIds?: number[]; endOfStream?: boolean; streamId?: string } = {},
) {
  return emotionsMessage({
    ref: {
      streamId: extra.streamId ?? 'cam-1',
      seq,
      ptsMs: (seq - 1) * 40,
      capturedAtMs: 1_700_000_000_000 + seq,
      endOfStream: extra.endOfStream ?? false,
    },
    faces: faces.map((face) => ({ ...face, box, score: 0.9 })),
    endedTrackIds: extra.endedTrackIds ?? [],
  });
}

describe('TrackSummaries', () => {
  it('summarises a track when a frame lists it as ended: frames, seq and time span, mean probabilities', () => {
    const summaries = new TrackSummaries();
    assert.deepEqual(summaries.observe(frame(1, [{ trackId: 1, probs: happy }]), 0), []);
    summaries.observe(frame(7, [{ trackId: 1, probs: happy }]), 0);
    summaries.observe(frame(13, [{ trackId: 1, probs: angry }]), 0);
    const [summary, ...rest] = summaries.observe(frame(19, [], { endedTrackIds: [1] }), 5000);
    assert.deepEqual(rest, []);
    assert.equal(summary?.schema, 'emostream.event.track_summary.v2');
    assert.equal(summary?.streamId, 'cam-1');
    assert.equal(summary?.trackId, 1);
    assert.equal(summary?.firstSeq, 1);
    assert.equal(summary?.lastSeq, 13);
    assert.equal(summary?.startPtsMs, 0);
    assert.equal(summary?.endPtsMs, 480);
    assert.equal(summary?.durationMs, 480);
    assert.equal(summary?.frames, 3);
    assert.equal(summary?.emittedAtMs, 5000);
    assert.equal(summary?.meanEmotion, 'Happiness');
    const expected = happy.map((h, i) => (2 * Math.fround(h) + Math.fround(angry[i]!)) / 3);
    assert.deepEqual(Object.values(summary.meanProbabilities), expected);
    assertValidEvent(summary);
    assert.equal(summaries.size, 0);
  });

  it('takes as dominant the label with the highest mean probability, not the most frequent per-frame label', () => {
    const summaries = new TrackSummaries();
    const sureAnger = [0.02, 0.02, 0.02, 0.02, 0.02, 0, 0.9];
    const leaningHappy = [0.1, 0.4, 0.05, 0.05, 0.05, 0, 0.35];
    summaries.observe(frame(1, [{ trackId: 1, probs: sureAnger }]), 0);
    summaries.observe(frame(2, [{ trackId: 1, probs: leaningHappy }]), 0);
    summaries.observe(frame(3, [{ trackId: 1, probs: leaningHappy }]), 0);
    const [summary] = summaries.observe(frame(4, [], { endedTrackIds: [1] }), 0);
    assert.equal(summary?.meanEmotion, 'Anger', 'two of three frames say Happiness, but Anger has the higher mean');
  });

  it('counts a face seen in the frame that ends its track', () => {
    const summaries = new TrackSummaries();
    summaries.observe(frame(1, [{ trackId: 4, probs: happy }]), 0);
    const [summary] = summaries.observe(frame(2, [{ trackId: 4, probs: happy }], { endedTrackIds: [4] }), 0);
    assert.equal(summary?.frames, 2);
    assert.equal(summary?.lastSeq, 2);
  });

  it('gives a one-frame track a duration of 0', () => {
    const summaries = new TrackSummaries();
    summaries.observe(frame(5, [{ trackId: 1, probs: angry }]), 0);
    const [summary] = summaries.observe(frame(6, [], { endedTrackIds: [1] }), 0);
    assert.equal(summary?.durationMs, 0);
    assert.equal(summary?.frames, 1);
    assertValidEvent(summary);
  });

  it('summarises every track of a stream, by id, at its end and leaves other streams alone', () => {
    const summaries = new TrackSummaries();
    summaries.observe(
      frame(1, [
        { trackId: 2, probs: happy },
        { trackId: 1, probs: angry },
      ]),
      0,
    );
    summaries.observe(frame(1, [{ trackId: 1, probs: happy }], { streamId: 'cam-2' }), 0);
    const ended = summaries.observe(frame(2, [], { endOfStream: true }), 0);
    assert.deepEqual(
      ended.map((s) => [s.streamId, s.trackId]),
      [
        ['cam-1', 1],
        ['cam-1', 2],
      ],
    );
    assert.deepEqual(summaries.streamIds(), ['cam-2']);
  });

  it('keeps the same track id on two streams apart', () => {
    const summaries = new TrackSummaries();
    summaries.observe(frame(1, [{ trackId: 1, probs: happy }]), 0);
    summaries.observe(frame(1, [{ trackId: 1, probs: angry }], { streamId: 'cam-2' }), 0);
    const [a] = summaries.observe(frame(2, [], { endedTrackIds: [1] }), 0);
    const [b] = summaries.observe(frame(2, [], { endedTrackIds: [1], streamId: 'cam-2' }), 0);
    assert.equal(a?.meanEmotion, 'Happiness');
    assert.equal(b?.meanEmotion, 'Anger');
  });

  it('does not count a redelivered frame twice', () => {
    const summaries = new TrackSummaries();
    summaries.observe(frame(1, [{ trackId: 1, probs: happy }]), 0);
    summaries.observe(frame(2, [{ trackId: 1, probs: angry }]), 0);
    summaries.observe(frame(2, [{ trackId: 1, probs: angry }]), 0);
    const [summary] = summaries.observe(frame(3, [], { endedTrackIds: [1] }), 0);
    assert.equal(summary?.frames, 2);
  });

  it('sums up a track again, the same, when the frames that ended it come again (an upstream batch repeated)', () => {
    const summaries = new TrackSummaries();
    const frames = [
      frame(1, [{ trackId: 1, probs: happy }]),
      frame(7, [{ trackId: 1, probs: angry }]),
      frame(13, [{ trackId: 2, probs: happy }], { endedTrackIds: [1] }),
      frame(19, [{ trackId: 2, probs: angry }]),
    ];
    const first = frames.map((f) => summaries.observe(f, 0));
    assert.equal(first[2]?.[0]?.frames, 2);
    assert.deepEqual(
      frames.slice(1).map((f) => summaries.observe(f, 0)),
      first.slice(1),
      'frames 7–19 again: track 1 ends with the same summary, nothing is counted twice',
    );
    const [track2] = summaries.observe(frame(25, [], { endOfStream: true }), 0);
    assert.deepEqual([track2?.trackId, track2?.firstSeq, track2?.lastSeq, track2?.frames], [2, 13, 19, 2]);
  });

  it('refuses a frame that comes again from before the kept history, adding nothing', () => {
    const summaries = new TrackSummaries({ historyFrames: 2 });
    for (const seq of [1, 2, 3, 4]) summaries.observe(frame(seq, [{ trackId: 1, probs: happy }]), 0);
    assert.throws(() => summaries.observe(frame(2, [{ trackId: 1, probs: happy }]), 0), { code: 'SUMMARY_REWIND_TOO_FAR' });
    const [summary] = summaries.observe(frame(5, [], { endedTrackIds: [1] }), 0);
    assert.equal(summary?.frames, 4);
  });

  it('gives no summary for an ended track it never saw', () => {
    const summaries = new TrackSummaries();
    assert.deepEqual(summaries.observe(frame(1, [], { endedTrackIds: [9] }), 0), []);
    assert.deepEqual(summaries.observe(frame(2, [], { endOfStream: true }), 0), []);
  });

  it('adds nothing from an invalid message', () => {
    const summaries = new TrackSummaries();
    const bad = frame(1, [
      { trackId: 1, probs: happy },
      { trackId: 2, probs: [1] },
    ]);
    assert.throws(() => summaries.observe(bad, 0), /expected 7 probabilities/);
    assert.equal(summaries.size, 0);
  });

  it('forgets dropped streams without summarising them', () => {
    const summaries = new TrackSummaries();
    summaries.observe(frame(1, [{ trackId: 1, probs: happy }]), 0);
    summaries.drop(['cam-1']);
    assert.deepEqual(summaries.observe(frame(2, [], { endOfStream: true }), 0), []);
  });
});
