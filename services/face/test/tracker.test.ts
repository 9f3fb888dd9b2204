import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FaceTracker,
  faceTrackerConfigSchema,
  iou,
  matchByIou,
  minCostAssignment,
  StreamTrackers,
  type Detection,
  type FaceTrackerConfig,
  type TrackerUpdate,
} from '../src/index.js';

const config = (overrides: Partial<FaceTrackerConfig> = {}): FaceTrackerConfig => faceTrackerConfigSchema.parse({ minHits: 2, maxMisses: 3, ...overrides });
const face = (x: number, y = 100, score = 0.9, size = 100): Detection => ({ box: { x, y, width: size, height: size }, score });
const ids = (update: TrackerUpdate): number[] => update.tracks.map((t) => t.trackId);

/** Runs `frames` through a tracker, frame numbers 1, 2, …; returns every update. */
function run(tracker: FaceTracker, frames: Detection[][], firstSeq = 1): TrackerUpdate[] {
  return frames.map((detections, i) => tracker.update(detections, firstSeq + i));
}

describe('FaceTracker', () => {
  it('keeps one id for a face moving steadily across the frame', () => {
    const tracker = new FaceTracker(config());
    const updates = run(tracker, Array.from({ length: 30 }, (_, t) => [face(15 * t)]));
    assert.deepEqual(ids(updates[0]!), [], 'tentative on its first frame');
    for (const update of updates.slice(1)) {
      assert.deepEqual(ids(update), [1]);
      assert.deepEqual(update.ended, []);
    }
  });

  it('reports the matched detection’s box, score and index, not a prediction', () => {
    const tracker = new FaceTracker(config({ minHits: 1 }));
    tracker.update([face(0)], 1);
    const update = tracker.update([face(900, 0, 0.95), face(20, 100, 0.8)], 2);
    const track = update.tracks.find((t) => t.trackId === 1);
    assert.deepEqual(track, { trackId: 1, box: face(20).box, score: 0.8, detectionIndex: 1 });
  });

  it('keeps the ids of two faces that cross each other on the same line', () => {
    const tracker = new FaceTracker(config());
    const left = (t: number): number => 30 * t; // moves right
    const right = (t: number): number => 600 - 30 * t; // moves left; both at 300 when t = 10
    const frames = Array.from({ length: 21 }, (_, t) => (t % 2 === 0 ? [face(left(t)), face(right(t))] : [face(right(t)), face(left(t))]));
    const updates = run(tracker, frames);
    const idOfLeft = updates[1]!.tracks.find((track) => track.box.x === left(1))!.trackId;
    const idOfRight = updates[1]!.tracks.find((track) => track.box.x === right(1))!.trackId;
    assert.notEqual(idOfLeft, idOfRight);
    updates.slice(1).forEach((update, i) => {
      const t = i + 1;
      const byId = new Map(update.tracks.map((track) => [track.trackId, track.box.x]));
      assert.equal(byId.size, 2, `frame ${t}`);
      assert.equal(byId.get(idOfLeft), left(t), `left face at t=${t}`);
      assert.equal(byId.get(idOfRight), right(t), `right face at t=${t}`);
    });
  });

  it('keeps the id of a face missing for up to maxMisses frames', () => {
    const tracker = new FaceTracker(config({ maxMisses: 3 }));
    const updates = run(tracker, [[face(0)], [face(5)], [], [], [], [face(20)]]);
    assert.deepEqual(updates.slice(2, 5).map(ids), [[], [], []]);
    assert.deepEqual(updates.flatMap((u) => u.ended), []);
    assert.deepEqual(ids(updates[5]!), [1]);
  });

  it('predicts a moving face through missed frames at constant velocity', () => {
    const tracker = new FaceTracker(config({ maxMisses: 3 }));
    // 60 px per frame: after three missed frames the face is 240 px from its last box, no overlap.
    const updates = run(tracker, [[face(0)], [face(60)], [], [], [], [face(300)]]);
    assert.deepEqual(ids(updates[5]!), [1]);
  });

  it('ends a face missing for more than maxMisses frames, and gives it a new id when it comes back', () => {
    const tracker = new FaceTracker(config({ maxMisses: 3 }));
    const updates = run(tracker, [[face(0)], [face(0)], [], [], [], [], [face(0)], [face(0)]]);
    assert.deepEqual(updates.map((u) => u.ended), [[], [], [], [], [], [1], [], []]);
    assert.deepEqual(ids(updates[6]!), [], 'a returning face is tentative again');
    assert.deepEqual(ids(updates[7]!), [2]);
  });

  it('does not start tracks from low-score detections', () => {
    const tracker = new FaceTracker(config({ minHits: 1 }));
    const updates = run(tracker, Array.from({ length: 10 }, () => [face(0, 100, 0.5)]));
    assert.deepEqual(updates.flatMap(ids), []);
  });

  it('extends a track with low-score detections beyond maxMisses frames', () => {
    const tracker = new FaceTracker(config({ maxMisses: 2 }));
    const lows = Array.from({ length: 6 }, (_, t) => [face(10 * (t + 2), 100, 0.3)]);
    const updates = run(tracker, [[face(0)], [face(10)], ...lows]);
    for (const update of updates.slice(2)) {
      assert.deepEqual(ids(update), [1]);
      assert.equal(update.tracks[0]?.score, 0.3);
    }
    assert.deepEqual(updates.flatMap((u) => u.ended), []);
  });

  it('does not revive a track that was already missing with a low-score detection', () => {
    const tracker = new FaceTracker(config({ maxMisses: 2 }));
    const updates = run(tracker, [[face(0)], [face(0)], [], [face(0, 100, 0.3)], [face(0, 100, 0.3)]]);
    assert.deepEqual(updates.slice(3).map(ids), [[], []]);
    assert.deepEqual(updates[4]!.ended, [1]);
  });

  it('ignores detections at or below lowThreshold', () => {
    const tracker = new FaceTracker(config({ minHits: 1, maxMisses: 0, lowThreshold: 0.2 }));
    const updates = run(tracker, [[face(0)], [face(0, 100, 0.2)]]);
    assert.deepEqual(updates[1]!.ended, [1]);
  });

  it('confirms a track only after minHits consecutive matches, dropping a tentative one at its first miss', () => {
    const tracker = new FaceTracker(config({ minHits: 3 }));
    const updates = run(tracker, [[face(0)], [face(0)], [], [face(0)], [face(0)], [face(0)]]);
    assert.deepEqual(updates.map(ids), [[], [], [], [], [], [1]]);
    assert.deepEqual(updates.flatMap((u) => u.ended), [], 'a tentative track never had an id to end');
  });

  it('shows a face at once with minHits 1, as the reference uses every detection', () => {
    const tracker = new FaceTracker(config({ minHits: 1 }));
    assert.deepEqual(ids(tracker.update([face(0)], 1)), [1]);
  });

  it('numbers faces confirmed in the same frame in detection order, from 1', () => {
    const tracker = new FaceTracker(config({ minHits: 1 }));
    const update = tracker.update([face(400), face(0), face(200)], 1);
    assert.deepEqual(
      update.tracks.map((t) => [t.trackId, t.detectionIndex]),
      [
        [1, 0],
        [2, 1],
        [3, 2],
      ],
    );
  });

  it('ends every confirmed track at the end of the stream and never reuses an id', () => {
    const tracker = new FaceTracker(config({ minHits: 1 }));
    tracker.update([face(0), face(300)], 1);
    tracker.update([face(600, 300)], 2); // tentative? no: minHits 1, so a third track
    assert.deepEqual(tracker.activeTrackIds, [1, 2, 3]);
    assert.deepEqual(tracker.endAll(), [1, 2, 3]);
    assert.deepEqual(tracker.activeTrackIds, []);
    assert.deepEqual(ids(tracker.update([face(0)], 3)), [4]);
  });

  it('refuses a frame number that does not increase', () => {
    const tracker = new FaceTracker(config());
    tracker.update([], 5);
    assert.throws(() => tracker.update([], 5), /does not follow/);
    assert.throws(() => tracker.update([], 4), /does not follow/);
    assert.doesNotThrow(() => tracker.update([], 11));
  });
});

describe('StreamTrackers', () => {
  it('numbers track ids per stream, each from 1', () => {
    const trackers = new StreamTrackers(config({ minHits: 1 }));
    assert.deepEqual(ids(trackers.update('cam-1', [face(0), face(300)], 1)), [1, 2]);
    assert.deepEqual(ids(trackers.update('cam-2', [face(0)], 1)), [1]);
    assert.deepEqual(ids(trackers.update('cam-1', [face(0), face(300)], 2)), [1, 2]);
  });

  it("never matches one stream's faces to another stream's tracks", () => {
    const trackers = new StreamTrackers(config({ minHits: 1, maxMisses: 0 }));
    trackers.update('cam-1', [face(0)], 1);
    const other = trackers.update('cam-2', [face(0)], 2);
    assert.deepEqual(ids(other), [1]);
    assert.deepEqual(trackers.update('cam-1', [], 2).ended, [1]);
  });

  it('ends a stream’s tracks at its end and counts from 1 again if it restarts', () => {
    const trackers = new StreamTrackers(config({ minHits: 1 }));
    trackers.update('cam-1', [face(0), face(300)], 1);
    assert.deepEqual(trackers.endStream('cam-1'), [1, 2]);
    assert.deepEqual(trackers.endStream('cam-1'), []);
    assert.deepEqual(ids(trackers.update('cam-1', [face(0)], 1)), [1]);
  });

  it('forgets dropped streams without ending their tracks', () => {
    const trackers = new StreamTrackers(config({ minHits: 1 }));
    trackers.update('cam-1', [face(0)], 1);
    trackers.update('cam-2', [face(0)], 1);
    trackers.drop(['cam-1']);
    assert.deepEqual(trackers.streamIds(), ['cam-2']);
  });
});

describe('assignment', () => {
  it('finds the optimal assignment where a greedy matcher would not', () => {
    // Greedy takes (0,0) at cost 0.1 and must then pay 5 for (1,1); optimal is (0,1) + (1,0) = 0.6.
    assert.deepEqual(
      minCostAssignment([
        [0.1, 0.2],
        [0.4, 5],
      ]),
      [1, 0],
    );
  });

  it('assigns rectangular problems both ways, leaving the extra rows unassigned', () => {
    assert.deepEqual(minCostAssignment([[3, 1, 2]]), [1]);
    assert.deepEqual(minCostAssignment([[3], [1], [2]]), [-1, 0, -1]);
    assert.deepEqual(minCostAssignment([]), []);
    assert.deepEqual(minCostAssignment([[], []]), [-1, -1]);
  });

  it('matches as many tracks as the IoU gate allows, then the largest total overlap', () => {
    // Track 0 overlaps both detections; track 1 only detection 0. Greedy on IoU would strand track 1.
    const tracks = [face(0).box, face(-60).box];
    const detections = [face(-10).box, face(30).box];
    assert.ok(iou(tracks[1]!, detections[1]!) < 0.2);
    assert.ok(iou(tracks[0]!, detections[0]!) > iou(tracks[0]!, detections[1]!));
    const result = matchByIou(tracks, detections, 0.2);
    assert.deepEqual(result.pairs, [
      [0, 1],
      [1, 0],
    ]);
    assert.deepEqual(result.unmatchedTracks, []);
  });

  it('never pairs boxes below the IoU gate', () => {
    const result = matchByIou([face(0).box], [face(90).box], 0.2);
    assert.deepEqual(result.pairs, []);
    assert.deepEqual(result.unmatchedTracks, [0]);
    assert.deepEqual(result.unmatchedDetections, [0]);
  });

  it('computes IoU of overlapping, touching and empty boxes', () => {
    assert.equal(iou(face(0).box, face(0).box), 1);
    assert.equal(iou(face(0).box, face(50).box), 5000 / 15000);
    assert.equal(iou(face(0).box, face(100).box), 0);
    assert.equal(iou({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 0, width: 0, height: 0 }), 0);
  });
});

describe('faceTrackerConfigSchema', () => {
  it('has ByteTrack-like defaults and rejects unknown keys', () => {
    assert.deepEqual(faceTrackerConfigSchema.parse({}), {
      highThreshold: 0.7,
      lowThreshold: 0.1,
      matchIou: 0.2,
      lowMatchIou: 0.5,
      minHits: 2,
      maxMisses: 5,
      predictMotion: true,
    });
    assert.equal(faceTrackerConfigSchema.parse({ predictMotion: 'false', minHits: '3' }).predictMotion, false);
    assert.throws(() => faceTrackerConfigSchema.parse({ maxMiss: 3 }));
    assert.throws(() => faceTrackerConfigSchema.parse({ matchIou: 0 }));
  });

  it('refuses a low threshold above the high one', () => {
    assert.throws(() => faceTrackerConfigSchema.parse({ lowThreshold: 0.8, highThreshold: 0.5 }), /lowThreshold/);
    assert.throws(() => new FaceTracker({ ...config(), lowThreshold: 0.8, highThreshold: 0.5 }), RangeError);
  });

  it('describes every field', () => {
    for (const [name, field] of Object.entries(faceTrackerConfigSchema.innerType().shape)) {
      assert.ok(field.description, `${name} has no description`);
    }
  });
});
