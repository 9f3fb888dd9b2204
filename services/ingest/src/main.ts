/**
 * The ingest service: reads the streams its replica owns (files, RTSP, HTTP, webcams) with ffmpeg and
 * publishes sampled JPEG frames. Config: environment / $EMOSTREAM_CONFIG (see README).
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import {
  BusWatch,
  createBus,
  exitWhenFailed,
  healthWithBus,
  Lifecycle,
  loadConfig,
  rootLogger,
  runMain,
  startOpsServer,
} from '@emostream/shared';
import { ingestConfigSchema, ingestEnvBindings } from './config.js';
import { IngestMetrics } from './metrics.js';
import { IngestWorker } from './worker.js';

runMain(async () => {
  const config = loadConfig(ingestConfigSchema, ingestEnvBindings);
  const logger = rootLogger.child({ stage: 'ingest' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const lifecycle = new Lifecycle();
  const metrics = new IngestMetrics(registry);
  const bus = createBus(config.runtime);
  // Unready (and one warning) while the bus does not answer; publishing waits it out meanwhile.
  const busWatch = new BusWatch(bus, { stage: 'ingest', registry, thresholdMs: config.runtime.busUnreachableMs, logger });
  const health = healthWithBus(lifecycle, busWatch);
  health.onChange(() => metrics.ready.set(health.ready ? 1 : 0));
  busWatch.start();
  const worker = new IngestWorker({
    bus,
    topicPrefix: config.runtime.topicPrefix,
    settings: config.ingest,
    metrics,
    logger,
    instanceId: config.runtime.instanceId,
    onCrash: (error) => {
      logger.error({ err: error }, 'the streams consumer crashed for good');
      lifecycle.moveTo('FAILED');
    },
  });
  exitWhenFailed(lifecycle, config.runtime.shutdownGraceMs, logger, () => bus.close());
  const ops = await startOpsServer({ port: config.runtime.opsPort, host: config.runtime.opsHost, registry, health: () => [health] });
  logger.info({ opsPort: ops.port }, 'ops server listening');

  const shutdown = async (signal: string) => {
    if (!lifecycle.moveTo('DRAINING')) return;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('grace period over: stopping hard');
      process.exit(1);
    }, config.runtime.shutdownGraceMs).unref();
    await worker.stop();
    await bus.close();
    await ops.close();
    lifecycle.moveTo('STOPPED');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  await worker.start().catch((error: unknown) => {
    if (lifecycle.state === 'DRAINING') return; // SIGTERM while it waited for the bus
    throw error;
  });
  lifecycle.moveTo('RUNNING');
  logger.info('ingest running');
});
