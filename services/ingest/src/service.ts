import { BusWatch, healthWithBus, Lifecycle, type Bus, type HealthSource, type Logger, type Service } from '@emostream/shared';
import type { Registry } from 'prom-client';
import type { IngestSettings } from './config.js';
import { warmUpFfmpeg } from './ffmpeg-frames.js';
import { IngestMetrics } from './metrics.js';
import { IngestWorker } from './worker.js';

/**
 * Ingest as a service of the shared process runner (`runServiceProcess`), like the stages: the
 * worker with its lifecycle and probes. Unready (and one warning) while the bus does not answer;
 * publishing waits it out meanwhile. A streams consumer that crashed for good fails the service.
 */
export class IngestService implements Service {
  readonly lifecycle = new Lifecycle();
  readonly health: HealthSource;
  private readonly busWatch: BusWatch;
  private readonly worker: IngestWorker;

  constructor(options: {
    bus: Bus;
    registry: Registry;
    logger: Logger;
    settings: IngestSettings;
    topicPrefix: string;
    instanceId: string | undefined;
    busUnreachableMs: number;
  }) {
    const { bus, registry, logger } = options;
    const metrics = new IngestMetrics(registry);
    this.busWatch = new BusWatch(bus, { stage: 'ingest', registry, thresholdMs: options.busUnreachableMs, logger });
    const health = healthWithBus(this.lifecycle, this.busWatch);
    health.onChange(() => metrics.ready.set(health.ready ? 1 : 0));
    this.health = health;
    this.worker = new IngestWorker({
      bus,
      topicPrefix: options.topicPrefix,
      settings: options.settings,
      metrics,
      logger,
      instanceId: options.instanceId,
      onCrash: (error) => {
        logger.error({ err: error }, 'the streams consumer crashed for good');
        this.fail(error);
      },
    });
  }

  async start(): Promise<void> {
    this.busWatch.start();
    // While the worker joins its group: the first stream assigned then starts ffmpeg straight away.
    void warmUpFfmpeg();
    await this.worker.start();
    this.lifecycle.moveTo('RUNNING');
  }

  async stop(): Promise<void> {
    this.lifecycle.moveTo('DRAINING');
    this.busWatch.stop();
    await this.worker.stop();
    this.lifecycle.moveTo('STOPPED');
  }

  fail(_error: unknown): void {
    this.lifecycle.moveTo('FAILED');
  }
}
