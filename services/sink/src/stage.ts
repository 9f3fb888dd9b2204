import type { StageDefinition, topics } from '@emostream/shared';
import type { Registry } from 'prom-client';
import { sinkStage } from './handler.js';
import { SinkMetrics } from './metrics.js';

/** What the sink stage is given rather than reading it from its config. */
export interface SinkStageDeps {
  /** Where its metrics go. */
  registry: Registry;
}

/**
 * The sink stage as the service and `emo run` both run it. It has no hooks for either: `emo run`
 * follows the emotions and events topics itself for its progress and reports.
 */
export function buildStage(
  config: { runtime?: { maxBatchSize: number } },
  deps: SinkStageDeps,
): StageDefinition<typeof topics.emotions.schema> {
  return sinkStage({
    metrics: new SinkMetrics(deps.registry),
    // A batch redelivered upstream repeats up to that stage's batch of one stream's frames.
    ...(config.runtime ? { historyFrames: config.runtime.maxBatchSize + 1 } : {}),
  });
}
