import type { RuntimeConfig } from '../config/runtime-config.js';
import { ConfigError } from '../errors.js';
import { KafkaBus } from './kafka-bus.js';
import { InMemoryBus } from './memory-bus.js';
import type { Bus } from './types.js';

export * from './types.js';
export { InMemoryBus, type InMemoryBusOptions } from './memory-bus.js';
export { KafkaBus } from './kafka-bus.js';
export { MAX_MESSAGE_BYTES } from './limits.js';
export { endsToRead, followTopic, hasReadTo, type FollowOptions } from './follow.js';

/** The bus the runtime config asks for. */
export function createBus(config: Pick<RuntimeConfig, 'bus' | 'kafka'>): Bus {
  if (config.bus === 'memory') return new InMemoryBus();
  if (!config.kafka) throw new ConfigError('bus is kafka but kafka.brokers is not set (env KAFKA_BROKERS)');
  return new KafkaBus(config.kafka);
}
