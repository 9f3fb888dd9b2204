/** The backbone service: face crops → features and static probabilities (see README for its configuration). */
import { loadConfig, rootLogger, runMain, runStageProcess } from '@emostream/shared';
import { loadPack, resolvePackDir } from '@emostream/vision';
import { packBackbone } from './backbone-model.js';
import { backboneConfigSchema, backboneEnvBindings } from './config.js';
import { backboneStage } from './handler.js';
import { BackboneMetrics } from './metrics.js';

runMain(async () => {
  const config = loadConfig(backboneConfigSchema, backboneEnvBindings);
  const { model } = config;
  const pack = await loadPack(resolvePackDir(model.pack, model.modelsDir), {
    roles: ['backbone'],
    session: {
      executionProvider: model.executionProvider,
      intraOpThreads: model.intraOpThreads,
      warmUp: model.warmUp,
      inferenceThread: model.inferenceThread,
    },
    logger: rootLogger.child({ module: 'model' }),
  });
  await runStageProcess(
    (registry) => ({
      ...backboneStage({ model: packBackbone(pack), ...config.backbone, metrics: new BackboneMetrics(registry) }),
      close: () => pack.sessions.backbone!.release(),
    }),
    config.runtime,
  );
});
