/** The backbone service: face crops → features and static probabilities (see README for its configuration). */
import { loadConfig, rootLogger, runMain, runStageProcess } from '@emostream/shared';
import { loadPack, resolvePackDir, sessionOptionsOf } from '@emostream/vision';
import { backboneTakesBytesOn, packBackbone, warmUpAtBatch } from './backbone-model.js';
import { backboneConfigSchema, backboneEnvBindings } from './config.js';
import { buildStage } from './stage.js';

runMain(async () => {
  const config = loadConfig(backboneConfigSchema, backboneEnvBindings);
  const { model } = config;
  const pack = await loadPack(resolvePackDir(model.pack, model.modelsDir), {
    roles: ['backbone'],
    backboneTakesBytes: backboneTakesBytesOn(model.executionProvider),
    session: sessionOptionsOf(model),
    logger: rootLogger.child({ module: 'model' }),
  });
  // Memory at its plateau from the start (see warmUpAtBatch): what a long-running service needs.
  if (model.warmUp) await warmUpAtBatch(packBackbone(pack), config.backbone.maxBatch);
  await runStageProcess(
    (registry) => ({
      ...buildStage(config, { pack, manifest: pack.manifest, registry }),
      close: () => pack.sessions.backbone!.release(),
    }),
    config.runtime,
  );
});
