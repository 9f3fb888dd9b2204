import sharp from 'sharp';
import {
  adjustBox,
  clampBox,
  crop,
  CropEncoding,
  makeMessage,
  resize,
  StageError,
  topics,
  type CropSettings,
  type Detection,
  type RgbImage,
  type StageDefinition,
  type StageOutput,
} from '@emostream/shared';
import { assertFrameWithinLimit, DEFAULT_MAX_FRAME_PIXELS } from './frame-limits.js';
import type { FaceMetrics } from './metrics.js';
import { StreamTrackers, type FaceTrackerConfig } from './tracker/index.js';

/** The pack's detector(s): a decoded frame in, faces out. */
export interface FaceDetector {
  detect(frame: RgbImage): Promise<Detection[]>;
}

/** How a face becomes the crop the backbone sees: the backbone pack's input size, resize and box convention. */
export interface CropSpec {
  inputSize: { width: number; height: number };
  resize: 'nearest' | 'area' | 'bilinear';
  box: CropSettings;
  encoding: 'jpeg' | 'rgb8';
  jpegQuality: number;
}

export interface FaceStageOptions {
  detector: FaceDetector;
  crops: CropSpec;
  tracker: FaceTrackerConfig;
  /** Faces narrower than this (pixels) are ignored. */
  minFaceSize: number;
  metrics?: FaceMetrics;
  /** Frames with more pixels are dead-lettered before decoding (default DEFAULT_MAX_FRAME_PIXELS). */
  maxFramePixels?: number;
}

/**
 * The face stage: decode the frame, detect faces, track them per stream (stable ids), and crop each
 * tracked face to the backbone's input as the reference does (clamped box, resize). A frame without
 * faces flows on with an empty list; an undecodable frame is dead-lettered.
 */
export function faceStage(options: FaceStageOptions): StageDefinition<typeof topics.frames.schema> {
  const trackers = new StreamTrackers(options.tracker);
  const streamPartitions = new Map<string, number>();

  return {
    name: 'face',
    input: topics.frames,
    outputs: [topics.faces],

    async handle(input, context): Promise<StageOutput[]> {
      const ref = input.value.ref!;
      streamPartitions.set(input.key, input.partition);
      if (ref.endOfStream) {
        streamPartitions.delete(input.key);
        const ended = trackers.endStream(input.key);
        return [context.emit(topics.faces, makeMessage(topics.faces, { ref, faces: [], endedTrackIds: ended }))];
      }
      const frame = await decodeFrame(input.value.jpeg, options.maxFramePixels);
      const found = (await options.detector.detect(frame)).filter((f) => f.x2 - f.x1 >= options.minFaceSize);
      options.metrics?.detections.inc(found.length);
      const { tracks, ended } = trackers.update(
        input.key,
        found.map((f) => ({ box: { x: f.x1, y: f.y1, width: f.x2 - f.x1, height: f.y2 - f.y1 }, score: f.score })),
        ref.seq,
      );
      const faces = await Promise.all(
        tracks.map(async (track) => {
          // Crop from the detector's own box (double precision): rebuilt from the float32 wire box the
          // corners can truncate a pixel short.
          const detection = found[track.detectionIndex]!;
          const box = { x: detection.x1, y: detection.y1, width: detection.x2 - detection.x1, height: detection.y2 - detection.y1 };
          const region = clampBox(adjustBox(box, options.crops.box), frame.width, frame.height);
          const face = resize(crop(frame, region), options.crops.inputSize.width, options.crops.inputSize.height, options.crops.resize);
          return {
            trackId: track.trackId,
            box,
            score: detection.score,
            cropWidth: face.width,
            cropHeight: face.height,
            ...(await encodeCrop(face, options.crops)),
          };
        }),
      );
      options.metrics?.faces.inc(faces.length);
      return [context.emit(topics.faces, makeMessage(topics.faces, { ref, faces, endedTrackIds: [...ended] }))];
    },

    async onRevoked(partitions) {
      const revoked = new Set(partitions.map((p) => p.partition));
      const streams = [...streamPartitions].filter(([, partition]) => revoked.has(partition)).map(([streamId]) => streamId);
      trackers.drop(streams);
      for (const streamId of streams) streamPartitions.delete(streamId);
    },
  };
}

/** Decodes a frame's JPEG to RGB; a frame that is not an image is the input's fault (dead letter). */
export async function decodeFrame(jpeg: Uint8Array, maxPixels = DEFAULT_MAX_FRAME_PIXELS): Promise<RgbImage> {
  assertFrameWithinLimit(jpeg, maxPixels);
  try {
    // sharp's own limit too, for what the header check cannot read (it also reads only the header).
    const { data, info } = await sharp(jpeg, { limitInputPixels: maxPixels }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (error) {
    throw new StageError('FRAME_UNDECODABLE', `frame JPEG cannot be decoded: ${(error as Error).message}`, { cause: error });
  }
}

async function encodeCrop(face: RgbImage, spec: CropSpec): Promise<{ encoding: CropEncoding; crop: Uint8Array }> {
  if (spec.encoding === 'rgb8') return { encoding: CropEncoding.RGB8, crop: face.data };
  const jpeg = await sharp(Buffer.from(face.data.buffer, face.data.byteOffset, face.data.byteLength), { raw: { width: face.width, height: face.height, channels: 3 } })
    .jpeg({ quality: spec.jpegQuality })
    .toBuffer();
  return { encoding: CropEncoding.JPEG, crop: jpeg };
}
