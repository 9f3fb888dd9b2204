import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  blazeFaceAnchors,
  cropImage,
  DetectionConfigSchema,
  mergeDetections,
  nms,
  planTiles,
  squareResize,
  toDetections,
  detectTiled,
  detectAtFaceSize,
  planFaceSize,
  detectWholeAtFaceSize,
  detectWholeAtSide,
  wholeFrameScale,
  mapBox,
  modeDetector,
  MAX_WHOLE_PIXELS,
  type DetectorModel,
  type RgbImage,
} from '../src/index.js';

/** A w×h image whose red channel is 10·x + y, green 0, blue 255. */
function ramp(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      data.set([10 * x + y, 0, 255], (y * width + x) * 3);
    }
  return { width, height, data };
}

describe('squareResize', () => {
  it('pads a wide image at the bottom with zeros and samples bilinearly without half-pixel centres', () => {
    // 4×2 → square side 4 → size 2: ratio 2, output (r, c) samples source (2r, 2c) exactly.
    const { data, placement } = squareResize(ramp(4, 2), 2, 'top-left');
    assert.deepEqual(placement, { side: 4, scale: 2, offsetX: 0, offsetY: 0 });
    assert.deepEqual([...data], [0, 0, 255, 20, 0, 255, 0, 0, 0, 0, 0, 0]); // row 1 reads padding rows
  });

  it('interpolates between source pixels by the fractional source coordinate', () => {
    // 2×2 → size 3: ratio 2/3; output column 1 samples x = 2/3 between red 0 and 10.
    const { data } = squareResize(ramp(2, 2), 3, 'top-left');
    assert.ok(Math.abs(data[3]! - 20 / 3) < 1e-5);
    // The last column samples x = 4/3, clamped to the last pixel: red 10.
    assert.equal(data[6], 10);
  });

  it('gives, to the bit, what the per-pixel formula gives on any shape and alignment', () => {
    // The formula as face-api's resizeBilinear defines it, one source read per tap (the oracle).
    const naive = (image: RgbImage, size: number, align: 'top-left' | 'centre'): Float32Array => {
      const side = Math.max(image.width, image.height);
      const diff = side - Math.min(image.width, image.height);
      const before = align === 'centre' ? diff - Math.round(diff * 0.5) : 0;
      const ox = image.width < side ? before : 0;
      const oy = image.height < side ? before : 0;
      const at = (x: number, y: number, c: number) =>
        x - ox < 0 || y - oy < 0 || x - ox >= image.width || y - oy >= image.height
          ? 0
          : image.data[((y - oy) * image.width + x - ox) * 3 + c]!;
      const out = new Float32Array(size * size * 3);
      for (let r = 0; r < size; r++)
        for (let col = 0; col < size; col++)
          for (let c = 0; c < 3; c++) {
            const sy = (side / size) * r;
            const sx = (side / size) * col;
            const [y0, x0] = [Math.floor(sy), Math.floor(sx)];
            const [y1, x1] = [Math.min(side - 1, Math.ceil(sy)), Math.min(side - 1, Math.ceil(sx))];
            const top = at(x0, y0, c) + (at(x1, y0, c) - at(x0, y0, c)) * (sx - x0);
            const bottom = at(x0, y1, c) + (at(x1, y1, c) - at(x0, y1, c)) * (sx - x0);
            out[(r * size + col) * 3 + c] = top + (bottom - top) * (sy - y0);
          }
      return out;
    };
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const [width, height, size] of [
      [37, 21, 16],
      [21, 37, 50],
      [64, 64, 64],
      [160, 90, 128],
      [5, 120, 33],
      // Whole-number ratios (1, 2, 3): every ratio-th pixel, not the bilinear loop.
      [64, 36, 64],
      [36, 64, 64],
      [16, 16, 16],
      [128, 72, 64],
      [71, 96, 32],
      [45, 30, 15],
    ] as const) {
      const image = { width, height, data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256)) };
      for (const align of ['top-left', 'centre'] as const) {
        assert.deepEqual(squareResize(image, size, align).data, naive(image, size, align), `${width}×${height} → ${size}, ${align}`);
      }
    }
  });

  it('centres the image when asked: round(diff / 2) after, the rest before', () => {
    const { placement } = squareResize(ramp(2, 5), 5, 'centre');
    assert.equal(placement.offsetX, 1); // diff 3: 2 after, 1 before
    assert.equal(placement.offsetY, 0);
  });
});

describe('cropImage', () => {
  it('clamps the rectangle to the image and copies its rows', () => {
    const crop = cropImage(ramp(4, 3), 2.5, -1, 10, 3);
    assert.equal(crop.width, 2);
    assert.equal(crop.height, 2);
    assert.deepEqual([...crop.data.subarray(0, 3)], [20, 0, 255]);
  });
});

describe('nms', () => {
  const box = (x: number, score: number) => ({ x1: x, y1: 0, x2: x + 10, y2: 10, score });
  it('keeps the best of overlapping boxes and every separate one', () => {
    const kept = nms([box(0, 0.6), box(1, 0.9), box(50, 0.7)], 0.5);
    assert.deepEqual(
      kept.map((b) => b.score),
      [0.9, 0.7],
    );
  });
  it('merges a box lying inside another with the smaller-box metric, though their IoU is low', () => {
    const big = { x1: 0, y1: 0, x2: 40, y2: 40, score: 0.8 };
    const inner = { x1: 10, y1: 10, x2: 20, y2: 20, score: 0.9 };
    assert.equal(nms([big, inner], 0.5).length, 2);
    assert.equal(nms([big, inner], 0.5, 'smaller').length, 1);
  });
});

describe('toDetections', () => {
  it('maps normalised boxes of the square input back to frame pixels and clamps them', () => {
    const boxes = Float32Array.from([0.25, 0.25, 0.5, 0.5, 0.9, 0.9, 1.2, 1.2]);
    const scores = Float32Array.from([0.9, 0.8]);
    const { placement } = squareResize(ramp(8, 4), 4, 'top-left'); // side 8
    const found = toDetections(boxes, scores, 0.5, 4, placement, { width: 8, height: 4 });
    assert.deepEqual(found[0], { x1: 2, y1: 2, x2: 4, y2: 4, score: Math.fround(0.9) });
    assert.equal(found.length, 1, 'the second box lies below the frame once clamped');
  });
});

describe('blazeFaceAnchors', () => {
  it('makes 16×16 cells × 2 then 8×8 cells × 6 anchors at the cell centres of a 256 input', () => {
    const a = blazeFaceAnchors(256);
    assert.equal(a.length, 896);
    assert.deepEqual(a.slice(0, 3), [
      [8, 8],
      [8, 8],
      [24, 8],
    ]);
    assert.deepEqual(a[512], [16, 16]);
    assert.deepEqual(a[895], [240, 240]);
  });
});

describe('planTiles', () => {
  it('covers the frame with a grid whose neighbours overlap by the given fraction', () => {
    const tiles = planTiles(480, 270, { columns: 3, rows: 2, overlap: 0.25 });
    assert.equal(tiles.length, 6);
    assert.deepEqual(tiles[0], { x: 0, y: 0, w: 192, h: 154 });
    const last = tiles[5]!;
    assert.equal(last.x + last.w, 480);
    assert.equal(last.y + last.h, 270);
    assert.equal(tiles[1]!.x, 144); // 192 − 0.25·192
  });
  it('rejects an overlap of 1 or more', () => {
    assert.throws(() => planTiles(100, 100, { columns: 2, rows: 2, overlap: 1 }), RangeError);
  });
});

describe('detectTiled', () => {
  it('finds a face only a tile shows, maps it into the frame and merges duplicates across tiles', async () => {
    // A fake detector that "sees" one face whenever its input contains the marker colour.
    const model: DetectorModel = {
      name: 'fake',
      inputSize: 4,
      minScore: 0.5,
      iouThreshold: 0.5,
      run(image) {
        const seen = image.some((v, i) => i % 3 === 1 && v > 100);
        return Promise.resolve({ boxes: Float32Array.from([0, 0, 0.5, 0.5]), scores: Float32Array.from([seen ? 0.9 : 0.1]) });
      },
    };
    const frame = ramp(8, 8);
    frame.data[(1 * 8 + 1) * 3 + 1] = 255; // marker at (1, 1): in the top-left tile only
    const found = await detectTiled(model, frame, { columns: 2, rows: 2, overlap: 0.5 });
    assert.ok(found.length >= 1);
    assert.ok(found.every((d) => d.x2 <= 8 && d.y2 <= 8));
  });
});

describe('planFaceSize', () => {
  const tiling = { smallestFace: 10, overlap: 0.25 };
  /** Every pixel of the (scaled) frame lies in some tile, and neighbours share at least `overlap` pixels. */
  const assertCovers = (tiles: { x: number; y: number; w: number; h: number }[], w: number, h: number, overlap: number) => {
    for (const [axis, length] of [
      ['x', w],
      ['y', h],
    ] as const) {
      const spans = [...new Set(tiles.map((t) => `${t[axis]},${axis === 'x' ? t.w : t.h}`))].map(
        (s) => s.split(',').map(Number) as [number, number],
      );
      spans.sort((a, b) => a[0] - b[0]);
      assert.equal(spans[0]![0], 0);
      assert.equal(spans.at(-1)![0] + spans.at(-1)![1], length);
      for (let i = 1; i < spans.length; i++)
        assert.ok(spans[i - 1]![0] + spans[i - 1]![1] - spans[i]![0] >= overlap, `${axis} tiles ${i - 1}, ${i} overlap`);
    }
  };
  it('sees a frame that fits the input at the face scale in one pass', () => {
    assert.deepEqual(planFaceSize(480, 270, 640, 10, tiling), { scale: 1, tiles: [] });
    // 40-px faces: a quarter of 1920 fits 640, so the whole frame at a third.
    assert.deepEqual(planFaceSize(1920, 1080, 640, 40, tiling), { scale: 640 / 1920, tiles: [] });
  });
  it('tiles a 1080p frame at its own size for 10-px faces: 4 × 2 tiles of 640² overlapping by 160 px', () => {
    const plan = planFaceSize(1920, 1080, 640, 10, tiling);
    assert.equal(plan.scale, 1);
    assert.equal(plan.tiles.length, 8);
    assert.ok(plan.tiles.every((t) => t.w === 640 && t.h === 640));
    assertCovers(plan.tiles, 1920, 1080, 160);
  });
  it('scales the frame down first for larger faces, and enlarges smaller tiles for smaller faces', () => {
    const half = planFaceSize(1920, 1080, 640, 20, tiling);
    assert.equal(half.scale, 0.5);
    assert.equal(half.tiles.length, 2);
    assertCovers(half.tiles, 960, 540, 160);
    const small = planFaceSize(1920, 1080, 640, 5, tiling);
    assert.equal(small.scale, 1);
    assert.ok(small.tiles.every((t) => t.w === 320));
    assert.equal(small.tiles.length, 8 * 5);
    assertCovers(small.tiles, 1920, 1080, 80);
  });
  it('rejects a minimum face size of 0 and an overlap above a half', () => {
    assert.throws(() => planFaceSize(100, 100, 64, 0, tiling), RangeError);
    assert.throws(() => planFaceSize(100, 100, 64, 10, { smallestFace: 10, overlap: 0.6 }), RangeError);
  });
});

describe('detectAtFaceSize', () => {
  it('finds a face only its own size shows, maps it into the frame, and keeps one box for it across overlapping tiles', async () => {
    // A fake detector that sees a bright green pixel at its input's own scale: a box of 6 input px around it.
    const inputSize = 64;
    const model: DetectorModel = {
      name: 'fake',
      inputSize,
      minScore: 0.5,
      iouThreshold: 0.5,
      run(image) {
        const boxes: number[] = [];
        const scores: number[] = [];
        for (let i = 0; i < inputSize * inputSize; i++) {
          if (image[i * 3 + 1]! > 200 && image[i * 3]! < 50) {
            const x = (i % inputSize) / inputSize;
            const y = Math.floor(i / inputSize) / inputSize;
            boxes.push(x - 3 / inputSize, y - 3 / inputSize, x + 3 / inputSize, y + 3 / inputSize);
            scores.push(0.9);
          }
        }
        return Promise.resolve({ boxes: Float32Array.from(boxes), scores: Float32Array.from(scores) });
      },
    };
    const frame: RgbImage = { width: 320, height: 180, data: new Uint8Array(320 * 180 * 3).fill(0) };
    // One marker in the middle of a tile, one where tiles overlap (x 48–64 is shared by the first two).
    for (const [x, y] of [
      [150, 100],
      [56, 30],
    ] as const)
      frame.data.set([0, 255, 0], (y * 320 + x) * 3);
    const found = await detectAtFaceSize(model, frame, 10, { smallestFace: 10, overlap: 0.25 });
    const centres = found.map((d) => [Math.round((d.x1 + d.x2) / 2), Math.round((d.y1 + d.y2) / 2)]).sort((a, b) => a[0]! - b[0]!);
    assert.deepEqual(centres, [
      [56, 30],
      [150, 100],
    ]);
  });
});

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** A detector of any input size that boxes each bright green pixel, 6 input px wide, as the graph would: in [0, 1] of W and H. */
function markerDetector(): DetectorModel & { sizes: [number, number][] } {
  const sizes: [number, number][] = [];
  const find = (image: Float32Array | Uint8Array, width: number, height: number) => {
    const boxes: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < width * height; i++) {
      if (image[i * 3 + 1]! > 200 && image[i * 3]! < 50) {
        const x = (i % width) + 0.5;
        const y = Math.floor(i / width) + 0.5;
        boxes.push((x - 3) / width, (y - 3) / height, (x + 3) / width, (y + 3) / height);
        scores.push(0.9);
      }
    }
    return { boxes: Float32Array.from(boxes), scores: Float32Array.from(scores) };
  };
  return {
    name: 'marker',
    inputSize: 64,
    minScore: 0.5,
    iouThreshold: 0.5,
    sizes,
    run() {
      return Promise.reject(new Error('a whole-frame pass must not letterbox'));
    },
    runAnySize(image, width, height) {
      sizes.push([width, height]);
      return Promise.resolve(find(image, width, height));
    },
  };
}

describe('detectWholeAtFaceSize', () => {
  it('runs the detector once on the whole frame at the face-size scale and maps its boxes back into the frame', async () => {
    const frame: RgbImage = { width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3) };
    frame.data.set([0, 255, 0], (400 * 1280 + 600) * 3);
    const model = markerDetector();
    // FACE_MIN_SIZE 10 with a smallest face of 10: the frame at its own size, as the seed runs RetinaFace.
    const found = await detectWholeAtFaceSize(model, frame, 10, { smallestFace: 10 });
    assert.deepEqual(model.sizes, [[1280, 720]]);
    assert.equal(found.length, 1);
    // float32 boxes from the graph: equal to 1e-3 px.
    assert.deepEqual([found[0]!.x1, found[0]!.y1, found[0]!.x2, found[0]!.y2].map(round3), [597.5, 397.5, 603.5, 403.5]);
    // FACE_MIN_SIZE 16: the frame scaled by 10/16, one input of 800 × 450.
    await detectWholeAtFaceSize(model, frame, 16, { smallestFace: 10 });
    assert.deepEqual(model.sizes[1], [800, 450]);
    // FACE_MIN_SIZE 5: enlarged twice.
    await detectWholeAtFaceSize(model, { width: 480, height: 270, data: new Uint8Array(480 * 270 * 3) }, 5, { smallestFace: 10 });
    assert.deepEqual(model.sizes[2], [960, 540]);
  });

  it('caps the input at MAX_WHOLE_PIXELS, and refuses a detector of one input size', async () => {
    assert.equal(wholeFrameScale(1280, 720, 10, { smallestFace: 10 }), 1);
    assert.equal(wholeFrameScale(1280, 720, 5, { smallestFace: 10 }), 2);
    assert.equal(wholeFrameScale(480, 270, 10, { smallestFace: 10 }), 1, 'a small frame is seen at its own size');
    const capped = wholeFrameScale(3840, 2160, 5, { smallestFace: 10 });
    assert.ok(Math.abs(capped - 1) < 1e-9, `4K at FACE_MIN_SIZE 5 stays at ${MAX_WHOLE_PIXELS} pixels: scale ${capped}`);
    // The same detector without its any-size entry point.
    const fixed = markerDetector();
    delete fixed.runAnySize;
    const frame: RgbImage = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) };
    await assert.rejects(detectWholeAtFaceSize(fixed, frame, 10, { smallestFace: 10 }), /marker takes only its 64² input/);
  });

  it("maps the pass's boxes to the SSD's box shape in modeDetector (boxTransform), clamped to the frame", async () => {
    const frame: RgbImage = { width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3) };
    frame.data.set([0, 255, 0], (400 * 1280 + 600) * 3);
    const transform = { dx: -0.5, dy: 0.5, sw: 2, sh: 0.5 };
    const detector = modeDetector('marker+box', [
      { model: markerDetector(), faceSizeWhole: { smallestFace: 10 }, boxTransform: transform },
    ]);
    const [face] = await detector.detect(frame);
    // The 6-px box centred at (600.5, 400.5): centre moved by (−3, +3), 12 wide, 3 tall.
    assert.deepEqual([face!.x1, face!.y1, face!.x2, face!.y2].map(round3), [591.5, 402, 603.5, 405]);
    assert.deepEqual(mapBox({ x1: 0, y1: 0, x2: 10, y2: 10, score: 1 }, transform, frame), { x1: 0, y1: 7.5, x2: 10, y2: 12.5, score: 1 });
  });
});

describe('detectWholeAtSide (detection.json wholeFrame)', () => {
  it('sees the whole frame smoothed down to its longer side, one input of that size, never enlarged; boxes back in frame pixels', async () => {
    // A 4 × 4 marker survives the 4× Lanczos reduction as one bright green pixel.
    const frame: RgbImage = { width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3) };
    for (let y = 400; y < 404; y++) for (let x = 600; x < 604; x++) frame.data.set([0, 255, 0], (y * 1280 + x) * 3);
    const model = markerDetector();
    const found = await detectWholeAtSide(model, frame, { longerSide: 320 });
    assert.deepEqual(model.sizes, [[320, 180]]);
    assert.equal(found.length, 1);
    // The marker pixel (150, 100) of the 320 × 180 input, ±3 input px, is ±12 frame px around (602, 402).
    assert.deepEqual([found[0]!.x1, found[0]!.y1, found[0]!.x2, found[0]!.y2].map(round3), [590, 390, 614, 414]);
    await detectWholeAtSide(model, { width: 300, height: 200, data: new Uint8Array(300 * 200 * 3) }, { longerSide: 320 });
    assert.deepEqual(model.sizes[1], [300, 200], 'a frame within the side is seen as it is');
    const mode = modeDetector('coarse', [{ model, wholeFrame: { longerSide: 320 }, minFrameSide: 641 }]);
    await mode.detect(frame);
    assert.deepEqual(model.sizes[2], [320, 180], 'modeDetector runs a wholeFrame pass at its side');
    const fixed = markerDetector();
    delete fixed.runAnySize;
    await assert.rejects(detectWholeAtSide(fixed, frame, { longerSide: 320 }), /marker takes only its 64² input/);
  });

  it('is refused in detection.json on a detector of one input size, and beside another way of seeing the frame', () => {
    const entry = { file: 'd.onnx', sha256: 'a'.repeat(64), inputSize: 256, minScore: 0.5, iouThreshold: 0.4, licence: 'MIT' };
    const config = (anySize: boolean, pass: object) =>
      DetectionConfigSchema.safeParse({
        schemaVersion: 1,
        detectors: { d: anySize ? { ...entry, anySize: true } : entry },
        mode: { name: 'd', passes: [{ detector: 'd', ...pass }] },
      });
    assert.equal(config(true, { wholeFrame: { longerSide: 320 } }).success, true);
    assert.match(JSON.stringify(config(false, { wholeFrame: { longerSide: 320 } }).error?.issues), /takes only its 256² input/);
    assert.equal(config(true, { wholeFrame: { longerSide: 320 }, faceSizeWhole: { smallestFace: 10 } }).success, false);
    assert.equal(config(true, { wholeFrame: { longerSide: 0 } }).success, false);
  });
});

describe('modeDetector maxFrameSide and minFrameSide', () => {
  it('runs a pass only on frames whose longer side is at most maxFrameSide', async () => {
    const model = markerDetector();
    const detector = modeDetector('small only', [{ model, faceSizeWhole: { smallestFace: 10 }, maxFrameSide: 640 }]);
    await detector.detect({ width: 640, height: 360, data: new Uint8Array(640 * 360 * 3) });
    await detector.detect({ width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3) });
    assert.deepEqual(model.sizes, [[640, 360]]);
  });

  it('runs a pass only on frames whose longer side is at least minFrameSide', async () => {
    const model = markerDetector();
    const detector = modeDetector('large only', [{ model, faceSizeWhole: { smallestFace: 10 }, minFrameSide: 641 }]);
    await detector.detect({ width: 640, height: 360, data: new Uint8Array(640 * 360 * 3) });
    await detector.detect({ width: 1280, height: 720, data: new Uint8Array(1280 * 720 * 3) });
    assert.deepEqual(model.sizes, [[1280, 720]]);
  });
});

describe('mergeDetections', () => {
  it("keeps the earlier pass's box for a face both passes found, whatever the scores, and adds new faces", () => {
    const square = { x1: 10, y1: 12, x2: 30, y2: 32, score: 0.6 };
    const tall = { x1: 9, y1: 8, x2: 31, y2: 36, score: 0.99 };
    const other = { x1: 100, y1: 10, x2: 120, y2: 30, score: 0.9 };
    assert.deepEqual(mergeDetections([square], [tall, other]), [square, other]);
  });
});

describe('DetectionConfigSchema', () => {
  const detector = { file: 'd.onnx', sha256: 'a'.repeat(64), inputSize: 256, minScore: 0.5, iouThreshold: 0.3, licence: 'MIT' };
  it('accepts a mode whose passes name known detectors', () => {
    const ok = DetectionConfigSchema.safeParse({
      schemaVersion: 1,
      detectors: { d: detector },
      mode: { name: 'd', passes: [{ detector: 'd' }] },
    });
    assert.equal(ok.success, true);
  });
  it('rejects a pass naming an unknown detector, and unknown keys', () => {
    const bad = DetectionConfigSchema.safeParse({
      schemaVersion: 1,
      detectors: { d: detector },
      mode: { name: 'x', passes: [{ detector: 'x' }] },
    });
    assert.equal(bad.success, false);
    assert.match(JSON.stringify(bad.error?.issues), /unknown detector \\"x\\"/);
    const extra = DetectionConfigSchema.safeParse({
      schemaVersion: 1,
      detectors: { d: { ...detector, colour: 'red' } },
      mode: { name: 'd', passes: [{ detector: 'd' }] },
    });
    assert.equal(extra.success, false);
  });
  it('rejects a whole-frame pass on a detector of one input size, and two ways of seeing the frame in one pass', () => {
    const fixed = DetectionConfigSchema.safeParse({
      schemaVersion: 1,
      detectors: { d: detector },
      mode: { name: 'd', passes: [{ detector: 'd', faceSizeWhole: { smallestFace: 10 } }] },
    });
    assert.equal(fixed.success, false);
    assert.match(JSON.stringify(fixed.error?.issues), /takes only its 256² input \(no anySize\)/);
    const anySize = { schemaVersion: 1, detectors: { d: { ...detector, anySize: true } } };
    assert.equal(
      DetectionConfigSchema.safeParse({
        ...anySize,
        mode: {
          name: 'd',
          passes: [{ detector: 'd', faceSizeWhole: { smallestFace: 10 }, boxTransform: { dx: 0, dy: 0.05, sw: 1, sh: 0.9 } }],
        },
      }).success,
      true,
    );
    const both = DetectionConfigSchema.safeParse({
      ...anySize,
      mode: {
        name: 'd',
        passes: [{ detector: 'd', faceSizeWhole: { smallestFace: 10 }, faceSizeTiling: { smallestFace: 10, overlap: 0.25 } }],
      },
    });
    assert.equal(both.success, false);
  });
});
