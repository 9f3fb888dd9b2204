/** The sink service: emotions → public JSON events (see README for its configuration). */
import { loadConfig, runMain, runStageProcess } from '@emostream/shared';
import { sinkConfigSchema, sinkEnvBindings } from './config.js';
import { sinkStage } from './handler.js';
import { SinkMetrics } from './metrics.js';

runMain(async () => {
  const config = loadConfig(sinkConfigSchema, sinkEnvBindings);
  await runStageProcess((registry) => sinkStage({ metrics: new SinkMetrics(registry) }), config.runtime);
});
