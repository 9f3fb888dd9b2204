import { collectDefaultMetrics, Registry } from 'prom-client';
import { createBus } from '../bus/index.js';
import type { RuntimeConfig } from '../config/runtime-config.js';
import { rootLogger } from '../log.js';
import { startTracing, stopTracing } from '../telemetry/tracing.js';
import { startOpsServer } from './ops-server.js';
import { StageRunner, type StageDefinition } from './stage.js';

/**
 * Runs one stage as a process: tracing, bus, ops server (/metrics, /healthz, /readyz), the stage,
 * and graceful shutdown on SIGTERM/SIGINT — readiness drops at once, the in-flight batch finishes and
 * commits, then everything disconnects; past the grace period the process stops hard with exit code 1.
 * Any failure to start exits with code 1 and a clear log line.
 */
export async function runStageProcess(
  stage: StageDefinition | ((registry: Registry) => StageDefinition | Promise<StageDefinition>),
  config: RuntimeConfig,
  options: {
    /** Closes what the service runs beside its stage (e.g. the sink's live view), within the grace period. */
    onShutdown?: () => Promise<void>;
  } = {},
): Promise<void> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // A factory gets the registry, so the stage can register metrics of its own.
  const definition = typeof stage === 'function' ? await stage(registry) : stage;
  const logger = rootLogger.child({ stage: definition.name });
  startTracing({ serviceName: `emostream-${definition.name}`, exporter: config.tracing.exporter, endpoint: config.tracing.endpoint });

  const bus = createBus(config);
  const runner = new StageRunner(definition, { bus, config, registry, logger });
  const ops = await startOpsServer({ port: config.opsPort, host: config.opsHost, registry, health: () => [runner.lifecycle] });
  logger.info({ opsPort: ops.port }, 'ops server listening');

  let shuttingDown = false;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    const hardStop = setTimeout(() => {
      logger.error({ graceMs: config.shutdownGraceMs }, 'grace period over: stopping hard');
      process.exit(1);
    }, config.shutdownGraceMs);
    hardStop.unref();
    try {
      await runner.stop();
      await options.onShutdown?.();
      await bus.close();
      await ops.close();
      await stopTracing();
      logger.info('stopped cleanly');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    await runner.start();
  } catch (error) {
    runner.fail(error);
    await ops.close();
    await bus.close().catch(() => {});
    throw error;
  }
}

/** The `main` of a stage process: any error that escapes is logged and ends the process with code 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    rootLogger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
