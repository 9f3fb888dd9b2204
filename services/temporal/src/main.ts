/** The temporal service: per-track windows of features → temporal probabilities (see README for its configuration). */
import { loadConfig, rootLogger, runMain, runStageProcess } from '@emostream/shared';
import { loadPack, readPack, resolvePackDir, sessionOptionsOf } from '@emostream/vision';
import { temporalConfigSchema, temporalEnvBindings } from './config.js';
import { temporalStage } from './handler.js';
import { packTemporal } from './temporal-model.js';

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
      ...temporalStage({ model: packTemporal(pack), ...config.temporal }),
      close: async () => pack.sessions.temporal?.release(),
    },
    config.runtime,
  );
});
