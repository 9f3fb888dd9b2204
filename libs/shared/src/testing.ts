/**
 * Test helpers for stage handlers (`@emostream/shared/testing`): run one stage on a fresh in-memory
 * bus, feed it records, and collect what it writes. Not part of the runtime's public index.
 */
import { Registry } from 'prom-client';
import { InMemoryBus } from './bus/memory-bus.js';
import type { ConsumedRecord, OutgoingRecord } from './bus/types.js';
import { runtimeConfigSchema } from './config/runtime-config.js';
import { StageRunner, type StageDefinition } from './runtime/stage.js';

export interface StageRun {
  /** Records per topic read. */
  records: Map<string, ConsumedRecord[]>;
  registry: Registry;
}

/**
 * Starts `definition` on its own InMemoryBus under `topicPrefix`, sends `inputs`, and reads the
 * topics in `read` until `done(records)` holds (or `timeoutMs` passes), then stops everything.
 */
export async function runStageInMemory(
  definition: StageDefinition,
  options: {
    topicPrefix: string;
    inputs: (prefix: string) => OutgoingRecord[];
    read: string[];
    done: (records: Map<string, ConsumedRecord[]>) => boolean;
    registry?: Registry;
    maxBatchSize?: number;
    timeoutMs?: number;
  },
): Promise<StageRun> {
  const bus = new InMemoryBus();
  const registry = options.registry ?? new Registry();
  const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: options.topicPrefix, maxBatchSize: options.maxBatchSize ?? 64 });
  const runner = new StageRunner(definition, { bus, config, registry });
  await runner.start();
  const records = new Map<string, ConsumedRecord[]>(options.read.map((topic) => [topic, []]));
  try {
    for (const topic of options.read) {
      const reader = await bus.consumer({ groupId: `test-reader-${topic}`, topics: [topic], fromBeginning: true });
      await reader.run({ eachBatch: async (batch) => void records.get(topic)!.push(...batch.records) });
    }
    const producer = await bus.producer();
    await producer.send(options.inputs(options.topicPrefix));
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (!options.done(records)) {
      if (Date.now() > deadline) throw new Error(`stage ${definition.name}: timed out waiting for its outputs`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { records, registry };
  } finally {
    await runner.stop();
    await bus.close();
  }
}
