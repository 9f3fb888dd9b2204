/** The backbone service: face crops → features and static probabilities (see README for its configuration). */
import { loadConfig, rootLogger, runMain, runStageProcess } from '@emostream/shared';
import { loadPack, resolvePackDir, sessionOptionsOf } from '@emostream/vision';
import { packBackbone, warmUpAtBatch } from './backbone-model.js';
import { backboneConfigSchema, backboneEnvBindings } from './config.js';
import { backboneStage } from './handler.js';
import { BackboneMetrics } from './metrics.js';

runMain(async () => {
  const config = loadConfig(backboneConfigSchema, backboneEnvBindings);
  const { model } = config;
  const pack = await loadPack(resolvePackDir(model.pack, model.modelsDir), {
    roles: ['backbone'],
    // On a GPU the crops are prepared inside the model (nothing per value on the main thread, a quarter
    // of the bytes to copy). On CPU writeTensor on the main thread overlaps the model's run instead of
    // adding to it: ~2 % more faces/s in bench:backbone.
    backboneTakesBytes: model.executionProvider === 'cuda',
    session: sessionOptionsOf(model),
    logger: rootLogger.child({ module: 'model' }),
  });
  const backbone = packBackbone(pack);
  // Memory at its plateau from the start (see warmUpAtBatch): what a long-running service needs.
  if (model.warmUp) await warmUpAtBatch(backbone, config.backbone.maxBatch);
  await runStageProcess(
    (registry) => ({
      ...backboneStage({ model: backbone, ...config.backbone, metrics: new BackboneMetrics(registry) }),
      close: () => pack.sessions.backbone!.release(),
    }),
    config.runtime,
  );
});
