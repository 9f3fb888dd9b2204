/**
 * Issue 11: a 16000×16000 JPEG (a few MB on the wire, 768 MB decoded) must be dead-lettered from its
 * header, without decoding: the face stage's memory stays small. Runs the stage in a child process,
 * so its peak RSS is the stage's alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { ffmpeg, sharedData } from '@emostream/shared/testing';
import { assertFrameWithinLimit, jpegDimensions } from '../src/index.js';

const child = fileURLToPath(new URL('./fixtures/oversized-frame-child.ts', import.meta.url));

describe('face stage: bounded decoding', () => {
  it(
    'dead-letters a 16000×16000 frame before decoding it (peak RSS under 400 MB, no picture in the dead letter) and still decodes a normal frame',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'face-limits-'));
      const huge = path.join(dir, 'huge.jpg');
      // libvips writes it strip by strip: this process never holds the 768 MB either.
      await sharp({ create: { width: 16_000, height: 16_000, channels: 3, background: { r: 90, g: 120, b: 150 } } })
        .jpeg({ quality: 50 })
        .toFile(huge);
      assert.deepEqual(jpegDimensions(readFileSync(huge)), { width: 16_000, height: 16_000 });
      // A normal frame: one of a shipped CREMA-D clip, as ingest would send it.
      const normal = path.join(dir, 'normal.jpg');
      ffmpeg(['-i', sharedData('labelled/cremad_1001_DFA_happy.flv'), '-frames:v', '1', '-q:v', '3', normal]);

      const run = spawnSync(process.execPath, ['--import', 'tsx', child, huge, normal], {
        env: { ...process.env, FACE_MAX_PIXELS: String(4096 * 4096), EMOSTREAM_LOG_LEVEL: 'error' },
        encoding: 'utf8',
        timeout: 110_000,
      });
      assert.equal(run.status, 0, run.stderr);
      const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
        detectedSizes: string[];
        faces: number;
        deadLetters: { errorCode: string; reason: string; originValueBytes: number; bytesHeader: string; encodedBytes: number }[];
        peakRssMb: number;
      };
      const { width, height } = await sharp(normal).metadata();
      assert.deepEqual(result.detectedSizes, [`${width}x${height}`], 'only the normal frame reached the detector');
      assert.equal(result.faces, 1);
      assert.equal(result.deadLetters.length, 1);
      const [letter] = result.deadLetters;
      assert.equal(letter!.errorCode, 'FRAME_TOO_LARGE');
      assert.match(letter!.reason, /16000×16000 pixels is above FACE_MAX_PIXELS \(16777216\); not decoded/);
      assert.equal(letter!.originValueBytes, 0, 'the dead letter keeps no picture');
      assert.ok(Number(letter!.bytesHeader) > 10_000, 'but says how big the frame was');
      assert.ok(letter!.encodedBytes < 4_096, `dead letter of ${letter!.encodedBytes} bytes`);
      assert.ok(
        result.peakRssMb < 400,
        `face stage peak RSS ${result.peakRssMb.toFixed(0)} MB (file ${(statSync(huge).size / 1e6).toFixed(1)} MB)`,
      );
    },
  );

  it('reads the size from the header only, and refuses above the limit', () => {
    const header = Buffer.from([
      0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc2, 0x00, 0x0b, 0x08, 0x3e, 0x80, 0x3e, 0x80, 0x03, 0x00, 0x00, 0x00,
    ]);
    assert.deepEqual(jpegDimensions(header), { width: 16_000, height: 16_000 });
    assert.throws(() => assertFrameWithinLimit(header, 4096 * 4096), /FACE_MAX_PIXELS/);
    assert.doesNotThrow(() => assertFrameWithinLimit(header, 16_000 * 16_000));
    assert.equal(jpegDimensions(Buffer.from('not a jpeg')), undefined);
  });
});
