/** The face service: frames → tracked face crops (see README for its configuration). */
import { createBus, loadConfig, runMain, runStageProcess, topicName, topics } from '@emostream/shared';
import { openPackFaceDetector, resolvePackDir, sessionOptionsOf } from '@emostream/vision';
import { faceConfigSchema, faceEnvBindings } from './config.js';
import { faceStage } from './handler.js';
import { FaceMetrics } from './metrics.js';
import { packCropSpec } from './pack-detector.js';
import { busTrackerStateStore } from './tracker-state.js';

runMain(async () => {
  const config = loadConfig(faceConfigSchema, faceEnvBindings);
  const { model, face, runtime } = config;
  const detector = await openPackFaceDetector(resolvePackDir(face.detectorPack, model.modelsDir), sessionOptionsOf(model), {
    minFaceSize: face.minFaceSize,
  });
  const crops = await packCropSpec(resolvePackDir(model.pack, model.modelsDir), face.cropEncoding, face.jpegQuality);
  // Its own bus, to read the tracker changelog back while the stage's consumer waits in its
  // assignment. The group is the stage runner's (`<prefix>.<stage>`): its committed offsets say how
  // far the changelog must be read.
  const stateBus = createBus(runtime);
  const trackerState = busTrackerStateStore(stateBus, {
    topicPrefix: runtime.topicPrefix,
    groupId: `${runtime.topicPrefix}.face`,
    inputTopic: topicName(topics.frames, runtime.topicPrefix),
  });
  await runStageProcess(
    (registry) =>
      faceStage({
        detector,
        crops,
        tracker: config.tracker,
        minFaceSize: face.minFaceSize,
        maxFramePixels: face.maxPixels,
        metrics: new FaceMetrics(registry),
        trackerState,
        // A redelivered batch restarts from the state before its first frame.
        historyFrames: runtime.maxBatchSize + 1,
      }),
    runtime,
    { onShutdown: () => stateBus.close() },
  );
});
