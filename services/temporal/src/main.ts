/** The temporal service: per-track windows of features → temporal probabilities (see README for its configuration). */
import { loadConfig, rootLogger, runMain, runStageProcess } from '@emostream/shared';
import { loadPack, readPack, resolvePackDir, sessionOptionsOf } from '@emostream/vision';
import { temporalConfigSchema, temporalEnvBindings } from './config.js';
import { buildStage } from './stage.js';

runMain(async () => {
  const config = loadConfig(temporalConfigSchema, temporalEnvBindings);
  const { model } = config;
  const dir = resolvePackDir(model.pack, model.modelsDir);
  const hasLstm = (await readPack(dir)).manifest.models.temporal !== undefined;
  const pack = await loadPack(dir, {
    roles: hasLstm ? ['temporal'] : [],
    session: sessionOptionsOf(model),
    logger: rootLogger.child({ module: 'model' }),
  });
  if (!hasLstm)
    rootLogger.warn(
      { pack: pack.manifest.name },
      'the pack has no temporal model: each face gets the mean static probabilities of its window',
    );
  await runStageProcess(
    {
      ...buildStage(config, { pack, manifest: pack.manifest }),
      close: async () => pack.sessions.temporal?.release(),
    },
    config.runtime,
  );
});
