import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cornersOf, cropRect, cropShapeSchema, REFERENCE_CROP_SHAPE, shapeBox } from '../src/index.js';

const frame = { width: 640, height: 480 };

describe('cropRect (reference crop of a face box)', () => {
  it('truncates the corners to whole pixels and excludes the right column and bottom row, like frame[y1:y2, x1:x2]', () => {
    assert.deepEqual(cropRect({ x1: 10.7, y1: 20.2, x2: 110.9, y2: 140.99 }, frame), { x: 10, y: 20, width: 100, height: 120 });
  });

  it('clamps x to [0, w−1] and y to [0, h−1]', () => {
    assert.deepEqual(cropRect({ x1: -15.5, y1: -3, x2: 700.2, y2: 500 }, frame), { x: 0, y: 0, width: 639, height: 479 });
    assert.deepEqual(cropRect({ x1: 600, y1: 400, x2: 640, y2: 480 }, frame), { x: 600, y: 400, width: 39, height: 79 });
  });

  it('gives no crop for a box outside the frame or without area', () => {
    assert.equal(cropRect({ x1: 700, y1: 10, x2: 800, y2: 100 }, frame), null);
    assert.equal(cropRect({ x1: -100, y1: 10, x2: -20, y2: 100 }, frame), null);
    assert.equal(cropRect({ x1: 50, y1: 10, x2: 50.9, y2: 100 }, frame), null);
    assert.equal(cropRect({ x1: Number.NaN, y1: 10, x2: 60, y2: 100 }, frame), null);
  });

  it('uses the box as it is with the reference shape', () => {
    const box = { x1: 1.5, y1: 2.5, x2: 3.5, y2: 4.5 };
    assert.equal(shapeBox(box, REFERENCE_CROP_SHAPE), box);
  });

  it('expands width and height by the fraction about the centre', () => {
    assert.deepEqual(cropRect({ x1: 100, y1: 100, x2: 200, y2: 300 }, frame, { expand: 0.2, square: false }), { x: 90, y: 80, width: 120, height: 240 });
  });

  it('squares the box to its longer side about the centre, then expands', () => {
    assert.deepEqual(cropRect({ x1: 100, y1: 100, x2: 200, y2: 300 }, frame, { expand: 0, square: true }), { x: 50, y: 100, width: 200, height: 200 });
    assert.deepEqual(cropRect({ x1: 100, y1: 100, x2: 200, y2: 300 }, frame, { expand: 0.1, square: true }), { x: 40, y: 90, width: 220, height: 220 });
  });

  it('cuts a shaped box off at the frame edge rather than shifting it inwards', () => {
    assert.deepEqual(cropRect({ x1: 0, y1: 0, x2: 50, y2: 100 }, frame, { expand: 0, square: true }), { x: 0, y: 0, width: 75, height: 100 });
  });

  it('can be one pixel short when the corners are rebuilt from a float32 x + width, hence the corners API', () => {
    const detector = { x1: 10.1, y1: 0, x2: 300, y2: 100 };
    const wire = { x: Math.fround(10.1), y: 0, width: Math.fround(289.9), height: 100 };
    assert.equal(cropRect(detector, frame)?.width, 290);
    assert.equal(cropRect(cornersOf(wire), frame)?.width, 289);
  });
});

describe('cropShapeSchema', () => {
  it('defaults to the reference shape, rejects unknown keys and describes every field', () => {
    assert.deepEqual(cropShapeSchema.parse({}), REFERENCE_CROP_SHAPE);
    assert.throws(() => cropShapeSchema.parse({ expand: 0.1, squared: true }));
    assert.throws(() => cropShapeSchema.parse({ expand: -0.1 }));
    for (const [name, field] of Object.entries(cropShapeSchema.shape)) assert.ok(field.description, `${name} has no description`);
  });
});
