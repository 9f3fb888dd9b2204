import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Metric names follow `emostream_<stage>_…` (STYLE.md §8); a stage name like "relay-test" becomes relay_test. */
export function metricPrefix(stage: string): string {
  return `emostream_${stage.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics the runtime keeps for every stage. */
export class StageMetrics {
  readonly messages: Counter<'outcome'>;
  readonly outputs: Counter<'topic'>;
  readonly handleSeconds: Histogram;
  readonly batchSize: Histogram;
  readonly processLatencySeconds: Histogram;
  readonly ready: Gauge;
  readonly retries: Counter<'code'>;

  constructor(stage: string, registry: Registry) {
    const prefix = metricPrefix(stage);
    this.messages = new Counter({
      name: `${prefix}_messages_total`,
      help: `Input messages of the ${stage} stage by outcome: processed, dead_lettered (sent to the DLQ), retried (redelivered after a retriable error).`,
      labelNames: ['outcome'],
      registers: [registry],
    });
    this.outputs = new Counter({
      name: `${prefix}_outputs_total`,
      help: `Messages the ${stage} stage produced, by topic.`,
      labelNames: ['topic'],
      registers: [registry],
    });
    this.handleSeconds = new Histogram({
      name: `${prefix}_handle_seconds`,
      help: `Time the ${stage} handler spent on one batch.`,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.batchSize = new Histogram({
      name: `${prefix}_batch_size`,
      help: `Input messages per batch handled by the ${stage} stage.`,
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers: [registry],
    });
    this.processLatencySeconds = new Histogram({
      name: `${prefix}_process_latency_seconds`,
      help: `Time from an input's append to the bus to its outputs being acknowledged, in the ${stage} stage.`,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.retries = new Counter({
      name: `${prefix}_retries_total`,
      help: `Batches the ${stage} stage tried again after a retriable error, by error code (BUS_FAILED: the bus; others: the handler). A steady rate is a retry loop.`,
      labelNames: ['code'],
      registers: [registry],
    });
    this.ready = new Gauge({
      name: `${prefix}_ready`,
      help: `1 while the ${stage} stage is RUNNING and reaches its bus (what /readyz reports), else 0.`,
      registers: [registry],
    });
  }
}
