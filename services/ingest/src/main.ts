/**
 * The ingest service: reads the streams its replica owns (files, RTSP, HTTP, webcams) with ffmpeg and
 * publishes sampled JPEG frames. Config: environment / $EMOSTREAM_CONFIG (see README). Runs on the
 * same process runner as the stages (ops server, probes, graceful shutdown, exit after a failure).
 */
import { loadConfig, runMain, runServiceProcess } from '@emostream/shared';
import { ingestConfigSchema, ingestEnvBindings } from './config.js';
import { buildStage } from './stage.js';

runMain(async () => {
  const config = loadConfig(ingestConfigSchema, ingestEnvBindings);
  const { runtime } = config;
  await runServiceProcess('ingest', runtime, (deps) => buildStage(config, deps));
});
