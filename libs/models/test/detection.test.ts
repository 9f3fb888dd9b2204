// Issue 3's "Must show" detection items, with the default pack's detection mode on the real media
// of ../shared/data. Face counts come from MANIFEST.md and the issue; a frame passes when the mode
// returns at least as many boxes as faces present. Extra boxes are reported, and bounded.
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import type { DetectorModel } from '@emostream/vision';
import { DEFAULT_MODE } from '../src/default-pack.js';
import { detectWith, MODES, openDefaultDetectors, type Mode } from '../scripts/recall.js';
import { unshippedMediaMissing } from '@emostream/shared/testing';
import { MEDIA_CASES, sampledFrames, type MediaCase } from '../scripts/test-media.js';

let models: Map<string, DetectorModel>;
const mode: Mode = DEFAULT_MODE;

before(async () => {
  models = await openDefaultDetectors();
});

const byFile = (file: string): MediaCase => {
  const c = MEDIA_CASES.find((m) => m.file.endsWith(file));
  if (!c) throw new Error(`no media case ${file}`);
  return c;
};

/**
 * Boxes per frame for the case's sampled frames (every `step`-th of them). Every box must be about
 * face-sized for the file (half MANIFEST.md's smallest face to 1.6 × its largest: detectors box
 * faces differently), so a stray box elsewhere cannot stand in for a missed face unnoticed.
 */
async function counts(c: MediaCase, step = 1): Promise<{ index: number; count: number }[]> {
  const frames = (await sampledFrames(c)).filter((_, i) => i % step === 0);
  const out = [];
  for (const f of frames) {
    const boxes = await detectWith(models, mode, f.image);
    for (const b of boxes) {
      const w = b.x2 - b.x1;
      assert.ok(w >= 0.5 * c.faceWidth[0] && w <= 1.6 * c.faceWidth[1], `${c.file} frame ${f.index}: a box ${w.toFixed(0)} px wide`);
    }
    out.push({ index: f.index, count: boxes.length });
  }
  return out;
}

function report(t: TestContext, c: MediaCase, found: { index: number; count: number }[]): void {
  t.diagnostic(`${mode.name} on ${c.file}: boxes per frame ${found.map((f) => f.count).join('')} (faces ${c.faces})`);
}

describe(`default detection mode (${DEFAULT_MODE.name}) on the test media`, () => {
  it('finds the face in each of the seven faceapi_*.jpg stills, and only it', { skip: unshippedMediaMissing(...MEDIA_CASES.filter((m) => m.file.includes('faceapi_')).map((m) => m.file)) }, async (t: TestContext) => {
    for (const c of MEDIA_CASES.filter((m) => m.file.includes('faceapi_'))) {
      const found = await counts(c);
      report(t, c, found);
      assert.equal(found[0]!.count, 1, c.file);
    }
  });

  it('finds the face in every sampled frame of the six single-face CREMA-D clips', async (t: TestContext) => {
    for (const c of MEDIA_CASES.filter((m) => m.kind === 'video')) {
      const found = await counts(c);
      report(t, c, found);
      for (const f of found) assert.ok(f.count >= 1, `${c.file} frame ${f.index}: no face`);
      assert.ok(found.filter((f) => f.count > 1).length <= 1, `${c.file}: more than one frame with extra boxes`);
    }
  });

  for (const file of ['friends_6faces_insightface_t1.jpg', 'selfie_plus_group_6faces_mixed_sizes.jpg']) {
    it(`finds all 6 faces in ${file}`, { skip: unshippedMediaMissing(`stills/${file}`) }, async (t: TestContext) => {
      const c = byFile(file);
      const [found] = await counts(c);
      report(t, c, [found!]);
      assert.equal(found!.count, 6);
    });
  }

  // GIF scenes: every 2nd frame keeps the test short; npm run recall measures every frame.
  it('finds all 3 people in intel_corridor_3people_walk_and_pause.gif once they stand still (frames 20 on)', async (t: TestContext) => {
    const c = byFile('intel_corridor_3people_walk_and_pause.gif');
    const found = await counts(c, 2);
    report(t, c, found);
    for (const f of found.filter((x) => x.index >= 20)) assert.equal(f.count, 3, `frame ${f.index}`);
  });

  it('finds both people in intel_headpose_2people_female_male.gif in most frames', async (t: TestContext) => {
    const c = byFile('intel_headpose_2people_female_male.gif');
    const found = await counts(c, 2);
    report(t, c, found);
    const both = found.filter((f) => f.count === 2).length;
    assert.ok(both >= 0.9 * found.length, `both found in ${both} of ${found.length} frames`);
  });

  it('tiled mode: BlazeFace on tiles finds the Friends face that whole-frame BlazeFace misses', { skip: unshippedMediaMissing('stills/friends_6faces_insightface_t1.jpg') }, async () => {
    const c = byFile('friends_6faces_insightface_t1.jpg');
    const [frame] = await sampledFrames(c);
    const blazeface = MODES.find((m) => m.name === 'blazeface')!;
    const tiled = MODES.find((m) => m.name === 'blazeface+tiled')!;
    assert.equal((await detectWith(models, blazeface, frame!.image)).length, 5);
    assert.equal((await detectWith(models, tiled, frame!.image)).length, 6);
  });

  it('finds both people in intel_corridor_2people_walking_smallfaces.gif, small faces included', async (t: TestContext) => {
    // The issue asks for both once their faces exceed ~20 px (the woman's from about frame 20);
    // the default mode finds both from the first frame, where her face is about 12 px wide.
    const c = byFile('intel_corridor_2people_walking_smallfaces.gif');
    const found = await counts(c, 2);
    report(t, c, found);
    for (const f of found) assert.equal(f.count, 2, `frame ${f.index}`);
  });
});
