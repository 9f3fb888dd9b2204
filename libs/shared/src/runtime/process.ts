import { collectDefaultMetrics, Registry } from 'prom-client';
import { createBus } from '../bus/index.js';
import { ConfigError } from '../errors.js';
import type { Bus } from '../bus/types.js';
import { opsPortOf, type RuntimeConfig } from '../config/runtime-config.js';
import { rootLogger, type Logger } from '../log.js';
import { startTracing, stopTracing } from '../telemetry/tracing.js';
import type { Lifecycle } from './lifecycle.js';
import { startOpsServer, type HealthSource } from './ops-server.js';
import { StageRunner, type StageDefinition } from './stage.js';

/**
 * Node flags a service process runs with (the images' entry point; benchmarks that measure memory
 * start `emo serve` the same way). They fix V8's young generation at its usual maximum, two 16 MiB
 * semi-spaces, from the start. Left to itself V8 shrinks it after start-up and grows it back under a
 * steady stream of records, which showed in the soak as RSS creeping up by ~30 MiB (+20 %) over the
 * first half hour of every service while the heap in use stayed flat: bounded, but indistinguishable
 * from a leak on a dashboard. (`--min-semi-space-size` is not allowed in NODE_OPTIONS: it goes on
 * the command line.)
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--max-semi-space-size=16'];

/** What a process runs: a stage (StageRunner) or ingest's worker, with the probes and life that the process runner drives. */
export interface Service {
  readonly lifecycle: Lifecycle;
  readonly health: HealthSource;
  /** Starts the service; while the bus is away it waits, unready. */
  start(): Promise<void>;
  /** Finishes what is in flight and releases the bus's clients (not the bus itself). */
  stop(): Promise<void>;
  /** Marks the service FAILED (/healthz 503; the process exits after the grace period). */
  fail(error: unknown): void;
}

/**
 * Runs one service as a process: tracing, bus, ops server (/metrics, /healthz, /readyz), the service,
 * and graceful shutdown on SIGTERM/SIGINT — readiness drops at once, the in-flight work finishes and
 * commits, then everything disconnects; past the grace period the process stops hard with exit code 1.
 * While the bus is away (at start-up or later) it waits, unready. A service that FAILs (a consumer
 * crashed for good, a producer was fenced) turns /healthz to 503 and the process exits with code 1
 * once the grace period has passed, so that Kubernetes restarts it.
 * Any other failure to start exits with code 1 and a clear log line.
 */
export async function runServiceProcess(
  name: string,
  config: RuntimeConfig,
  makeService: (parts: { bus: Bus; registry: Registry; logger: Logger }) => Service | Promise<Service>,
  options: {
    /** Closes what the process runs beside its service (e.g. the sink's live view), within the grace period. */
    onShutdown?: () => Promise<void>;
    /** The process's metrics registry, when metrics were registered before the service (default: a new one). */
    registry?: Registry;
  } = {},
): Promise<void> {
  const registry = options.registry ?? new Registry();
  collectDefaultMetrics({ register: registry });
  const logger = rootLogger.child({ stage: name });
  await startTracing({ serviceName: `emostream-${name}`, exporter: config.tracing.exporter, endpoint: config.tracing.endpoint });

  const bus = createBus(config);
  const service = await makeService({ bus, registry, logger });
  const ops = await startOpsServer({ port: opsPortOf(name, config), host: config.opsHost, registry, health: () => [service.health] });
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
      await service.stop();
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
  exitWhenFailed(service.lifecycle, config.shutdownGraceMs, logger, () => bus.close());
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  try {
    await service.start();
  } catch (error) {
    if (shuttingDown) return; // SIGTERM while it waited for the bus: shutdown() ends the process
    service.fail(error);
    await ops.close();
    await bus.close().catch(() => {});
    throw error;
  }
}

/** Runs one stage as a process (see runServiceProcess). A factory gets the registry, so the stage can register metrics of its own. */
export async function runStageProcess(
  stage: StageDefinition | ((registry: Registry) => StageDefinition | Promise<StageDefinition>),
  config: RuntimeConfig,
  options: { onShutdown?: () => Promise<void> } = {},
): Promise<void> {
  const registry = new Registry();
  const definition = typeof stage === 'function' ? await stage(registry) : stage;
  await runServiceProcess(definition.name, config, ({ bus, logger }) => new StageRunner(definition, { bus, config, registry, logger }), {
    ...options,
    registry,
  });
}

/**
 * A FAILED stage cannot recover in this process: /healthz says 503 at once (the liveness probe sees
 * it), the bus is closed, and the process exits with code 1 after `graceMs`.
 */
export function exitWhenFailed(lifecycle: Lifecycle, graceMs: number, logger: Logger, release: () => Promise<void>): void {
  lifecycle.onChange((state) => {
    if (state !== 'FAILED') return;
    logger.fatal({ graceMs }, 'the stage failed and cannot recover: exiting after the grace period');
    setTimeout(() => process.exit(1), graceMs);
    void release().catch((error: unknown) => logger.warn({ err: error }, 'closing after the failure failed'));
  });
}

/**
 * The `main` of a stage process: any error that escapes is logged and ends the process with code 1.
 * A configuration error is the operator's to fix, not a bug: no stack trace, each problem named by its
 * variable — one line of text on a terminal, a JSON log line with the problems as fields otherwise.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) reportConfigError(error, { terminal: Boolean(process.stderr.isTTY) });
    else rootLogger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}

/** How a process that cannot start reports its configuration error: text on stderr for a person at a terminal, JSON for a log collector. */
export function reportConfigError(error: ConfigError, { terminal }: { terminal: boolean }, logger: Logger = rootLogger): void {
  if (terminal) process.stderr.write(`emo: ${error.oneLine()}\n`);
  else logger.fatal({ code: error.code, problems: error.problems }, error.oneLine());
}
