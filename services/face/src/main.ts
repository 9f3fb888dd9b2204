/** The face service: frames → tracked face crops (see README for its configuration). */
import { loadConfig, openPackFaceDetector, resolvePackDir, runMain, runStageProcess } from '@emostream/shared';
import { faceConfigSchema, faceEnvBindings, trackerConfig } from './config.js';
import { faceStage } from './handler.js';
import { FaceMetrics } from './metrics.js';
import { packCropSpec } from './pack-detector.js';

runMain(async () => {
  const config = loadConfig(faceConfigSchema, faceEnvBindings);
  const { model, face } = config;
  const session = { executionProvider: model.executionProvider, intraOpThreads: model.intraOpThreads, warmUp: model.warmUp };
  const detector = await openPackFaceDetector(resolvePackDir(face.detectorPack, model.modelsDir), session);
  const crops = await packCropSpec(resolvePackDir(model.pack, model.modelsDir), face.cropEncoding, face.jpegQuality);
  await runStageProcess(
    (registry) => faceStage({ detector, crops, tracker: trackerConfig(config), minFaceSize: face.minFaceSize, maxFramePixels: face.maxPixels, metrics: new FaceMetrics(registry) }),
    config.runtime,
  );
});
