// Our face-crop resizes against the real libraries: fixtures from scripts/make_resize_fixtures.py
// (Pillow NEAREST and OpenCV INTER_AREA on random uint8 RGB images).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resizeArea, resizeNearest, type RgbImage } from '@emostream/vision';

interface Case {
  in: { width: number; height: number; rgb: string };
  out: { width: number; height: number };
  nearest: { rgb?: string; sha256?: string };
  area: { rgb?: string; sha256?: string };
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/resize/resize.json', import.meta.url), 'utf8')) as { pillow: string; opencv: string; cases: Case[] };
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

function check(method: 'nearest' | 'area', resizeFn: (img: RgbImage, w: number, h: number) => RgbImage) {
  for (const c of fixture.cases) {
    const label = `${c.in.width}×${c.in.height} → ${c.out.width}×${c.out.height}`;
    test(`${method} resize matches ${method === 'nearest' ? `Pillow ${fixture.pillow}` : `OpenCV ${fixture.opencv}`} exactly for ${label}`, () => {
      const image: RgbImage = { width: c.in.width, height: c.in.height, data: bytes(c.in.rgb) };
      const actual = resizeFn(image, c.out.width, c.out.height).data;
      const expected = c[method];
      if (expected.rgb) {
        const want = bytes(expected.rgb);
        const wrong = actual.reduce((n, v, i) => n + (v !== want[i] ? 1 : 0), 0);
        assert.equal(wrong, 0, `${wrong} of ${want.length} values differ; first at ${actual.findIndex((v, i) => v !== want[i])}`);
      } else {
        assert.equal(createHash('sha256').update(actual).digest('hex'), expected.sha256);
      }
    });
  }
}
check('nearest', resizeNearest);
check('area', resizeArea);
