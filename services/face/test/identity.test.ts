// The tracker with the default pack's identity model (face-api's face recognition net) on real faces:
// two walkers of the Intel corridor clip, whom the cheap descriptor confuses (the crowd-swap fault of
// issue 25), kept apart by their identity descriptors. Needs the default pack (scripts/test.mjs builds it).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { sharedData } from '@emostream/shared/testing';
import { openPackFaceDetector, openPackIdentity, resolvePackDir, type FaceIdentityModel, type RgbImage } from '@emostream/vision';
import { appearanceOf, cosine, FaceTracker, faceTrackerConfigSchema, type Detection } from '../src/index.js';

const CLIP = 'scenes/intel_corridor_3people_walk_and_pause.gif';

async function gifFrame(page: number): Promise<RgbImage> {
  const { data, info } = await sharp(sharedData(CLIP), { page }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Both descriptors of one real face. */
interface Described {
  appearance: Float32Array;
  identity: Float32Array;
}

describe('FaceTracker with the identity model on real faces', () => {
  let identity: FaceIdentityModel;
  /** The middle and right walkers (left to right: 1 and 2) at the clip's frame 0 and frame 18. */
  const walkers: Record<'p' | 'q', Record<0 | 18, Described>> = {} as never;

  before(async () => {
    const pack = resolvePackDir('default');
    const found = await openPackIdentity(pack, { intraOpThreads: 1 });
    assert.ok(found, `the default pack (${pack}) has no identity model`);
    identity = found;
    const detector = await openPackFaceDetector(pack, { intraOpThreads: 1 });
    for (const page of [0, 18] as const) {
      const frame = await gifFrame(page);
      const boxes = (await detector.detect(frame))
        .map((d) => ({ x: d.x1, y: d.y1, width: d.x2 - d.x1, height: d.y2 - d.y1 }))
        .sort((a, b) => a.x - b.x);
      assert.equal(boxes.length, 3, `frame ${page} of ${CLIP}: ${boxes.length} faces, the clip has 3 walkers`);
      const ids = await identity.describe(frame, boxes);
      (walkers.p ??= {} as never)[page] = { appearance: appearanceOf(frame, boxes[1]!), identity: ids[1]! };
      (walkers.q ??= {} as never)[page] = { appearance: appearanceOf(frame, boxes[2]!), identity: ids[2]! };
    }
  });
  after(() => identity?.release());

  it('tells the two walkers apart where the cheap descriptor does not', () => {
    const { p, q } = walkers;
    // The cheap descriptor finds walker q (18 frames later) more like walker p's first look than p's own later face.
    assert.ok(
      cosine(p[0].appearance, q[18].appearance) > cosine(p[0].appearance, p[18].appearance),
      `cheap: p→q ${cosine(p[0].appearance, q[18].appearance).toFixed(3)}, p→p ${cosine(p[0].appearance, p[18].appearance).toFixed(3)}`,
    );
    // The identity descriptor does, both ways, by more than the tracker's swap margin on it.
    const { identitySwapMargin } = faceTrackerConfigSchema.parse({});
    for (const [self, other] of [
      [p, q],
      [q, p],
    ] as const) {
      const own = cosine(self[0].identity, self[18].identity);
      const another = cosine(self[0].identity, other[18].identity);
      assert.ok(own > another + identitySwapMargin, `identity: own ${own.toFixed(3)}, the other walker ${another.toFixed(3)}`);
    }
  });

  it("gives a hidden walker's id back to that walker, not to the other walker beside it whom the cheap descriptor finds more alike", () => {
    const { p, q } = walkers;
    /** p walks right from x 100 and is hidden for two frames; then q's face and p's come into view side by side. */
    const reappearance = (descriptors: 'appearance' | 'both') => {
      const face = (x: number, who: Described): Detection => ({
        box: { x, y: 100, width: 100, height: 100 },
        score: 0.9,
        appearance: who.appearance,
        ...(descriptors === 'both' ? { identity: who.identity } : {}),
      });
      const tracker = new FaceTracker(faceTrackerConfigSchema.parse({ minHits: 1, maxMisses: 5 }));
      tracker.update([face(100, p[0])], 1);
      tracker.update([face(140, p[0])], 2);
      tracker.update([], 3);
      tracker.update([], 4);
      // Neither face overlaps p's last box or its prediction (x 260); both are within re-identification reach.
      const update = tracker.update([face(400, q[18]), face(520, p[18])], 5);
      return Object.fromEntries(update.tracks.map((t) => [t.trackId, t.detectionIndex === 0 ? 'q' : 'p']));
    };
    assert.equal(reappearance('both')[1], 'p', "with identity descriptors p's id (1) goes back to p");
    assert.equal(
      reappearance('appearance')[1],
      'q',
      "the cheap descriptor alone gives p's id (1) to q (the fault the identity model fixes)",
    );
  });
});
