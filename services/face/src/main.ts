/** The face service: frames → tracked face crops (see README for its configuration). */
import { loadConfig, openPackFaceDetector, resolvePackDir, runMain, runStageProcess } from '@emostream/shared';
import { faceConfigSchema, faceEnvBindings, trackerConfig } from './config.js';
import { faceStage } from './handler.js';
import { FaceMetrics } from './metrics.js';
import { packCropSpec, packDetectionSide } from './pack-detector.js';

runMain(async () => {
  const config = loadConfig(faceConfigSchema, faceEnvBindings);
  const { model, face } = config;
  const session = { executionProvider: model.executionProvider, intraOpThreads: model.intraOpThreads, warmUp: model.warmUp };
  const detectorDir = resolvePackDir(face.detectorPack, model.modelsDir);
  const detector = await openPackFaceDetector(detectorDir, session);
  const detectionMaxSide = await packDetectionSide(detectorDir);
  const crops = await packCropSpec(resolvePackDir(model.pack, model.modelsDir), face.cropEncoding, face.jpegQuality);
  await runStageProcess(
    (registry) => faceStage({ detector, crops, tracker: trackerConfig(config), minFaceSize: face.minFaceSize, detectionMaxSide, metrics: new FaceMetrics(registry) }),
    config.runtime,
  );
});
