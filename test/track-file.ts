/**
 * Runs a video file through the face stage as the pipeline does: ingest's own reader samples it
 * (the reference's sampling, frames 1, 1+k, …, JPEG), and the real face stage (the pack's detectors,
 * the tracker under test, crops) handles the frames on the in-memory bus. Detection is the face
 * stage's own path, so what is measured here is what ships. Returns what the faces
 * topic carried per sampled frame. Used by the tracking tests and `npm run bench:tracking`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import {
  faceConfigSchema,
  faceStage,
  faceTrackerConfigSchema,
  packCropSpec,
  type FaceDetector,
  type FaceTrackerConfig,
  type LabelledBox,
} from '@emostream/face';
import { parseSource, probeVideo, readFrames } from '@emostream/ingest';
import { encodeMessage, FaceCropsSchema, makeMessage, samplingStep, topicName, topics } from '@emostream/shared';
import { openPackFaceDetector, resolvePackDir, type Detection, type RgbImage } from '@emostream/vision';
import { runStageInMemory } from '@emostream/shared/testing';

export interface SampledFile {
  readonly streamId: string;
  readonly frames: readonly { readonly seq: number; readonly jpeg: Uint8Array; readonly width: number; readonly height: number }[];
}

export interface TrackedFrame {
  readonly seq: number;
  /** Faces the stage passed on, id = track id as a string. */
  readonly faces: readonly LabelledBox[];
  readonly endedTrackIds: readonly number[];
}

const timeouts = { connectTimeoutMs: 10_000, readTimeoutMs: 30_000 };

/** Samples a file as ingest does for files (INGEST_MAX_WIDTH 1280, JPEG quality 85). */
export async function sampleFile(file: string, streamId: string): Promise<SampledFile> {
  const source = parseSource(file);
  const info = await probeVideo(source, timeouts);
  const frames: { seq: number; jpeg: Uint8Array; width: number; height: number }[] = [];
  for await (const frame of readFrames(source, {
    sampling: { kind: 'every', step: samplingStep(info.fps) },
    maxWidth: 1280,
    jpegQuality: 85,
    ...timeouts,
  })) {
    frames.push({ seq: frame.frameNumber, jpeg: frame.jpeg, width: frame.width, height: frame.height });
  }
  if (frames.length === 0) throw new Error(`${file}: no frames read`);
  return { streamId, frames };
}

/**
 * The face stage's detector (`openPackFaceDetector`, as `emo serve face` and `emo run` open it) on the
 * pack's detectors, remembering each frame's answer: comparing trackers on the same frames costs one
 * detection per frame, and each tracker sees exactly the same detections. `cacheDir` also keeps the
 * answers on disk (one JSON file per frame and minimum face size), so a tuning loop over tracker
 * settings detects each frame once across runs; `stats` counts only frames really detected.
 */
export async function cachedStageDetector(
  pack = 'default',
  cacheDir?: string,
): Promise<FaceDetector & { detectRgb(frame: RgbImage): Promise<Detection[]>; readonly stats: { frames: number; ms: number } }> {
  // The face stage's own detection path (openPackFaceDetector), with its default minimum face size.
  const detector = await openPackFaceDetector(resolvePackDir(pack), { intraOpThreads: 1 });
  const cache = new Map<string, Detection[]>();
  /** Frames really detected and the time it took (what tracking is compared with). */
  const stats = { frames: 0, ms: 0 };
  const detect = async (frame: RgbImage, options?: { minFaceSize?: number }): Promise<Detection[]> => {
    // The minimum face size plans the detection (tiles): part of the answer's key.
    const key = `${createHash('sha1').update(frame.data).digest('hex')}@${options?.minFaceSize ?? 'default'}`;
    let found = cache.get(key);
    const file = cacheDir ? path.join(cacheDir, `${key}.json`) : undefined;
    if (!found && file && existsSync(file)) {
      found = JSON.parse(readFileSync(file, 'utf8')) as Detection[];
      cache.set(key, found);
    }
    if (!found) {
      const started = performance.now();
      found = await detector.detect(frame, options);
      stats.ms += performance.now() - started;
      stats.frames += 1;
      cache.set(key, found);
      if (cacheDir && file) {
        mkdirSync(cacheDir, { recursive: true });
        writeFileSync(file, JSON.stringify(found));
      }
    }
    return found;
  };
  return { detect, detectRgb: detect, stats };
}

/** Runs the sampled frames (and an end-of-stream marker) through the face stage with `tracker` settings. */
export async function trackSampledFile(
  sampled: SampledFile,
  detector: FaceDetector,
  tracker: Partial<FaceTrackerConfig> = {},
): Promise<TrackedFrame[]> {
  const crops = await packCropSpec(resolvePackDir('default'), 'jpeg', 90);
  // As `emo run` configures it: every detection counts from its first frame; the rest the schemas' defaults.
  const { face, runtime } = faceConfigSchema.parse({ runtime: { bus: 'memory' } });
  const stage = faceStage({
    detector,
    crops,
    tracker: faceTrackerConfigSchema.parse({ minHits: 1, ...tracker }),
    minFaceSize: face.minFaceSize,
    maxFramePixels: face.maxPixels,
    historyFrames: runtime.maxBatchSize + 1,
  });
  const prefix = 'track';
  const facesTopic = topicName(topics.faces, prefix);
  const last = sampled.frames.at(-1)!;
  const { records } = await runStageInMemory(stage, {
    topicPrefix: prefix,
    inputs: (p) =>
      [
        ...sampled.frames.map((f) =>
          makeMessage(topics.frames, { ref: { streamId: sampled.streamId, seq: f.seq, width: f.width, height: f.height }, jpeg: f.jpeg }),
        ),
        makeMessage(topics.frames, {
          ref: { streamId: sampled.streamId, seq: last.seq + 1, width: last.width, height: last.height, endOfStream: true },
          jpeg: new Uint8Array(),
        }),
      ].map((message) => ({ topic: topicName(topics.frames, p), key: sampled.streamId, value: encodeMessage(topics.frames, message) })),
    read: [facesTopic],
    done: (got) => got.get(facesTopic)!.length >= sampled.frames.length + 1,
    timeoutMs: 600_000,
  });
  return records
    .get(facesTopic)!
    .map((r) => fromBinary(FaceCropsSchema, r.value!))
    .filter((m) => !m.ref!.endOfStream)
    .map((m) => ({
      seq: m.ref!.seq,
      faces: m.faces.map((f) => ({ id: String(f.trackId), box: { x: f.box!.x, y: f.box!.y, width: f.box!.width, height: f.box!.height } })),
      endedTrackIds: [...m.endedTrackIds],
    }));
}
