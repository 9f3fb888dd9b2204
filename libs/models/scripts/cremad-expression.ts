// Diagnostic: the default pack's expression labels on the CREMA-D clips, pipeline stage by stage,
// against face-api's own pipeline (its SSD, extractFaceTensors, FaceExpressionNet on tfjs wasm).
// Run: node --import tsx libs/models/scripts/cremad-expression.ts
import { EMOTION_LABELS } from '@emostream/shared';
import { cropImage, ModelSession, nms, preprocessFace, squareResize, tensorSettingsOf, toDetections, type RgbImage } from '@emostream/vision';
import { buildDefaultPack, DEFAULT_MODE } from '../src/default-pack.js';
import { FACE_API_EXPRESSIONS, REFERENCE_FROM_FACE_API } from '../src/face-api/face-expression.js';
import { decodeVideo } from '../src/media.js';
import { detectWith, openDefaultDetectors } from './recall.js';
import { sharedData } from '@emostream/shared/testing';
import { VIDEO_STEP } from './test-media.js';
import { faceapi, initReference } from '../reference/tfjs-reference.js';

await initReference();
const pack = buildDefaultPack();
const backbone = pack.manifest.models.backbone;
const settings = tensorSettingsOf({ input: backbone.input, preprocessing: { scale: 1, fit: 'stretch', ...backbone.preprocessing } });
const expression = await ModelSession.create(pack.files.get(backbone.file)!, { warmUp: false });
const ssd = await ModelSession.create(pack.files.get('ssd-mobilenetv1.onnx')!, { warmUp: false });
const models = await openDefaultDetectors();

type Box = { x1: number; y1: number; x2: number; y2: number };
const classify = async (data: Float32Array) => (await expression.run({ image: { data, dims: [1, 112, 112, 3] } })).probs!.data;
/** Our crop path: the manifest's crop (square of real pixels) and resize (area). */
const ourCrop = (image: RgbImage, b: Box) => {
  const input = new Float32Array(112 * 112 * 3);
  preprocessFace(image, { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 }, { expand: 1, square: false, ...backbone.crop }, settings, input);
  return input;
};
/** face-api's crop path: the box as is, padded to a centred square with black, bilinear. */
const faceApiStyleCrop = (image: RgbImage, b: Box) => squareResize(cropImage(image, b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1), 112, 'centre').data;
const label = (p: ArrayLike<number>) => EMOTION_LABELS[Array.from(p).indexOf(Math.max(...Array.from(p)))]!;
const fmt = (b: Box) => `${b.x1.toFixed(0)},${b.y1.toFixed(0)} ${(b.x2 - b.x1).toFixed(0)}×${(b.y2 - b.y1).toFixed(0)}`;

const VARIANTS = ['A faceapi own', 'B ours (fused box, square+area)', 'C onnx on faceapi crop', 'D fused box, faceapi crop', 'E faceapi box, square+area', 'F onnx SSD box, faceapi crop'] as const;
const verbose = process.argv.includes('--frames');
for (const clip of ['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad']) {
  const frames = decodeVideo(sharedData(`labelled/cremad_1001_DFA_${clip}.flv`), 480, 360);
  const sums = VARIANTS.map(() => new Float64Array(7));
  const counts = VARIANTS.map(() => new Map<string, number>());
  for (let i = 0; i < frames.length; i += VIDEO_STEP) {
    const image = frames[i]!;
    // faceapi.tf (the same instance as tf), so the tensor has the type face-api's declarations expect.
    const t = faceapi.tf.tensor3d(image.data, [image.height, image.width, 3], 'int32');
    const [det] = await faceapi.detectAllFaces(t, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 })).withFaceExpressions();
    const [fused] = await detectWith(models, DEFAULT_MODE, image);
    if (!det || !fused) { console.log(`${clip} #${i + 1}: face-api ${det ? 'found' : 'no face'}, fused ${fused ? 'found' : 'no face'}`); t.dispose(); continue; }
    const fb: Box = { x1: det.detection.box.x, y1: det.detection.box.y, x2: det.detection.box.right, y2: det.detection.box.bottom };
    const [faceTensor] = await faceapi.extractFaceTensors(t, [det.detection]);
    if (!faceTensor) throw new Error(`${clip} #${i + 1}: face-api extracted no face tensor for its own detection`);
    const netInput = await faceapi.toNetInput(faceTensor);
    const faceApiInput = netInput.toBatchTensor(112, true).dataSync() as Float32Array;
    faceTensor.dispose(); t.dispose();
    const { data, placement } = squareResize(image, 512, 'top-left');
    const out = await ssd.run({ image: { data, dims: [1, 512, 512, 3] } });
    const [ourSsd] = nms(toDetections(out.boxes!.data, out.scores!.data, 0.5, 512, placement, image), 0.5);

    const own = REFERENCE_FROM_FACE_API.map((k) => det.expressions[FACE_API_EXPRESSIONS[k]]);
    const probs = [
      own,
      await classify(ourCrop(image, fused)),
      await classify(faceApiInput),
      await classify(faceApiStyleCrop(image, fused)),
      await classify(ourCrop(image, fb)),
      await classify(faceApiStyleCrop(image, ourSsd!)),
    ];
    probs.forEach((p, v) => { for (let k = 0; k < 7; k++) sums[v]![k]! += p[k]!; counts[v]!.set(label(p), (counts[v]!.get(label(p)) ?? 0) + 1); });
    if (verbose) console.log(`${clip} #${i + 1}: faceapi box ${fmt(fb)} fused box ${fmt(fused)} | ${probs.map((p, v) => `${VARIANTS[v]!.split(' ')[0]} ${label(p)} ${(Math.max(...Array.from(p)) * 100).toFixed(0)}%`).join(', ')}`);
  }
  console.log(`\n${clip}:`);
  VARIANTS.forEach((name, v) => console.log(`  ${name.padEnd(34)} mean → ${label(sums[v]!)}  per frame: ${[...counts[v]!].map(([l, n]) => `${l} ${n}`).join(', ')}`));
}
