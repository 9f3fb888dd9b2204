import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import sharp from 'sharp';
import { CropEncoding, DeadLetterSchema, encodeMessage, FaceCropsSchema, makeMessage, topicName, topics } from '@emostream/shared';
import { runStageInMemory, sharedData } from '@emostream/shared/testing';
import {
  decodeTrackerState,
  DETECT_AHEAD,
  trackerStateTopic,
  type FaceDetector,
  type StreamSnapshot,
  type TrackerStateStore,
} from '../src/index.js';
import { testFaceStage } from '../src/testing.js';
import { FaceMetrics, type FrameFaceAccount } from '../src/index.js';
import { Registry } from 'prom-client';

// A real picture (the first frame of a shipped scene) as the JPEG that ingest would send.
const still = sharedData('scenes/intel_headpose_2people_female_male.gif');

describe('face stage', () => {
  it('tracks detected faces with stable ids, crops them to the backbone input, ends tracks at the end of the stream, and dead-letters an undecodable frame', async () => {
    const jpeg = await sharp(readFileSync(still)).jpeg().toBuffer();
    const { width, height } = await sharp(jpeg).metadata();
    // Stands in for the pack's detector here (the detectors themselves are tested on real media in
    // libs/models); it finds one face in the middle of the picture and shifts it a little each call.
    let call = 0;
    const detector: FaceDetector = {
      detect(frame) {
        // The handler awaits detect() in an async function: a throw here fails the frame as a rejection would.
        assert.deepEqual([frame.width, frame.height], [width, height]);
        const dx = call++ * 2;
        return Promise.resolve([
          { x1: 30 + dx, y1: 20, x2: 130 + dx, y2: 140, score: 0.95 },
          { x1: 0, y1: 0, x2: 5, y2: 5, score: 0.9 },
        ]);
      },
    };
    const stage = testFaceStage(detector);
    const frame = (seq: number, bytes: Uint8Array, endOfStream = false) =>
      makeMessage(topics.frames, { ref: { streamId: 'desk', seq, width: width, height: height, endOfStream }, jpeg: bytes });
    const [facesTopic, dlqTopic] = [topicName(topics.faces, 'fc'), topicName(topics.dlq, 'fc')];
    const { records } = await runStageInMemory(stage, {
      topicPrefix: 'fc',
      inputs: (prefix) =>
        [
          frame(1, jpeg),
          frame(7, jpeg),
          frame(13, Buffer.from('\xff\xd8 truncated')),
          frame(19, jpeg),
          frame(20, new Uint8Array(), true),
        ].map((f) => ({
          topic: topicName(topics.frames, prefix),
          key: 'desk',
          value: encodeMessage(topics.frames, f),
        })),
      read: [facesTopic, dlqTopic],
      done: (got) => got.get(facesTopic)!.length >= 4 && got.get(dlqTopic)!.length >= 1,
    });
    const out = records.get(facesTopic)!;
    const dlq = records.get(dlqTopic)!;

    const crops = out.map((r) => fromBinary(FaceCropsSchema, r.value!));
    assert.deepEqual(
      crops.map((c) => c.ref!.seq),
      [1, 7, 19, 20],
    );
    for (const c of crops.slice(0, 3)) {
      assert.equal(c.faces.length, 1, 'the 5-pixel box is below the minimum face size');
      const face = c.faces[0]!;
      assert.equal(face.trackId, 1);
      assert.equal(face.encoding, CropEncoding.RGB8);
      assert.deepEqual([face.cropWidth, face.cropHeight, face.crop.length], [224, 224, 224 * 224 * 3]);
    }
    assert.deepEqual(crops[3]!.endedTrackIds, [1]);
    const letter = fromBinary(DeadLetterSchema, dlq[0]!.value!);
    assert.equal(letter.errorCode, 'FRAME_UNDECODABLE');
    assert.match(letter.reason, /frame JPEG cannot be decoded/);
  });

  it('detects up to DETECT_AHEAD frames ahead of the one it tracks, and still tracks and emits them in order', async () => {
    const jpeg = await sharp(readFileSync(still)).jpeg().toBuffer();
    let inFlight = 0;
    let mostInFlight = 0;
    // A detector that takes a while, as a model in its own thread does: the stage need not wait for it.
    const detector: FaceDetector = {
      async detect() {
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 20));
        inFlight -= 1;
        return [{ x1: 30, y1: 20, x2: 130, y2: 140, score: 0.95 }];
      },
    };
    const facesTopic = topicName(topics.faces, 'ahead');
    const seqs = Array.from({ length: 12 }, (_, i) => 1 + 6 * i);
    const { records } = await runStageInMemory(testFaceStage(detector), {
      topicPrefix: 'ahead',
      inputs: (prefix) =>
        seqs.map((seq) => ({
          topic: topicName(topics.frames, prefix),
          key: 'desk',
          value: encodeMessage(topics.frames, makeMessage(topics.frames, { ref: { streamId: 'desk', seq, width: 1, height: 1 }, jpeg })),
        })),
      read: [facesTopic],
      done: (got) => got.get(facesTopic)!.length >= seqs.length,
    });
    const crops = records.get(facesTopic)!.map((r) => fromBinary(FaceCropsSchema, r.value!));
    assert.deepEqual(
      crops.map((c) => c.ref!.seq),
      seqs,
    );
    assert.deepEqual(new Set(crops.map((c) => c.faces[0]?.trackId)), new Set([1]), 'one track all along');
    assert.ok(mostInFlight > 1 && mostInFlight <= DETECT_AHEAD + 1, `${mostInFlight} detections at once`);
  });

  it("gives boxes in the source frame's pixels when ingest scaled the frame down for transport", async () => {
    const jpeg = readFileSync(still);
    const { width, height } = await sharp(jpeg).metadata();
    const seen: [number, number][] = [];
    // A stand-in detector: one face at fixed pixels of whatever picture it is given.
    const detector: FaceDetector = {
      detect(frame) {
        seen.push([frame.width, frame.height]);
        return Promise.resolve([{ x1: 50, y1: 20, x2: 100, y2: 80, score: 0.9 }]);
      },
    };
    const stage = testFaceStage(detector);
    // The camera sent 1.5 × the transported size (ingest scaled it down).
    const source = { sourceWidth: width * 1.5, sourceHeight: height * 1.5 };
    const facesTopic = topicName(topics.faces, 'fs');
    const { records } = await runStageInMemory(stage, {
      topicPrefix: 'fs',
      inputs: (prefix) => [
        {
          topic: topicName(topics.frames, prefix),
          key: 'cam',
          value: encodeMessage(
            topics.frames,
            makeMessage(topics.frames, { ref: { streamId: 'cam', seq: 1, width: width, height: height, ...source }, jpeg }),
          ),
        },
      ],
      read: [facesTopic],
      done: (got) => got.get(facesTopic)!.length >= 1,
    });
    assert.deepEqual(seen, [[width, height]], 'the detector sees the frame as it came');
    const face = fromBinary(FaceCropsSchema, records.get(facesTopic)![0]!.value!).faces[0]!;
    // Frame pixels → source pixels: × 1.5.
    const expected = { x: 75, y: 30, width: 75, height: 90 };
    for (const key of ['x', 'y', 'width', 'height'] as const)
      assert.ok(Math.abs(face.box![key] - expected[key]) < 1e-3, `${key}: ${face.box![key]} vs ${expected[key]}`);
  });
  it("asks the detector for faces down to FACE_MIN_SIZE in the frame's own pixels", async () => {
    const jpeg = readFileSync(still);
    const { width, height } = await sharp(jpeg).metadata();
    const asked: (number | undefined)[] = [];
    const detector: FaceDetector = {
      detect(_frame, options) {
        asked.push(options?.minFaceSize);
        return Promise.resolve([]);
      },
    };
    const facesTopic = topicName(topics.faces, 'fm');
    await runStageInMemory(testFaceStage(detector, { minFaceSize: 30 }), {
      topicPrefix: 'fm',
      inputs: (prefix) => [
        {
          topic: topicName(topics.frames, prefix),
          key: 'cam',
          value: encodeMessage(
            topics.frames,
            makeMessage(topics.frames, {
              ref: { streamId: 'cam', seq: 1, width: width, height: height, sourceWidth: width * 2, sourceHeight: height * 2 },
              jpeg,
            }),
          ),
        },
      ],
      read: [facesTopic],
      done: (got) => got.get(facesTopic)!.length >= 1,
    });
    // 30 source pixels are 15 pixels of a frame ingest halved.
    assert.deepEqual(asked, [15]);
  });

  it("passes every detected face on or counts it dropped, by reason, in emostream_face_dropped_total and the stream's account", async () => {
    const jpeg = await sharp(readFileSync(still)).jpeg().toBuffer();
    const { width, height } = await sharp(jpeg).metadata();
    // Per frame: a face seen throughout (high score), one narrower than FACE_MIN_SIZE (20), one
    // scoring below the tracker's birth threshold (0.7) that no track awaits.
    const detector: FaceDetector = {
      detect() {
        return Promise.resolve([
          { x1: 30, y1: 20, x2: 130, y2: 140, score: 0.95 },
          { x1: 200, y1: 20, x2: 210, y2: 30, score: 0.9 },
          { x1: 300, y1: 100, x2: 360, y2: 170, score: 0.6 },
        ]);
      },
    };
    const registry = new Registry();
    const accounts: FrameFaceAccount[] = [];
    // A track needs two frames in a row before it is passed on: the first frame's face is unconfirmed.
    const stage = testFaceStage(detector, {
      metrics: new FaceMetrics(registry),
      tracker: { minHits: 2 },
      onFaceAccount: (streamId, account) => {
        assert.equal(streamId, 'desk');
        accounts.push(account);
      },
    });
    const facesTopic = topicName(topics.faces, 'fd');
    const { records } = await runStageInMemory(stage, {
      topicPrefix: 'fd',
      inputs: (prefix) =>
        [1, 7, 13].map((seq) => ({
          topic: topicName(topics.frames, prefix),
          key: 'desk',
          value: encodeMessage(
            topics.frames,
            makeMessage(topics.frames, { ref: { streamId: 'desk', seq, width: width, height: height }, jpeg }),
          ),
        })),
      read: [facesTopic],
      done: (got) => got.get(facesTopic)!.length >= 3,
    });
    const events = records.get(facesTopic)!.map((r) => fromBinary(FaceCropsSchema, r.value!).faces.length);
    assert.deepEqual(events, [0, 1, 1]);
    assert.deepEqual(accounts, [
      { detected: 3, passedOn: 0, dropped: { unconfirmed_track: 1, min_size: 1, low_score: 1 } },
      { detected: 3, passedOn: 1, dropped: { min_size: 1, low_score: 1 } },
      { detected: 3, passedOn: 1, dropped: { min_size: 1, low_score: 1 } },
    ]);
    const value = async (name: string, labels: Record<string, string> = {}) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))!.value;
    assert.equal(await value('emostream_face_detections_total'), 9);
    assert.equal(await value('emostream_face_crops_total'), 2);
    assert.equal(await value('emostream_face_dropped_total', { reason: 'min_size' }), 3);
    assert.equal(await value('emostream_face_dropped_total', { reason: 'low_score' }), 3);
    assert.equal(await value('emostream_face_dropped_total', { reason: 'unconfirmed_track' }), 1);
  });
});

describe('face stage tracker state', () => {
  it('writes each stream’s tracker state with every frame, and a stage restored from it goes on with the same ids', async () => {
    const jpeg = readFileSync(still);
    const { width, height } = await sharp(jpeg).metadata();
    // A face that is seen, then a second one; the first leaves before the "restart".
    const facesAt: Record<number, [number, number][]> = {
      1: [[30, 20]],
      6: [
        [32, 20],
        [200, 40],
      ],
      11: [[200, 40]],
      16: [[202, 40]],
      21: [[204, 41]],
    };
    let seqNow = 0;
    const detector: FaceDetector = {
      detect() {
        return Promise.resolve((facesAt[seqNow] ?? []).map(([x, y]) => ({ x1: x, y1: y, x2: x + 90, y2: y + 100, score: 0.95 })));
      },
    };
    const saved: [string, StreamSnapshot][] = [];
    const store: TrackerStateStore = { load: () => Promise.resolve(saved) };
    const stage = () => testFaceStage(detector, { tracker: { maxMisses: 1 }, trackerState: store });
    const statesTopic = topicName(trackerStateTopic, 'ts');
    const facesTopic = topicName(topics.faces, 'ts');
    const run = async (seqs: number[]) => {
      const inputs = seqs.map((seq) => makeMessage(topics.frames, { ref: { streamId: 'desk', seq, width: width, height: height }, jpeg }));
      // The detector answers for the frame being handled: frames go one at a time.
      const records = [];
      for (const input of inputs) {
        seqNow = input.ref!.seq;
        const { records: out } = await runStageInMemory(stage(), {
          topicPrefix: 'ts',
          inputs: (prefix) => [{ topic: topicName(topics.frames, prefix), key: 'desk', value: encodeMessage(topics.frames, input) }],
          read: [facesTopic, statesTopic],
          done: (got) => got.get(facesTopic)!.length >= 1 && got.get(statesTopic)!.length >= 1,
        });
        for (const r of out.get(statesTopic)!) saved.push([r.key, decodeTrackerState(r.value!).state]);
        records.push(...out.get(facesTopic)!.map((r) => fromBinary(FaceCropsSchema, r.value!)));
      }
      return records;
    };
    // Each frame runs on a new stage: every one restores the state its predecessor saved.
    const out = await run([1, 6, 11, 16, 21]);
    assert.deepEqual(
      out.map((m) => m.faces.map((f) => f.trackId)),
      [[1], [1, 2], [2], [2], [2]],
      'the second face keeps id 2 across every restart',
    );
    assert.deepEqual(
      out.map((m) => [...m.endedTrackIds]),
      [[], [], [], [1], []],
    );
    assert.equal(saved.length, 5, 'one saved state per frame');
    assert.deepEqual(
      saved.map(([, s]) => s.seq),
      [1, 6, 11, 16, 21],
    );
  });
});

describe('face stage scene cuts', () => {
  // 768×432 pictures: a grey or blue background and a person (face box in skin, head and shoulders
  // in dark clothes and hair around it); the stand-in detector returns the face box of each frame.
  type Colour = [number, number, number];
  const [W, H] = [768, 432];
  const person = (size: number, top: number) => {
    const face = { x1: W / 2 - size / 2, y1: top, x2: W / 2 + size / 2, y2: top + size * 1.15, score: 0.95 };
    return { face, body: { x1: W / 2 - size * 1.2, y1: top - size * 0.4, x2: W / 2 + size * 1.2, y2: H } };
  };
  const draw = async (background: Colour, who: ReturnType<typeof person>) => {
    const data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const inside = (b: { x1: number; y1: number; x2: number; y2: number }) => x >= b.x1 && x < b.x2 && y >= b.y1 && y < b.y2;
        data.set(inside(who.face) ? [224, 160, 96] : inside(who.body) ? [32, 32, 32] : background, (y * W + x) * 3);
      }
    return sharp(data, { raw: { width: W, height: H, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
  };

  it('ends no track when a face comes up to the camera (only the scenery outside the faces tells a cut), and ends them at a real cut', async () => {
    const grey: Colour = [96, 96, 96];
    const far = person(48, 160);
    const near = person(224, 80);
    const frames = [
      { seq: 1, jpeg: await draw(grey, far) },
      // The person came up to the camera: head and shoulders now fill most of the picture.
      { seq: 6, jpeg: await draw(grey, near) },
      // Another shot behind the same close-up.
      { seq: 11, jpeg: await draw([32, 96, 224], near) },
    ];
    // Frames are decoded in parallel (detection runs ahead): tell them apart by their pixels, not by call order.
    const detector: FaceDetector = {
      detect(frame) {
        const shoulder = frame.data[(200 * W + 150) * 3]!;
        return Promise.resolve([(shoulder < 64 ? near : far).face]);
      },
    };
    const facesTopic = topicName(topics.faces, 'cut');
    const { records } = await runStageInMemory(testFaceStage(detector), {
      topicPrefix: 'cut',
      inputs: (prefix) =>
        frames.map(({ seq, jpeg }) => ({
          topic: topicName(topics.frames, prefix),
          key: 'cam',
          value: encodeMessage(topics.frames, makeMessage(topics.frames, { ref: { streamId: 'cam', seq, width: W, height: H }, jpeg })),
        })),
      read: [facesTopic],
      done: (got) => got.get(facesTopic)!.length >= frames.length,
    });
    const out = records.get(facesTopic)!.map((r) => fromBinary(FaceCropsSchema, r.value!));
    // The close-up is 4.7 times the far face: too big a step to keep the id (a new track), but no cut.
    assert.deepEqual(
      out.map((m) => [...m.endedTrackIds]),
      [[], [], [1, 2]],
      'the close-up ends no track; the change of shot ends them all',
    );
  });
});
