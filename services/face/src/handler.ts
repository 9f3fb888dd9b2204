import sharp from 'sharp';
import {
  CropEncoding,
  makeMessage,
  StageError,
  toStageError,
  topics,
  type HandlerContext,
  type HandlerResult,
  type StageInput,
  type StageDefinition,
  type StageOutput,
} from '@emostream/shared';
import {
  adjustBox,
  clampBox,
  crop,
  decodeToRgb,
  faceSurroundings,
  frameSignature,
  resize,
  type CropSettings,
  type Detection,
  type FaceIdentityModel,
  type RgbImage,
} from '@emostream/vision';
import { assertFrameWithinLimit, DEFAULT_MAX_FRAME_PIXELS } from './frame-limits.js';
import type { FaceDropReason, FaceMetrics } from './metrics.js';
import { encodeTrackerState, trackerStateTopic, type TrackerStateStore } from './tracker-state.js';
import { appearanceOf, StreamTrackers, TrackerRewindError, type FaceTrackerConfig } from './tracker/index.js';

/** The pack's detector(s): a decoded frame in, faces out (openPackFaceDetector). */
export interface FaceDetector {
  /** `minFaceSize`: the smallest face to find, in this frame's pixels (plans tiling by face size). */
  detect(frame: RgbImage, options?: { minFaceSize?: number }): Promise<Detection[]>;
}

/** What became of one frame's detected faces: every one is an event or a counted drop. */
export interface FrameFaceAccount {
  detected: number;
  passedOn: number;
  dropped: Partial<Record<FaceDropReason, number>>;
}

/**
 * Frames of a batch decoded and detected ahead of the one being tracked. Enough to keep the
 * detectors' threads busy while the main thread tracks and crops; each holds a decoded frame.
 */
export const DETECT_AHEAD = 3;

/** The stage's name: its consumer group and metrics label. */
export const FACE_STAGE_NAME = 'face';

/** A decoded frame and the faces detected in it (frame pixels). */
interface Detected {
  frame: RgbImage;
  detected: ScoredBox[];
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
  /**
   * The pack's identity model (a face recognition net): faces the tracker could confuse get its
   * descriptor (`identityWanted`). Without it the tracker tells people apart by its cheap descriptor.
   */
  identity?: Pick<FaceIdentityModel, 'describe'>;
  crops: CropSpec;
  tracker: FaceTrackerConfig;
  /** Faces narrower than this (source frame pixels) are ignored. */
  minFaceSize: number;
  metrics?: FaceMetrics;
  /**
   * Keeps tracks across restarts and rebalances: each frame's tracking state goes to the changelog
   * topic with its faces, and is read back from here when partitions are assigned. Without it (emo
   * run, one process) nothing is saved.
   */
  trackerState?: TrackerStateStore;
  /** Tracking states kept per stream for a redelivered batch: more than the runtime's batch size (EMOSTREAM_MAX_BATCH_SIZE + 1). */
  historyFrames: number;
  /** Frames with more pixels are dead-lettered before decoding (FACE_MAX_PIXELS). */
  maxFramePixels: number;
  /** Told, per frame with detections, what became of each detected face (`emo run`'s summary). */
  onFaceAccount?: (streamId: string, account: FrameFaceAccount) => void;
}

/**
 * The face stage: decode the frame, detect faces, track them per stream (stable ids), and crop each
 * tracked face to the backbone's input as the reference does (clamped box, resize). A frame without
 * faces flows on with an empty list; an undecodable frame is dead-lettered.
 */
export function faceStage(options: FaceStageOptions): StageDefinition<typeof topics.frames.schema> {
  const trackers = new StreamTrackers(options.tracker, { historyFrames: options.historyFrames });
  const { trackerState } = options;

  /** The changelog record of the stream's state after this input (only when states are kept). */
  const savedState = (input: { key: string; partition: number; offset: string }, context: HandlerContext): StageOutput[] => {
    const state = trackers.snapshot(input.key);
    if (!trackerState || !state) return [];
    return [
      context.emitRaw(
        trackerStateTopic,
        input.key,
        encodeTrackerState({ v: 1, input: { partition: input.partition, offset: input.offset }, state }),
      ),
    ];
  };

  /** Decodes and detects (no state); an end-of-stream marker has nothing to detect. */
  const detectFaces = async (input: StageInput<typeof topics.frames.schema>): Promise<Detected | undefined> => {
    if (input.value.ref!.endOfStream) return undefined;
    const frame = await decodeFrame(input.value.jpeg, options.maxFramePixels);
    // FACE_MIN_SIZE is in source pixels; ingest may have scaled the frame down for transport.
    const sourceWidth = input.value.ref!.sourceWidth || frame.width;
    const minFaceSize = Math.max(1, (options.minFaceSize * frame.width) / sourceWidth);
    const detected = (await options.detector.detect(frame, { minFaceSize })).map((d) => ({
      x: d.x1,
      y: d.y1,
      width: d.x2 - d.x1,
      height: d.y2 - d.y1,
      score: d.score,
    }));
    return { frame, detected };
  };

  /** Tracks a frame's faces in its stream (in order) and crops each tracked face. */
  const follow = async (
    input: StageInput<typeof topics.frames.schema>,
    found: Detected | undefined,
    context: HandlerContext,
  ): Promise<StageOutput[]> => {
    const ref = input.value.ref!;
    if (!found) {
      const ended = tracked(() => trackers.endStream(input.key, ref.seq));
      return [
        context.emit(topics.faces, makeMessage(topics.faces, { ref, faces: [], endedTrackIds: ended })),
        ...savedState(input, context),
      ];
    }
    const { frame, detected } = found;
    // Boxes leave this stage in the source's pixels (ingest may have scaled the frame down for transport);
    // the appearance descriptor is read from the frame as received, with the box in its pixels.
    const toSource = { x: (ref.sourceWidth || frame.width) / frame.width, y: (ref.sourceHeight || frame.height) / frame.height };
    const inSource = detected.map((box) => scaleBox(box, toSource.x, toSource.y));
    const kept = inSource.map((_, i) => i).filter((i) => inSource[i]!.width >= options.minFaceSize);
    const identities = await identitiesOf(
      input.key,
      ref.seq,
      frame,
      kept.map((i) => inSource[i]!),
      kept.map((i) => detected[i]!),
    );
    const { tracks, ended } = tracked(() =>
      trackers.update(
        input.key,
        kept.map((i, k) => ({
          box: boxOnly(inSource[i]!),
          score: detected[i]!.score,
          appearance: appearanceOf(frame, boxOnly(detected[i]!)),
          ...(identities[k] ? { identity: identities[k] } : {}),
        })),
        ref.seq,
        // Only the scenery outside the faces tells a cut: a face coming up to the camera is none.
        frameSignature(frame, { ignore: faceSurroundings(detected.map(boxOnly)) }),
      ),
    );
    const faces = await Promise.all(
      tracks.map(async (track) => {
        // Crop from the detector's own box in frame pixels (double precision): rebuilt from the float32
        // wire box the corners can truncate a pixel short.
        const index = kept[track.detectionIndex]!;
        const region = clampBox(adjustBox(detected[index]!, options.crops.box), frame.width, frame.height);
        const face = resize(crop(frame, region), options.crops.inputSize.width, options.crops.inputSize.height, options.crops.resize);
        return {
          trackId: track.trackId,
          box: boxOnly(inSource[index]!),
          score: detected[index]!.score,
          cropWidth: face.width,
          cropHeight: face.height,
          ...(await encodeCrop(face, options.crops)),
        };
      }),
    );
    account(input.key, detected, kept, tracks);
    return [
      context.emit(topics.faces, makeMessage(topics.faces, { ref, faces, endedTrackIds: [...ended] })),
      ...savedState(input, context),
    ];
  };

  /**
   * The identity descriptors of the faces whose tracking they would decide (`identityWanted`, on the
   * boxes in source pixels as the tracker sees them), read from the frame as received; one model run
   * for them all. Undefined for the rest, and for every face without an identity model.
   */
  const identitiesOf = async (
    streamId: string,
    seq: number,
    frame: RgbImage,
    inSource: readonly ScoredBox[],
    inFrame: readonly ScoredBox[],
  ): Promise<(Float32Array | undefined)[]> => {
    const wanted = options.identity ? trackers.identityWanted(streamId, inSource.map(boxOnly), seq) : [];
    const asked = inFrame.flatMap((box, k) => (wanted[k] ? [k] : []));
    const identities: (Float32Array | undefined)[] = inFrame.map(() => undefined);
    if (asked.length === 0) return identities;
    const described = await options.identity!.describe(
      frame,
      asked.map((k) => boxOnly(inFrame[k]!)),
    );
    asked.forEach((k, j) => (identities[k] = described[j]));
    options.metrics?.identityDescriptors.inc(asked.length);
    return identities;
  };

  /** Counts what became of each detected face: a crop, or a drop with its reason. */
  const account = (streamId: string, detected: ScoredBox[], kept: number[], tracks: readonly { detectionIndex: number }[]): void => {
    const passed = new Set(tracks.map((t) => kept[t.detectionIndex]!));
    const keptSet = new Set(kept);
    const dropped: Partial<Record<FaceDropReason, number>> = {};
    detected.forEach((d, i) => {
      if (passed.has(i)) return;
      const reason: FaceDropReason = !keptSet.has(i)
        ? 'min_size'
        : d.score > options.tracker.highThreshold
          ? 'unconfirmed_track'
          : 'low_score';
      dropped[reason] = (dropped[reason] ?? 0) + 1;
      options.metrics?.dropped.inc({ reason });
    });
    options.metrics?.detections.inc(detected.length);
    options.metrics?.faces.inc(passed.size);
    if (detected.length > 0) options.onFaceAccount?.(streamId, { detected: detected.length, passedOn: passed.size, dropped });
  };

  return {
    name: FACE_STAGE_NAME,
    input: topics.frames,
    outputs: trackerState ? [topics.faces, trackerStateTopic] : [topics.faces],

    /**
     * Tracking must see a stream's frames in order, one at a time; decoding and detection keep no
     * state, so they run up to DETECT_AHEAD frames ahead: the detectors work on the next frames in
     * their threads while this one is tracked and cropped on the main thread.
     */
    async handleBatch(inputs, context): Promise<HandlerResult[]> {
      const ahead = new Map<number, Promise<Detected | undefined>>();
      const results: HandlerResult[] = [];
      for (const [i, input] of inputs.entries()) {
        for (let j = i; j <= i + DETECT_AHEAD && j < inputs.length; j += 1) {
          if (ahead.has(j)) continue;
          const detection = detectFaces(inputs[j]!);
          detection.catch(() => {}); // awaited (and its failure handled) in its turn below
          ahead.set(j, detection);
        }
        try {
          results.push(await follow(input, await ahead.get(i)!, context));
        } catch (error) {
          const failure = toStageError(error);
          if (failure.retriable) throw failure;
          results.push(failure);
        }
        ahead.delete(i);
      }
      return results;
    },

    async onAssigned(partitions, stopping) {
      // The changelog has the newest state of the streams on these partitions (streams this replica
      // held before were dropped when their partition was revoked).
      // Told to stop meanwhile, the load ends with STOPPED, which the runner takes as no failure.
      if (!trackerState) return;
      trackers.restore(
        await trackerState.load(
          partitions.map((p) => p.partition),
          stopping,
        ),
      );
    },

    // Another replica owns these streams now: its tracker state comes from the changelog.
    onStreamsRevoked: (streamIds) => trackers.drop(streamIds),
  };
}

/** Runs a tracker step; a frame redelivered from before the kept history is the input's dead letter, never a silent guess. */
function tracked<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof TrackerRewindError) throw new StageError('TRACKER_REWIND_TOO_FAR', error.message, { cause: error });
    throw error;
  }
}

type ScoredBox = { x: number; y: number; width: number; height: number; score: number };

function boxOnly({ x, y, width, height }: ScoredBox) {
  return { x, y, width, height };
}

function scaleBox(box: ScoredBox, sx: number, sy: number): ScoredBox {
  return { x: box.x * sx, y: box.y * sy, width: box.width * sx, height: box.height * sy, score: box.score };
}

/** Decodes a frame's JPEG to RGB; a frame that is not an image is the input's fault (dead letter). */
export async function decodeFrame(jpeg: Uint8Array, maxPixels = DEFAULT_MAX_FRAME_PIXELS): Promise<RgbImage> {
  assertFrameWithinLimit(jpeg, maxPixels);
  try {
    // sharp's own limit too, for what the header check cannot read (it also reads only the header).
    return await decodeToRgb(jpeg, maxPixels);
  } catch (error) {
    throw new StageError('FRAME_UNDECODABLE', `frame JPEG cannot be decoded: ${(error as Error).message}`, { cause: error });
  }
}

async function encodeCrop(face: RgbImage, spec: CropSpec): Promise<{ encoding: CropEncoding; crop: Uint8Array }> {
  if (spec.encoding === 'rgb8') return { encoding: CropEncoding.RGB8, crop: face.data };
  const jpeg = await sharp(Buffer.from(face.data.buffer, face.data.byteOffset, face.data.byteLength), {
    raw: { width: face.width, height: face.height, channels: 3 },
  })
    .jpeg({ quality: spec.jpegQuality })
    .toBuffer();
  return { encoding: CropEncoding.JPEG, crop: jpeg };
}
