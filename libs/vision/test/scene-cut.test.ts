import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  faceSurroundings,
  frameSignature,
  frameSignatureYuv420,
  sceneChange,
  SceneCutDetector,
  type BoxLike,
  type RgbImage,
  type Yuv420Frame,
} from '../src/index.js';

type Colour = [number, number, number];
type Rect = [x: number, y: number, width: number, height: number, colour: Colour];

// Colours at the middle of the signature's levels (32, 96, 160, 224), so the YUV round trip keeps their bins.
const GREY: Colour = [96, 96, 96];
const BLUE: Colour = [32, 96, 224];
const SKIN: Colour = [224, 160, 96];
const HAIR: Colour = [32, 32, 32];

/** A `width` × `height` picture of `background` with `rects` painted over it in order. */
function picture(width: number, height: number, background: Colour, rects: readonly Rect[] = []): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(background, i * 3);
  for (const [x0, y0, w, h, colour] of rects)
    for (let y = Math.max(0, Math.round(y0)); y < Math.min(height, Math.round(y0 + h)); y++)
      for (let x = Math.max(0, Math.round(x0)); x < Math.min(width, Math.round(x0 + w)); x++) data.set(colour, (y * width + x) * 3);
  return { width, height, data };
}

/** The picture as ffmpeg's yuv420p (BT.601, limited range), with padded rows and planes as ffmpeg aligns them. */
function toYuv420(image: RgbImage, pad = 16): Yuv420Frame {
  const stride = image.width + pad;
  const paddedHeight = image.height + 2;
  const data = new Uint8Array(stride * paddedHeight * 1.5);
  const uPlane = stride * paddedHeight;
  const vPlane = uPlane + (stride / 2) * (paddedHeight / 2);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      const [r, g, b] = image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3) as unknown as Colour;
      data[y * stride + x] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
      const chroma = (y >> 1) * (stride / 2) + (x >> 1);
      data[uPlane + chroma] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
      data[vPlane + chroma] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
    }
  }
  return { data, width: image.width, height: image.height, stride, paddedHeight };
}

/**
 * A person as the detector sees them: the face box (skin), inside a head and shoulders (hair, clothes)
 * that change the picture around it too. `size` is the face's width.
 */
function person(cx: number, top: number, size: number): { rects: Rect[]; face: BoxLike } {
  const face = { x: cx - size / 2, y: top, width: size, height: size * 1.15 };
  const body: Rect = [cx - size * 1.2, top - size * 0.4, size * 2.4, 1000, HAIR];
  return { rects: [body, [face.x, face.y, face.width, face.height, SKIN]], face };
}

describe('scene cuts (one definition for the tracker and the annotated video)', () => {
  it('measures the changed share of the picture: none for the same frame, all for another shot', () => {
    const a = frameSignature(picture(96, 54, GREY));
    assert.equal(sceneChange(a, a), 0);
    assert.equal(sceneChange(a, frameSignature(picture(96, 54, BLUE))), 1);
  });

  it('sees a cut when the shot changes, not when a face walks over a steady background', () => {
    const cuts = new SceneCutDetector();
    const walker = (x: number, background = GREY) => frameSignature(picture(192, 108, background, person(x, 30, 16).rects));
    assert.deepEqual(
      [walker(30), walker(60), walker(100), walker(140), walker(140, BLUE)].map((s) => cuts.next(s)),
      [false, false, false, false, true],
    );
  });

  it('reads a yuv420p frame (padded rows and planes, as ffmpeg writes it) as the signature of its RGB picture', () => {
    const shot = picture(192, 108, GREY, person(90, 30, 24).rects);
    const other = picture(192, 108, BLUE, person(60, 20, 30).rects);
    for (const image of [shot, other]) {
      const rgb = frameSignature(image);
      const yuv = frameSignatureYuv420(toYuv420(image));
      // Colours agree but at the edges of shapes, where yuv420p shares a chroma sample among 2×2 pixels.
      const moved = rgb.reduce((sum, count, i) => sum + Math.abs(count - yuv[i]!), 0) / 2 / rgb.reduce((sum, c) => sum + c, 0);
      assert.ok(moved < 0.05, `${(moved * 100).toFixed(1)} % of the samples in another colour`);
      assert.equal(sceneChange(rgb, yuv), 0);
    }
    const cuts = new SceneCutDetector();
    assert.deepEqual(
      [shot, shot, other].map((image) => cuts.next(frameSignatureYuv420(toYuv420(image)))),
      [false, false, true],
    );
  });

  it('does not read a face coming up to the camera as a cut when the faces are left out, and still sees a real cut beside a close-up', () => {
    const far = person(96, 40, 12);
    const near = person(96, 20, 56);
    const farFrame = picture(192, 108, GREY, far.rects);
    const nearFrame = picture(192, 108, GREY, near.rects);
    // The risk guarded: the close-up's head and shoulders change most of the picture.
    assert.ok(sceneChange(frameSignature(farFrame), frameSignature(nearFrame)) >= 0.7, 'control: the whole frames look like a cut');
    const scenery = (image: RgbImage, face: BoxLike) => frameSignature(image, { ignore: faceSurroundings([face]) });
    assert.ok(sceneChange(scenery(farFrame, far.face), scenery(nearFrame, near.face)) < 0.7, 'a close-up is no cut');
    const nearElsewhere = picture(192, 108, BLUE, near.rects);
    assert.equal(sceneChange(scenery(nearFrame, near.face), scenery(nearElsewhere, near.face)), 1, 'the scenery beside it changed');
  });

  it('says no cut when faces cover the whole picture (nothing left to compare)', () => {
    const everything = [{ x: 0, y: 0, width: 96, height: 54 }];
    const a = frameSignature(picture(96, 54, GREY), { ignore: everything });
    const b = frameSignature(picture(96, 54, BLUE), { ignore: everything });
    assert.equal(sceneChange(a, b), 0);
  });
});
