// The detection recall table (libs/models/RECALL.md, the default pack's fused mode) holds whatever size
// a picture arrives in: the first frame of each file of ../shared/data, at its own size and enlarged
// (×2; the 480-px clips also ×4), detected as the face stage detects (each detector given the frame
// smoothed down to at most twice its input). Issue 10: detection depended on the frame's size (the
// detectors' own resize does not smooth). Not covered here: JPEG noise. A face right at a detector's
// threshold can flip when a frame is re-encoded (ingest's JPEG moves the 3-people corridor clip's
// weakest face between 0.59 and 0.68 as its size changes); the README lists it as a known limit.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_MODELS_DIR, openPackFaceDetector } from '@emostream/vision';
import { ffmpeg, hasTestMedia, sharedData } from '@emostream/shared/testing';

/** Every file of the recall table with the faces each of its frames shows (MANIFEST.md). */
const CASES: { file: string; faces: number; sizes: number[] }[] = [
  ...['angry', 'disgusted', 'fearful', 'happy', 'neutral', 'sad', 'surprised'].map((e) => ({
    file: `stills/faceapi_${e}.jpg`,
    faces: 1,
    sizes: [1, 2],
  })),
  { file: 'stills/friends_6faces_insightface_t1.jpg', faces: 6, sizes: [1, 2] },
  { file: 'stills/selfie_plus_group_6faces_mixed_sizes.jpg', faces: 6, sizes: [1, 2] },
  { file: 'scenes/intel_corridor_2people_walking_smallfaces.gif', faces: 2, sizes: [1, 2, 4] },
  { file: 'scenes/intel_corridor_3people_walk_and_pause.gif', faces: 3, sizes: [1, 2, 4] },
  { file: 'scenes/intel_classroom_4people_tinyfaces.gif', faces: 4, sizes: [1, 2, 4] },
  { file: 'scenes/intel_headpose_2people_female_male.gif', faces: 2, sizes: [1, 2, 4] },
  ...['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad'].map((l) => ({
    file: `labelled/cremad_1001_DFA_${l}.flv`,
    faces: 1,
    sizes: [1, 2, 4],
  })),
];

describe('face detection at any input size', () => {
  it('finds every face of the recall table on each file at its own size and enlarged', async (t) => {
    // The third-party stills are checked where they are (../shared/data); the shipped clips and scenes always are.
    const notShipped = CASES.filter((c) => !hasTestMedia(c.file)).map((c) => c.file);
    if (notShipped.length > 0) t.diagnostic(`not checked (media not shipped, no ../shared/data): ${notShipped.join(', ')}`);
    const detector = await openPackFaceDetector(path.join(DEFAULT_MODELS_DIR, 'default'));
    const work = mkdtempSync(path.join(tmpdir(), 'emo-sizes-'));
    const misses: string[] = [];
    for (const c of CASES.filter((c) => hasTestMedia(c.file))) {
      // The first frame as a lossless picture, then enlarged (Lanczos): the same content at another size.
      const first = path.join(work, `${path.basename(c.file)}.png`);
      ffmpeg(['-i', sharedData(c.file), '-frames:v', '1', first]);
      const { width } = await sharp(first).metadata();
      for (const scale of c.sizes) {
        const { data, info } = await sharp(first)
          .resize({ width: width * scale, kernel: 'lanczos3' })
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        const found = await detector.detect({
          width: info.width,
          height: info.height,
          data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
        });
        if (found.length < c.faces) misses.push(`${c.file} at ${info.width} px: ${found.length} of ${c.faces} faces`);
      }
    }
    assert.deepEqual(misses, [], 'the detection recall of the table holds at every input size');
  });
});
