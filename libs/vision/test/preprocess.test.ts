import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EmptyCropError,
  adjustBox,
  clampBox,
  crop,
  preprocessFace,
  resizeArea,
  resizeNearest,
  writeTensor,
  type RgbImage,
  type TensorSettings,
} from '../src/index.js';

/** A w×h image whose pixel (x, y) is R = 10x + y, G = 100 + x, B = 200 + y. */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([10 * x + y, 100 + x, 200 + y], (y * width + x) * 3);
  return { width, height, data };
}
const red = (img: RgbImage) => Array.from({ length: img.width * img.height }, (_, p) => img.data[p * 3]!);

const VGGFACE2: TensorSettings = {
  colorOrder: 'BGR',
  mean: [91.4953, 103.8827, 131.0912],
  scale: 1,
  resize: 'nearest',
  inputSize: { width: 2, height: 2 },
  layout: 'NHWC',
};

test('clamps a box to the frame like the reference: truncate, start ≥ 0, end ≤ size − 1', () => {
  assert.deepEqual(clampBox({ x: -5.7, y: 3.9, width: 25.9, height: 46.1 }, 10, 8), { x1: 0, y1: 3, x2: 9, y2: 7 });
  assert.deepEqual(clampBox({ x: 2.25, y: 1.75, width: 3.5, height: 2.5 }, 10, 8), { x1: 2, y1: 1, x2: 5, y2: 4 });
});

test('a box outside the frame is an EmptyCropError naming the box and frame', () => {
  assert.throws(
    () => clampBox({ x: 12, y: 0, width: 8, height: 5 }, 10, 8),
    (e: unknown) => e instanceof EmptyCropError && /box at \(12, 0\) of 8×5 leaves no pixels inside the 10×8 frame/.test(e.message),
  );
});

test('crops the half-open rectangle [x1, x2) × [y1, y2)', () => {
  const face = crop(gradient(6, 5), { x1: 1, y1: 2, x2: 4, y2: 4 });
  assert.equal(face.width, 3);
  assert.equal(face.height, 2);
  assert.deepEqual(red(face), [12, 22, 32, 13, 23, 33]);
});

test('expands a box around its centre and squares it', () => {
  assert.deepEqual(adjustBox({ x: 10, y: 20, width: 20, height: 40 }, { expand: 1.5, square: false }), {
    x: 5,
    y: 10,
    width: 30,
    height: 60,
  });
  assert.deepEqual(adjustBox({ x: 10, y: 20, width: 20, height: 40 }, { expand: 1, square: true }), { x: 0, y: 20, width: 40, height: 40 });
});

test('nearest (Pillow) halving picks the second pixel of each pair; doubling repeats pixels', () => {
  // 4 → 2: source index floor(1 + 2k) = 1, 3.
  assert.deepEqual(red(resizeNearest(gradient(4, 4), 2, 2)), [11, 31, 13, 33]);
  // 2 → 4: floor(0.25 + 0.5k) = 0, 0, 1, 1.
  assert.deepEqual(red(resizeNearest(gradient(2, 1), 4, 1)), [0, 0, 10, 10]);
});

test('area (OpenCV) 2×2 shrinking averages each block, rounding halves up', () => {
  // Block (0..1, 0..1) reds: 0, 10, 1, 11 → 5.5 → 6; block (2..3, 0..1): 20, 30, 21, 31 → 25.5 → 26.
  assert.deepEqual(red(resizeArea(gradient(4, 2), 2, 1)), [6, 26]);
  // 3 → 1 averages all three with weight 1/3: (0 + 10 + 20) / 3 = 10.
  assert.deepEqual(red(resizeArea(gradient(3, 1), 1, 1)), [10]);
});

test('writes BGR minus the VGGFace2 means, NHWC and NCHW', () => {
  const pixel: RgbImage = { width: 1, height: 1, data: Uint8Array.from([200, 100, 50]) };
  const nhwc = new Float32Array(3);
  writeTensor(pixel, { ...VGGFACE2, inputSize: { width: 1, height: 1 } }, nhwc);
  assert.deepEqual(Array.from(nhwc), [50 - 91.4953, 100 - 103.8827, 200 - 131.0912].map(Math.fround));

  const two: RgbImage = { width: 2, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
  const nchw = new Float32Array(6);
  writeTensor(two, { ...VGGFACE2, mean: [0, 0, 0], layout: 'NCHW', inputSize: { width: 2, height: 1 } }, nchw);
  assert.deepEqual(Array.from(nchw), [3, 6, 2, 5, 1, 4]); // B plane, G plane, R plane
});

test('preprocessFace crops, resizes and writes one batch row at an offset', () => {
  const out = new Float32Array(2 * 2 * 2 * 3).fill(-1);
  preprocessFace(
    gradient(8, 8),
    { x: 2, y: 2, width: 4, height: 4 },
    { expand: 1, square: false },
    { ...VGGFACE2, mean: [0, 0, 0] },
    out,
    12,
  );
  assert.deepEqual(Array.from(out.subarray(0, 12)), new Array(12).fill(-1), 'the first row is untouched');
  // Crop x, y ∈ [2, 6) → nearest 4→2 picks x, y ∈ {3, 5}; first pixel (3, 3): B 203, G 103, R 33.
  assert.deepEqual(Array.from(out.subarray(12, 15)), [203, 103, 33]);
  // Last pixel (5, 5): B 205, G 105, R 55.
  assert.deepEqual(Array.from(out.subarray(21, 24)), [205, 105, 55]);
});

test('preprocessFace refuses a padding fit, which only detector inputs use', () => {
  assert.throws(
    () =>
      preprocessFace(
        gradient(4, 4),
        { x: 0, y: 0, width: 3, height: 3 },
        { expand: 1, square: false },
        { ...VGGFACE2, fit: 'pad-center' },
        new Float32Array(12),
      ),
    /fit "pad-center" is for detector inputs/,
  );
});
