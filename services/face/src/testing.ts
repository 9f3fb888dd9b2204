/**
 * Test helpers for the face stage (`@emostream/face/testing`): the stage with a stand-in detector and
 * the fixed crop the tests expect, so each test says only what it changes. Not for production code.
 */
import type { StageDefinition, topics } from '@emostream/shared';
import { faceConfigSchema } from './config.js';
import { faceStage, type CropSpec, type FaceStageOptions } from './handler.js';
import { faceTrackerConfigSchema, type FaceTrackerConfig } from './tracker/index.js';

/** 224×224 nearest-neighbour crops of the bare box, raw RGB: cheap, and exact to compare. */
export const TEST_CROPS: CropSpec = {
  inputSize: { width: 224, height: 224 },
  resize: 'nearest',
  box: { expand: 1, square: false },
  encoding: 'rgb8',
  jpegQuality: 90,
};

/** The face stage around `detector`, every detection a track from its first frame (as `emo run`), faces from 20 px. */
export function testFaceStage(
  detector: FaceStageOptions['detector'],
  options: Partial<Omit<FaceStageOptions, 'tracker'>> & { tracker?: Partial<FaceTrackerConfig> } = {},
): StageDefinition<typeof topics.frames.schema> {
  const { tracker, ...rest } = options;
  // The defaults of the schemas, as a service given no settings would run.
  const { face, runtime } = faceConfigSchema.parse({ runtime: { bus: 'memory' } });
  return faceStage({
    detector,
    crops: TEST_CROPS,
    minFaceSize: 20,
    maxFramePixels: face.maxPixels,
    historyFrames: runtime.maxBatchSize + 1,
    ...rest,
    tracker: faceTrackerConfigSchema.parse({ minHits: 1, ...tracker }),
  });
}
