/** The face service: frames → tracked face crops (see README for its configuration). */
import { createBus, loadConfig, runMain, runStageProcess, topicName, topics } from '@emostream/shared';
import { faceConfigSchema, faceEnvBindings } from './config.js';
import { buildStage } from './stage.js';
import { busTrackerStateStore } from './tracker-state.js';

runMain(async () => {
  const config = loadConfig(faceConfigSchema, faceEnvBindings);
  const { runtime } = config;
  // Its own bus, to read the tracker changelog back while the stage's consumer waits in its
  // assignment. The group is the stage runner's (`<prefix>.<stage>`): its committed offsets say how
  // far the changelog must be read.
  const stateBus = createBus(runtime);
  const trackerState = busTrackerStateStore(stateBus, {
    topicPrefix: runtime.topicPrefix,
    groupId: `${runtime.topicPrefix}.face`,
    inputTopic: topicName(topics.frames, runtime.topicPrefix),
  });
  await runStageProcess((registry) => buildStage(config, { registry, trackerState }), runtime, { onShutdown: () => stateBus.close() });
});
